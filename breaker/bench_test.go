package breaker

import (
	"context"
	"errors"
	"testing"
	"time"
)

func ok(context.Context) error { return nil }

// benchConfigs are the closed-state success paths worth telling apart: the
// default count window needs no clock, a time window or a slow-call
// threshold needs one clock read per call.
var benchConfigs = []struct {
	name string
	cfg  Config
}{
	{"count", Config{}},
	{"count_consecutive", Config{ConsecutiveFailures: 5}},
	{"time", Config{Window: 10 * time.Second}},
	{"count_slow", Config{SlowCallDuration: time.Second}},
}

func BenchmarkExecute(b *testing.B) {
	ctx := context.Background()
	for _, bc := range benchConfigs {
		b.Run(bc.name, func(b *testing.B) {
			cb := MustNew(bc.cfg)
			b.ReportAllocs()
			for b.Loop() {
				if err := cb.Execute(ctx, ok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAllowDone(b *testing.B) {
	for _, bc := range benchConfigs {
		b.Run(bc.name, func(b *testing.B) {
			cb := MustNew(bc.cfg)
			b.ReportAllocs()
			for b.Loop() {
				p, err := cb.Allow()
				if err != nil {
					b.Fatal(err)
				}
				p.Done(nil)
			}
		})
	}
}

// BenchmarkAllowAtRecord is the proxy's path: it has the time already and
// classifies the outcome itself, so even a time window reads no clock.
func BenchmarkAllowAtRecord(b *testing.B) {
	for _, bc := range benchConfigs {
		b.Run(bc.name, func(b *testing.B) {
			cb := MustNew(bc.cfg)
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				p, err := cb.AllowAt(now)
				if err != nil {
					b.Fatal(err)
				}
				p.Record(true, time.Millisecond)
			}
		})
	}
}

func BenchmarkExecuteParallel(b *testing.B) {
	ctx := context.Background()
	for _, bc := range benchConfigs {
		b.Run(bc.name, func(b *testing.B) {
			cb := MustNew(bc.cfg)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := cb.Execute(ctx, ok); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkRejectOpen is the cost of refusing a call while open.
func BenchmarkRejectOpen(b *testing.B) {
	cb := MustNew(Config{})
	cb.ForceOpen()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := cb.Execute(ctx, ok); !errors.Is(err, ErrOpen) {
			b.Fatal(err)
		}
	}
}
