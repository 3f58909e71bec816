package bench

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/ratelimiter"
	"github.com/holdfast-dev/holdfast/ratelimit"
	"golang.org/x/time/rate"
)

// Every limiter here allows 1e9 requests a second with a burst of 1e9 (for
// failsafe-go, whose bursty limiter hands out a fixed number of permits a
// period, 1e9 a second), so that every call succeeds: the benchmarks measure
// the success path, clock read included.
const (
	ratePerSecond = 1e9
	rateBurst     = 1e9
)

type allower struct {
	name  string
	allow func() bool
}

func rateLimiters() []allower {
	hf := ratelimit.MustNew(ratelimit.Config{RequestsPerSecond: ratePerSecond, Burst: rateBurst})
	xt := rate.NewLimiter(ratePerSecond, rateBurst)
	fs := ratelimiter.NewBursty[any](ratePerSecond, time.Second)
	return []allower{
		{"holdfast", hf.Allow},
		{"x-time-rate", xt.Allow},
		{"failsafe-go", fs.TryAcquirePermit},
	}
}

// BenchmarkRateLimit compares Allow (TryAcquirePermit for failsafe-go) on
// one goroutine.
func BenchmarkRateLimit(b *testing.B) {
	for _, l := range rateLimiters() {
		b.Run(l.name, func(b *testing.B) {
			allow := l.allow
			b.ReportAllocs()
			for b.Loop() {
				if !allow() {
					b.Fatal("refused")
				}
			}
		})
	}
}

// BenchmarkRateLimitParallel is BenchmarkRateLimit with every core calling
// one shared limiter.
func BenchmarkRateLimitParallel(b *testing.B) {
	for _, l := range rateLimiters() {
		b.Run(l.name, func(b *testing.B) {
			allow := l.allow
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !allow() {
						b.Error("refused")
						return
					}
				}
			})
		})
	}
}

// BenchmarkRateLimitAt compares the decision alone, for a caller that has
// already read the clock (a proxy stamps each request on arrival):
// holdfast's AllowAt against x/time/rate's AllowN(t, 1). failsafe-go has no
// form that takes the time.
func BenchmarkRateLimitAt(b *testing.B) {
	now := time.Now()
	b.Run("holdfast", func(b *testing.B) {
		l := ratelimit.MustNew(ratelimit.Config{RequestsPerSecond: ratePerSecond, Burst: rateBurst})
		b.ReportAllocs()
		for b.Loop() {
			if !l.AllowAt(now) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("x-time-rate", func(b *testing.B) {
		l := rate.NewLimiter(ratePerSecond, rateBurst)
		b.ReportAllocs()
		for b.Loop() {
			if !l.AllowN(now, 1) {
				b.Fatal("refused")
			}
		}
	})
}

// BenchmarkKeyedLimiter1M fills a keyed limiter with a million distinct
// keys, then lets them go idle and sweeps. It reports the live heap the keys
// take (B/key and MB for all of them) and what is left after the sweep; the
// time per op is for the million calls and the sweep.
func BenchmarkKeyedLimiter1M(b *testing.B) {
	const keys = 1_000_000
	var base, filled, swept runtime.MemStats
	held := 0
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&base)
		k := ratelimit.MustNewKeyed(ratelimit.KeyedConfig{
			Config: ratelimit.Config{RequestsPerSecond: 1, Burst: 5},
			// Each of the 256 shards holds its share of MaxKeys; a little
			// headroom keeps the fullest shard from displacing keys.
			MaxKeys:       keys * 11 / 10,
			SweepInterval: time.Hour,
		})
		now := time.Now()
		buf := []byte("user-")
		for i := range keys {
			buf = strconv.AppendInt(buf[:5], int64(i), 10)
			if !k.AllowAt(string(buf), now) {
				b.Fatal("refused")
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&filled)
		held = k.Len()
		// Every bucket is full again a second later: all keys are idle.
		if n := k.SweepAt(now.Add(time.Second)); n != held {
			b.Fatalf("swept %d keys; want all %d", n, held)
		}
		runtime.GC()
		runtime.ReadMemStats(&swept)
		runtime.KeepAlive(k)
	}
	live := func(m *runtime.MemStats) float64 { return float64(int64(m.HeapAlloc) - int64(base.HeapAlloc)) }
	b.ReportMetric(float64(held), "keys")
	b.ReportMetric(live(&filled)/float64(held), "B/key")
	b.ReportMetric(live(&filled)/1e6, "MB-live-1M")
	b.ReportMetric(live(&swept)/1e6, "MB-live-swept")
}
