package gcfloor

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tt := range []struct {
		live, floor uint64
		want        int
	}{
		{4 * mib, 16 * mib, 300},   // 4 × (1 + 3) = 16
		{3.5 * mib, 16 * mib, 357}, // the goal at the floor, rounded down
		{3 * mib, 16 * mib, 400},   // the runtime's minimum, 4 MiB × 4, is the floor
		{8 * mib, 16 * mib, 100},   // twice live is the floor
		{12 * mib, 16 * mib, 100},  // over half the floor: the default
		{64 * mib, 16 * mib, 100},  // over the floor
		{1, 16 * mib, 400},         // bounded by the runtime's minimum
		{0, 16 * mib, 400},         // nothing live yet
		{0, 64 * mib, 1600},        // a higher floor
		{0, 0, DefaultPercent},     // no floor
		{0, 2 * mib, DefaultPercent},
		{5 * mib, 0, DefaultPercent},
	} {
		if got := Percent(tt.live, tt.floor); got != tt.want {
			t.Errorf("Percent(%d, %d) = %d; want %d", tt.live, tt.floor, got, tt.want)
		}
	}
}

// gcPercent reads GOGC.
func gcPercent() int {
	p := debug.SetGCPercent(DefaultPercent)
	debug.SetGCPercent(p)
	return p
}

func TestStartFollowsTheLiveHeapAndStopRestores(t *testing.T) {
	before := gcPercent()
	seen := make(chan int, 100)
	cycled = func(p int) {
		select {
		case seen <- p:
		default:
		}
	}
	defer func() { cycled = nil }()
	var live runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&live)
	const floor = 32 << 20
	if live.HeapAlloc > floor/4 {
		t.Fatalf("%d bytes live before the test; want under a quarter of its floor", live.HeapAlloc)
	}
	stop := Start(floor)
	if p := gcPercent(); p <= DefaultPercent {
		t.Fatalf("GOGC %d with the live heap at a quarter of the floor or less; want over %d", p, DefaultPercent)
	}
	// The live heap grows past the floor: after the next collection,
	// GOGC is the default again.
	keep := make([][]byte, 0, 64)
	for range 64 {
		keep = append(keep, make([]byte, floor/16))
	}
	for {
		runtime.GC()
		select {
		case p := <-seen:
			if p != DefaultPercent {
				continue // a cycle from before the growth
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no collection's cleanup ran")
		}
		break
	}
	if p := gcPercent(); p != DefaultPercent {
		t.Errorf("GOGC %d with the live heap over the floor; want %d", p, DefaultPercent)
	}
	runtime.KeepAlive(keep)
	stop()
	if p := gcPercent(); p != before {
		t.Errorf("GOGC %d after stop; want %d, as before Start", p, before)
	}
}
