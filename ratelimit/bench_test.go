package ratelimit

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// The rate in these benchmarks is high enough that every call is allowed:
// they measure the success path.
var fast = Config{RequestsPerSecond: 1e9, Burst: 1e9}

// BenchmarkClock measures the clock reads Allow could use: time.Now reads
// the wall and the monotonic clock; time.Since on a time with a monotonic
// reading (the limiter's epoch) reads only the monotonic one.
func BenchmarkClock(b *testing.B) {
	epoch := time.Now()
	b.Run("time.Now", func(b *testing.B) {
		var sink int64
		for b.Loop() {
			sink += time.Now().UnixNano()
		}
		_ = sink
	})
	b.Run("time.Since", func(b *testing.B) {
		var sink time.Duration
		for b.Loop() {
			sink += time.Since(epoch)
		}
		_ = sink
	})
}

func BenchmarkAllow(b *testing.B) {
	l := MustNew(fast)
	b.ReportAllocs()
	for b.Loop() {
		if !l.Allow() {
			b.Fatal("refused")
		}
	}
}

// BenchmarkAllowAt is the decision alone, for a caller that has the time.
func BenchmarkAllowAt(b *testing.B) {
	l := MustNew(fast)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if !l.AllowAt(now) {
			b.Fatal("refused")
		}
	}
}

func BenchmarkAllowParallel(b *testing.B) {
	l := MustNew(fast)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !l.Allow() {
				b.Error("refused")
				return
			}
		}
	})
}

// BenchmarkAllowRefused is the refusal path of Allow, which reads the TAT
// and stops without a CAS.
func BenchmarkAllowRefused(b *testing.B) {
	l := MustNew(Config{RequestsPerSecond: 1e-3, Burst: 1})
	l.Allow()
	b.ReportAllocs()
	for b.Loop() {
		if l.Allow() {
			b.Fatal("allowed")
		}
	}
}

func BenchmarkExecute(b *testing.B) {
	l := MustNew(fast)
	ctx := context.Background()
	next := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Execute(ctx, next); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKeyedAllow spreads calls over 10,000 held keys.
func BenchmarkKeyedAllow(b *testing.B) {
	k := MustNewKeyed(KeyedConfig{Config: fast})
	keys := make([]string, 10000)
	for i := range keys {
		keys[i] = "user-" + strconv.Itoa(i)
		k.Allow(keys[i])
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if !k.Allow(keys[i%len(keys)]) {
			b.Fatal("refused")
		}
		i++
	}
}

func BenchmarkKeyedAllowParallel(b *testing.B) {
	k := MustNewKeyed(KeyedConfig{Config: fast})
	keys := make([]string, 10000)
	for i := range keys {
		keys[i] = "user-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if !k.Allow(keys[i%len(keys)]) {
				b.Error("refused")
				return
			}
			i += 7
		}
	})
}
