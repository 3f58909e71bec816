package breaker

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestTimeWindowRollsUnderExecute drives a time window through Execute,
// which places outcomes by the breaker's own clock, in a synctest bubble:
// 5.5s after the breaker is made, two successes, a pause, then two
// failures. The window holds four calls
// (two failures of four: open) only while the successes' bucket is still in
// it; 10s later it has rolled off, and two calls are below the minimum.
func TestTimeWindowRollsUnderExecute(t *testing.T) {
	tests := []struct {
		pause time.Duration
		want  State
	}{
		{0, Open},
		{9 * time.Second, Open}, // 14.5s: the successes' bucket, [5s, 6s), is the oldest
		{9*time.Second + 499*time.Millisecond, Open},
		{9*time.Second + 500*time.Millisecond, Closed},
		{time.Minute, Closed},
	}
	for _, tt := range tests {
		t.Run(tt.pause.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := MustNew(Config{Window: 10 * time.Second, MinimumRequests: 4, FailureRate: 0.5})
				ctx := context.Background()
				fail := func(context.Context) error { return errBoom }
				time.Sleep(5500 * time.Millisecond)
				for range 2 {
					if err := b.Execute(ctx, ok); err != nil {
						t.Fatal(err)
					}
				}
				time.Sleep(tt.pause)
				for range 2 {
					if err := b.Execute(ctx, fail); !errors.Is(err, errBoom) {
						t.Fatalf("Execute = %v; want %v", err, errBoom)
					}
				}
				if got := b.State(); got != tt.want {
					t.Errorf("after a pause of %v: State() = %v; want %v", tt.pause, got, tt.want)
				}
			})
		})
	}
}

// TestTimeWindowCoarseClock runs a time window on the shared coarse clock
// (outside a bubble): its outcomes must land in the window that explicit
// times see, so the scale of the coarse clock and of AllowAt agree.
func TestTimeWindowCoarseClock(t *testing.T) {
	b := MustNew(Config{Window: 10 * time.Second, MinimumRequests: 30, FailureRate: 0.5})
	if !b.clock.Coarse() {
		t.Fatal("breaker clock is exact outside a synctest bubble; want the coarse one")
	}
	ctx := context.Background()
	for range 20 {
		if err := b.Execute(ctx, ok); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		if err := b.Execute(ctx, func(context.Context) error { return errBoom }); !errors.Is(err, errBoom) {
			t.Fatal(err)
		}
	}
	c := b.CountsAt(time.Now())
	if c.Calls != 25 || c.Failures != 5 || c.State != Closed {
		t.Errorf("CountsAt(now) = %d calls, %d failures, %v; want 25, 5, closed", c.Calls, c.Failures, c.State)
	}
	// A window later, on explicit times, they have all rolled off.
	if c := b.CountsAt(time.Now().Add(10 * time.Second)); c.Calls != 0 {
		t.Errorf("CountsAt(now+10s).Calls = %d; want 0", c.Calls)
	}
}
