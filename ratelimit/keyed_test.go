package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/holdfast-dev/holdfast"
)

func TestShardCount(t *testing.T) {
	tests := []struct{ maxKeys, want int }{
		{1, 1}, {127, 1}, {128, 2}, {1000, 8}, {32768, 256}, {1 << 20, 256}, {1 << 30, 256},
	}
	for _, tt := range tests {
		if got := shardCount(tt.maxKeys); got != tt.want {
			t.Errorf("shardCount(%d) = %d; want %d", tt.maxKeys, got, tt.want)
		}
		total := 0
		shards := newShards(tt.maxKeys)
		for i := range shards {
			total += shards[i].limit
		}
		if total != tt.maxKeys {
			t.Errorf("newShards(%d): limits add up to %d; want %d", tt.maxKeys, total, tt.maxKeys)
		}
	}
	if got := unsafe.Sizeof(shard{}); got != 64 {
		t.Errorf("a shard is %d bytes; want 64, one cache line", got)
	}
}

func TestKeyedKeysAreIndependent(t *testing.T) {
	k := MustNewKeyed(KeyedConfig{Config: Config{RequestsPerSecond: 1, Burst: 2}})
	steps := []struct {
		key  string
		at   time.Duration
		n    int
		want bool
	}{
		{"alice", 0, 2, true}, {"alice", 0, 1, false}, {"bob", 0, 1, true}, {"bob", 0, 1, true}, {"bob", 0, 1, false},
		{"", 0, 1, true}, {"carol", 0, 3, false}, {"carol", 0, 0, true},
		{"alice", time.Second, 1, true}, {"alice", time.Second, 1, false},
	}
	for i, s := range steps {
		if got := k.AllowN(s.key, t0.Add(s.at), s.n); got != s.want {
			t.Fatalf("step %d: AllowN(%q, t0+%v, %d) = %v; want %v", i, s.key, s.at, s.n, got, s.want)
		}
	}
	if got := k.TokensAt("alice", t0.Add(1500*time.Millisecond)); got != 0.5 {
		t.Errorf("TokensAt(alice) = %v; want 0.5", got)
	}
	if got := k.TokensAt("dave", t0); got != 2 {
		t.Errorf("TokensAt of an unknown key = %v; want a full bucket, 2", got)
	}
}

func TestKeyedSweepDropsIdleKeys(t *testing.T) {
	k := MustNewKeyed(KeyedConfig{Config: Config{RequestsPerSecond: 10, Burst: 2}, MaxKeys: 100})
	for i := range 50 {
		n := 1 + i%2 // even keys take one token, odd keys two
		if !k.AllowN(strconv.Itoa(i), t0, n) {
			t.Fatalf("key %d refused", i)
		}
	}
	steps := []struct {
		at          time.Duration
		wantDropped int
		wantKeys    int
	}{
		{99 * time.Millisecond, 0, 50},
		{100 * time.Millisecond, 25, 25}, // one-token keys are full again
		{199 * time.Millisecond, 0, 25},
		{200 * time.Millisecond, 25, 0},
	}
	for _, s := range steps {
		if got := k.SweepAt(t0.Add(s.at)); got != s.wantDropped {
			t.Errorf("SweepAt(t0+%v) = %d; want %d", s.at, got, s.wantDropped)
		}
		if got := k.Len(); got != s.wantKeys {
			t.Errorf("after SweepAt(t0+%v): Len() = %d; want %d", s.at, got, s.wantKeys)
		}
	}
	if got, want := k.Stats(), (KeyedStats{Keys: 0, Swept: 50}); got != want {
		t.Errorf("Stats() = %+v; want %+v", got, want)
	}
}

func TestKeyedSweepsItselfEveryInterval(t *testing.T) {
	k := MustNewKeyed(KeyedConfig{Config: Config{RequestsPerSecond: 10, Burst: 1}, MaxKeys: 100, SweepInterval: time.Second})
	for i := range 50 {
		k.AllowAt(strconv.Itoa(i), t0) // the first call sweeps (nothing) and schedules t0+1s
	}
	k.AllowAt("late", t0.Add(999*time.Millisecond))
	if got := k.Len(); got != 51 {
		t.Fatalf("Len() before the sweep is due = %d; want 51", got)
	}
	k.AllowAt("later", t0.Add(time.Second))
	// The 50 keys are idle since t0+100ms; "late" is not (until t0+1.099s).
	if got, want := k.Stats(), (KeyedStats{Keys: 2, Swept: 50}); got != want {
		t.Fatalf("Stats() after the due sweep = %+v; want %+v", got, want)
	}
}

func TestKeyedMaxKeys(t *testing.T) {
	// Eight keys, one shard: the displacement sample covers every key, so
	// the choice is certain.
	k := MustNewKeyed(KeyedConfig{Config: Config{RequestsPerSecond: 10, Burst: 2}, MaxKeys: 8})
	ms := time.Millisecond
	for i := range 8 {
		k.AllowAt(fmt.Sprint("k", i), t0.Add(time.Duration(i)*10*ms)) // k_i is full again at t0+100ms+10ms·i
	}
	steps := []struct {
		key        string
		at         time.Duration
		want       KeyedStats
		forgotten  string // a key whose bucket must now read full
		stillThere string // a key whose bucket must not
	}{
		// No key is idle: the one nearest to full, k0, makes room.
		{"new1", 75 * ms, KeyedStats{Keys: 8, Displaced: 1}, "k0", "k1"},
		// k1 is idle at 110ms: it makes room, which counts as a sweep.
		{"new2", 115 * ms, KeyedStats{Keys: 8, Swept: 1, Displaced: 1}, "k1", "k2"},
		// A held key makes no room.
		{"new2", 116 * ms, KeyedStats{Keys: 8, Swept: 1, Displaced: 1}, "", "k2"},
	}
	for i, s := range steps {
		now := t0.Add(s.at)
		if !k.AllowAt(s.key, now) {
			t.Fatalf("step %d: AllowAt(%q) refused", i, s.key)
		}
		if got := k.Stats(); got != s.want {
			t.Errorf("step %d: Stats() = %+v; want %+v", i, got, s.want)
		}
		if s.forgotten != "" && k.TokensAt(s.forgotten, now) != 2 {
			t.Errorf("step %d: %s still held (%v tokens); want it forgotten", i, s.forgotten, k.TokensAt(s.forgotten, now))
		}
		if k.TokensAt(s.stillThere, now) == 2 {
			t.Errorf("step %d: %s was forgotten; want it held", i, s.stillThere)
		}
	}
}

func TestKeyedSweepCompactsMaps(t *testing.T) {
	k := MustNewKeyed(KeyedConfig{Config: Config{RequestsPerSecond: 10, Burst: 1}, MaxKeys: 100})
	s := &k.shards[0]
	mapOf := func() unsafe.Pointer { return reflect.ValueOf(s.m).UnsafePointer() }
	for i := range 100 {
		k.AllowAt(strconv.Itoa(i), t0.Add(time.Duration(i)*time.Millisecond))
	}
	before := mapOf()
	// Keys 0..19 are idle at t0+119ms: 80 of 100 left, no compaction.
	if got := k.SweepAt(t0.Add(119 * time.Millisecond)); got != 20 || mapOf() != before || s.peak != 100 {
		t.Fatalf("sweep to 80 of 100: dropped %d, map replaced %v, peak %d; want 20, false, 100", got, mapOf() != before, s.peak)
	}
	// Keys up to 74 idle at t0+174ms: 25 left, a quarter of the peak.
	if got := k.SweepAt(t0.Add(174 * time.Millisecond)); got != 55 || mapOf() == before || s.peak != 25 || k.Len() != 25 {
		t.Fatalf("sweep to 25 of 100: dropped %d, map replaced %v, peak %d, len %d; want 55, true, 25, 25", got, mapOf() != before, s.peak, k.Len())
	}
	for i := 75; i < 100; i++ {
		if got := k.TokensAt(strconv.Itoa(i), t0.Add(174*time.Millisecond)); got >= 1 {
			t.Fatalf("key %d lost in compaction: %v tokens", i, got)
		}
	}
}

// TestKeyedMatchesLimiters runs random requests for a few keys through a
// Keyed limiter that sweeps often and at random, and through one Limiter per
// key: forgetting idle keys must not change a single decision.
func TestKeyedMatchesLimiters(t *testing.T) {
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 5))
		c := Config{RequestsPerSecond: []float64{1, 10, 3, 0.5}[seed%4], Burst: 1 + int(seed%3)}
		k := MustNewKeyed(KeyedConfig{Config: c, MaxKeys: 64, SweepInterval: time.Duration(1 + rng.Int64N(int64(time.Second)))})
		lims := map[string]*Limiter{}
		now := t0
		for step := range 1000 {
			now = now.Add(time.Duration(rng.Int64N(int64(2e9 / c.RequestsPerSecond))))
			key := strconv.Itoa(rng.IntN(5))
			if lims[key] == nil {
				lims[key] = MustNew(c)
			}
			if rng.IntN(10) == 0 {
				k.SweepAt(now)
			}
			n := 1 + rng.IntN(c.Burst)
			want := lims[key].AllowN(now, n)
			if got := k.AllowN(key, now, n); got != want {
				t.Fatalf("seed %d step %d: Keyed.AllowN(%q, %d) = %v; Limiter says %v", seed, step, key, n, got, want)
			}
			if got, want := k.TokensAt(key, now), lims[key].TokensAt(now); got != want {
				t.Fatalf("seed %d step %d: Keyed.TokensAt(%q) = %v; Limiter says %v", seed, step, key, got, want)
			}
		}
		if s := k.Stats(); s.Swept == 0 || s.Displaced != 0 {
			t.Fatalf("seed %d: Stats() = %+v; want some keys swept and none displaced", seed, s)
		}
	}
}

func TestKeyedExecute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		k := MustNewKeyed(KeyedConfig{Config: Config{Name: "per-user", RequestsPerSecond: 2, Burst: 1, Listener: rec}})
		ok := func(context.Context) error { return nil }
		alice, bob := WithKey(context.Background(), "alice"), WithKey(context.Background(), "bob")
		if got := KeyFrom(alice); got != "alice" {
			t.Fatalf("KeyFrom = %q; want alice", got)
		}
		if err := k.Execute(alice, ok); err != nil {
			t.Fatalf("alice's first call: %v", err)
		}
		err := k.Execute(alice, ok)
		if d, _ := holdfast.RetryAfter(err); !errors.Is(err, ErrLimited) || d != 500*time.Millisecond {
			t.Fatalf("alice's second call = %v (retry after %v); want ErrLimited after 500ms", err, d)
		}
		if err := k.Execute(bob, ok); err != nil {
			t.Fatalf("bob's first call: %v", err)
		}
		if err := k.ExecuteKey(context.Background(), "bob", ok); !errors.Is(err, ErrLimited) {
			t.Fatalf("ExecuteKey(bob) = %v; want ErrLimited", err)
		}
		want := []holdfast.Event{
			{Source: holdfast.KindRateLimit, Policy: "per-user", Kind: holdfast.EventRejected, Reason: holdfast.ReasonRateLimited, Delay: 500 * time.Millisecond},
			{Source: holdfast.KindRateLimit, Policy: "per-user", Kind: holdfast.EventRejected, Reason: holdfast.ReasonRateLimited, Delay: 500 * time.Millisecond},
		}
		if diff := cmp.Diff(want, rec.take()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}

		byHeader := MustNewKeyed(KeyedConfig{Config: Config{RequestsPerSecond: 1, Burst: 1},
			KeyFunc: func(ctx context.Context) string { return "everyone" }})
		byHeader.Execute(alice, ok)
		if err := byHeader.Execute(bob, ok); !errors.Is(err, ErrLimited) {
			t.Errorf("with a KeyFunc putting everyone under one key, bob's call = %v; want ErrLimited", err)
		}
	})
}

func TestKeyedWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := MustNewKeyed(KeyedConfig{Config: Config{RequestsPerSecond: 10, Burst: 1, MaxWait: 200 * time.Millisecond}})
		ctx := context.Background()
		start := time.Now()
		for i, want := range []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond} {
			if err := k.Wait(ctx, "a"); err != nil || time.Since(start) != want {
				t.Fatalf("Wait %d = %v at %v; want nil at %v", i, err, time.Since(start), want)
			}
		}
		// MaxWait lets Execute wait too.
		if err := k.ExecuteKey(ctx, "a", func(context.Context) error { return nil }); err != nil || time.Since(start) != 300*time.Millisecond {
			t.Fatalf("ExecuteKey = %v at %v; want nil at 300ms", err, time.Since(start))
		}
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if err := k.Wait(short, "a"); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrLimited) || time.Since(start) != 300*time.Millisecond {
			t.Fatalf("Wait past the deadline = %v at %v; want ErrLimited and DeadlineExceeded at once", err, time.Since(start))
		}
		if err := k.WaitN(ctx, "a", 2); !errors.Is(err, ErrExceedsBurst) {
			t.Fatalf("WaitN(2) with burst 1 = %v; want ErrExceedsBurst", err)
		}
		if err := k.WaitN(ctx, "a", 0); err != nil {
			t.Fatalf("WaitN(0) = %v; want nil", err)
		}

		// A cancelled wait gives its token back.
		cctx, cancelWait := context.WithCancel(ctx)
		errc := make(chan error)
		go func() { errc <- k.Wait(cctx, "a") }()
		synctest.Wait()
		now := time.Now()
		if got := k.TokensAt("a", now); got != -1 {
			t.Fatalf("TokensAt while waiting = %v; want -1", got)
		}
		cancelWait()
		if err := <-errc; err != context.Canceled {
			t.Fatalf("cancelled Wait = %v; want context.Canceled", err)
		}
		if got := k.TokensAt("a", now); got != 0 {
			t.Fatalf("TokensAt after the cancelled Wait = %v; want 0", got)
		}
		if err := k.Wait(cctx, "a"); err != context.Canceled {
			t.Fatalf("Wait(cancelled ctx) = %v; want context.Canceled", err)
		}
	})
}

// TestKeyedExactUnderContention has goroutines race for a few keys at one
// instant while another sweeps: each key grants exactly its burst.
func TestKeyedExactUnderContention(t *testing.T) {
	k := MustNewKeyed(KeyedConfig{Config: Config{RequestsPerSecond: 1, Burst: 100}, MaxKeys: 1000})
	var won [4]atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				k.SweepAt(t0)
				k.Len()
			}
		}
	})
	var workers sync.WaitGroup
	for g := range 8 {
		workers.Go(func() {
			for i := range 400 {
				key := (g + i) % len(won)
				if k.AllowAt(strconv.Itoa(key), t0) {
					won[key].Add(1)
				}
			}
		})
	}
	workers.Wait()
	close(stop)
	wg.Wait()
	for i := range won {
		if got := won[i].Load(); got != 100 {
			t.Errorf("key %d granted %d requests at one instant; want its burst, 100", i, got)
		}
	}
}

func TestKeyedTryAt(t *testing.T) {
	k := MustNewKeyed(KeyedConfig{Config: Config{RequestsPerSecond: 10, Burst: 1}})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		at       time.Duration
		key      string
		wantOK   bool
		wantWait time.Duration
	}{
		{0, "a", true, 0},
		{0, "a", false, 100 * time.Millisecond},
		{40 * time.Millisecond, "a", false, 60 * time.Millisecond},
		{40 * time.Millisecond, "b", true, 0}, // another key, another bucket
		{100 * time.Millisecond, "a", true, 0},
		{100 * time.Millisecond, "a", false, 100 * time.Millisecond},
	} {
		ok, wait := k.TryAt(tt.key, t0.Add(tt.at))
		if ok != tt.wantOK || wait != tt.wantWait {
			t.Errorf("TryAt(%q, t0+%v) = %v, %v; want %v, %v", tt.key, tt.at, ok, wait, tt.wantOK, tt.wantWait)
		}
	}
}

func TestKeyedInterval(t *testing.T) {
	for _, tt := range []struct {
		rate float64
		want time.Duration
	}{
		{1, time.Second},
		{100, 10 * time.Millisecond},
		{3, 333333334}, // rounded up, so the effective rate never exceeds 3
		{0.5, 2 * time.Second},
		{1e9, 1},
	} {
		k := MustNewKeyed(KeyedConfig{Config: Config{RequestsPerSecond: tt.rate}})
		if got := k.Interval(); got != tt.want {
			t.Errorf("rate %g: Interval() = %v; want %v", tt.rate, got, tt.want)
		}
	}
}
