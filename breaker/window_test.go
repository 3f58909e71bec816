package breaker

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCountWindowConcurrent checks the ring's bookkeeping under concurrent
// writers: once they stop, the totals must equal what the slots hold.
func TestCountWindowConcurrent(t *testing.T) {
	const size, goroutines, adds = 7, 8, 5000
	w := newCountWindow(size)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range adds {
				w.add(uint32(r.IntN(4))) // every mix of failBit and slowBit
			}
		})
	}
	wg.Wait()
	var fails, slow int64
	for i := range w.slots {
		v := w.slots[i].Load()
		fails += int64(v & failBit)
		slow += int64(v & slowBit >> 1)
	}
	got := w.counts()
	want := windowCounts{calls: size, failures: fails, slow: slow}
	if got != want {
		t.Errorf("counts() = %+v; want %+v, the sums over the slots", got, want)
	}
	if w.failures.Load() != fails || w.slow.Load() != slow {
		t.Errorf("raw totals %d, %d; want %d, %d", w.failures.Load(), w.slow.Load(), fails, slow)
	}
}

func TestCountWindow(t *testing.T) {
	tests := []struct {
		name string
		adds []uint32
		want windowCounts
	}{
		{"empty", nil, windowCounts{}},
		{"filling", []uint32{0, failBit, slowBit}, windowCounts{calls: 3, failures: 1, slow: 1}},
		{"full", []uint32{failBit, failBit | slowBit, 0, 0}, windowCounts{calls: 4, failures: 2, slow: 1}},
		{"wrapped over failures", []uint32{failBit, failBit, slowBit, 0, 0, 0}, windowCounts{calls: 4, failures: 0, slow: 1}},
		{"wrapped over successes", []uint32{0, 0, 0, 0, failBit, slowBit}, windowCounts{calls: 4, failures: 1, slow: 1}},
	}
	for _, tt := range tests {
		w := newCountWindow(4)
		for _, a := range tt.adds {
			w.add(a)
		}
		if got := w.counts(); got != tt.want {
			t.Errorf("%s: counts() = %+v; want %+v", tt.name, got, tt.want)
		}
	}
}

func TestBump(t *testing.T) {
	word := func(tag, n uint32) uint64 { return uint64(tag)<<32 | uint64(n) }
	tests := []struct {
		name string
		old  uint64
		tag  uint32
		want uint64
	}{
		{"empty slot", 0, 5, word(5, 1)},
		{"empty slot, tag far ahead", 0, 0xF0000000, word(0xF0000000, 1)},
		{"same bucket", word(5, 3), 5, word(5, 4)},
		{"expired bucket", word(5, 3), 15, word(15, 1)},
		{"newer bucket already there", word(15, 3), 5, word(15, 3)},
		{"tags wrap around", word(math.MaxUint32, 3), 9, word(9, 1)},
		{"newer across the wrap", word(9, 3), math.MaxUint32, word(9, 3)},
		{"saturates", word(5, math.MaxUint32-addMargin), 5, word(5, math.MaxUint32-addMargin)},
		{"just below saturation", word(5, math.MaxUint32-addMargin-1), 5, word(5, math.MaxUint32-addMargin)},
	}
	for _, tt := range tests {
		var a atomic.Uint64
		a.Store(tt.old)
		bump(&a, tt.tag)
		if got := a.Load(); got != tt.want {
			t.Errorf("%s: bump(%#x, %d) = %#x; want %#x", tt.name, tt.old, tt.tag, got, tt.want)
		}
	}
}

func TestTimeWindow(t *testing.T) {
	const s = int64(time.Second)
	type add struct {
		at   int64
		bits uint32
	}
	tests := []struct {
		name string
		adds []add
		at   int64
		want windowCounts
	}{
		{"empty", nil, 0, windowCounts{}},
		{"one bucket", []add{{0, 0}, {s / 2, failBit}, {s - 1, slowBit}}, s - 1, windowCounts{3, 1, 1}},
		{"spread over the window", []add{{0, failBit}, {4 * s, 0}, {9 * s, failBit}}, 9 * s, windowCounts{3, 2, 0}},
		{"oldest bucket expired", []add{{0, failBit}, {4 * s, 0}, {9 * s, failBit}}, 10 * s, windowCounts{2, 1, 0}},
		{"all expired", []add{{0, failBit}, {s, 0}}, 20 * s, windowCounts{}},
		{"slot reused for a new bucket", []add{{0, failBit}, {10 * s, 0}}, 10 * s, windowCounts{1, 0, 0}},
		{"late outcome for a reused slot is dropped", []add{{10 * s, 0}, {0, failBit}}, 10 * s, windowCounts{1, 0, 0}},
		{"future outcomes not counted", []add{{0, 0}, {5 * s, failBit}}, 2 * s, windowCounts{1, 0, 0}},
		{"negative clock", []add{{-s / 2, failBit}, {s / 2, 0}}, s / 2, windowCounts{2, 1, 0}},
		{"negative clock, expired", []add{{-s / 2, failBit}}, 9*s + s/2, windowCounts{}},
		// The last bucket written is a hint (timeWindow.last): outcomes going
		// back and forth between buckets, and one a window later in the same
		// slot, must each land in their own.
		{"back and forth", []add{{5 * s, 0}, {3 * s, failBit}, {5*s + 1, 0}, {6*s - 1, failBit}, {6 * s, 0}}, 6 * s, windowCounts{5, 2, 0}},
		{"same slot a window later", []add{{5 * s, 0}, {15 * s, failBit}}, 15 * s, windowCounts{1, 1, 0}},
		{"bucket 0 before any hint", []add{{s - 1, failBit}, {0, 0}}, 0, windowCounts{2, 1, 0}},
	}
	for _, tt := range tests {
		w := newTimeWindow(10*time.Second, 10)
		for _, a := range tt.adds {
			w.add(a.at, a.bits)
		}
		if got := w.counts(tt.at); got != tt.want {
			t.Errorf("%s: counts(%v) = %+v; want %+v", tt.name, time.Duration(tt.at), got, tt.want)
		}
	}
}

// TestTimeWindowConcurrent checks that concurrent writers to one bucket,
// including the one that starts it afresh, lose no count.
func TestTimeWindowConcurrent(t *testing.T) {
	const goroutines, adds = 8, 5000
	w := newTimeWindow(time.Second, 1)
	w.add(-5*int64(time.Second), failBit) // an old bucket the writers must replace
	now := int64(time.Second) / 2
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range adds {
				bits := uint32(0)
				if (g+i)%3 == 0 {
					bits = failBit
				}
				w.add(now, bits)
			}
		})
	}
	wg.Wait()
	var fails int64
	for g := range goroutines {
		for i := range adds {
			if (g+i)%3 == 0 {
				fails++
			}
		}
	}
	want := windowCounts{calls: goroutines * adds, failures: fails}
	if got := w.counts(now); got != want {
		t.Errorf("counts() = %+v; want %+v", got, want)
	}
}

func TestFloorDiv(t *testing.T) {
	tests := []struct{ a, b, want int64 }{
		{0, 10, 0}, {9, 10, 0}, {10, 10, 1}, {-1, 10, -1}, {-10, 10, -1}, {-11, 10, -2},
		{math.MinInt64, 1000, math.MinInt64/1000 - 1},
	}
	for _, tt := range tests {
		if got := floorDiv(tt.a, tt.b); got != tt.want {
			t.Errorf("floorDiv(%d, %d) = %d; want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
