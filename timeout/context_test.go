package timeout

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/holdfast-dev/holdfast"
)

type ctxKey struct{}

// TestWaitContext checks what a call sees of its context under Config.Wait,
// whichever of the context's methods it uses first: the deadline, the
// parent's values, Err and context.Cause at and after the deadline, Done,
// derived contexts and AfterFunc, and the context kept after Execute
// returned.
func TestWaitContext(t *testing.T) {
	type seen struct {
		err, cause error
	}
	tests := []struct {
		name string
		// use runs inside the call, which starts at 0 with a 1s timeout.
		use       func(t *testing.T, ctx context.Context) seen
		wantSeen  seen
		wantErr   error // Execute's, matched with errors.Is
		wantAfter seen  // the context's once Execute returned
	}{
		{"Err and Cause after the deadline, Done never asked", func(t *testing.T, ctx context.Context) seen {
			if err := ctx.Err(); err != nil {
				t.Errorf("Err() before the deadline = %v; want nil", err)
			}
			time.Sleep(time.Second)
			return seen{ctx.Err(), context.Cause(ctx)}
		}, seen{context.DeadlineExceeded, ErrTimeout}, ErrTimeout, seen{context.DeadlineExceeded, ErrTimeout}},
		{"Cause alone after the deadline", func(t *testing.T, ctx context.Context) seen {
			time.Sleep(1500 * ms)
			cause := context.Cause(ctx)
			return seen{ctx.Err(), cause}
		}, seen{context.DeadlineExceeded, ErrTimeout}, ErrTimeout, seen{context.DeadlineExceeded, ErrTimeout}},
		{"Done closes at the deadline", func(t *testing.T, ctx context.Context) seen {
			start := time.Now()
			<-ctx.Done()
			if took := time.Since(start); took != time.Second {
				t.Errorf("Done closed after %v; want 1s", took)
			}
			return seen{ctx.Err(), context.Cause(ctx)}
		}, seen{context.DeadlineExceeded, ErrTimeout}, ErrTimeout, seen{context.DeadlineExceeded, ErrTimeout}},
		{"derived context ends at the deadline with its cause", func(t *testing.T, ctx context.Context) seen {
			child, cancel := context.WithCancel(ctx)
			defer cancel()
			<-child.Done()
			return seen{child.Err(), context.Cause(child)}
		}, seen{context.DeadlineExceeded, ErrTimeout}, ErrTimeout, seen{context.DeadlineExceeded, ErrTimeout}},
		{"AfterFunc runs at the deadline", func(t *testing.T, ctx context.Context) seen {
			ran := make(chan time.Time, 1)
			start := time.Now()
			context.AfterFunc(ctx, func() { ran <- time.Now() })
			if took := (<-ran).Sub(start); took != time.Second {
				t.Errorf("AfterFunc ran after %v; want 1s", took)
			}
			return seen{ctx.Err(), context.Cause(ctx)}
		}, seen{context.DeadlineExceeded, ErrTimeout}, ErrTimeout, seen{context.DeadlineExceeded, ErrTimeout}},
		{"returns in time, never asked", func(t *testing.T, ctx context.Context) seen {
			time.Sleep(999 * ms)
			return seen{ctx.Err(), nil}
		}, seen{nil, nil}, nil, seen{context.Canceled, context.Canceled}},
		{"returns in time after Done", func(t *testing.T, ctx context.Context) seen {
			select {
			case <-ctx.Done():
				t.Error("Done closed before the deadline")
			case <-time.After(500 * ms):
			}
			return seen{ctx.Err(), context.Cause(ctx)}
		}, seen{nil, nil}, nil, seen{context.Canceled, context.Canceled}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				to := MustNew(Config{Timeout: time.Second, Wait: true})
				parent := context.WithValue(context.Background(), ctxKey{}, "v")
				start := time.Now()
				var kept context.Context
				var got seen
				err := to.Execute(parent, func(ctx context.Context) error {
					kept = ctx
					if d, ok := ctx.Deadline(); !ok || d != start.Add(time.Second) {
						t.Errorf("Deadline() = %v, %v; want %v, true", d, ok, start.Add(time.Second))
					}
					if v := ctx.Value(ctxKey{}); v != "v" {
						t.Errorf("Value(key) = %v; want the parent's v", v)
					}
					got = tt.use(t, ctx)
					return got.err
				})
				if got != tt.wantSeen {
					t.Errorf("in the call: Err, Cause = %v, %v; want %v, %v", got.err, got.cause, tt.wantSeen.err, tt.wantSeen.cause)
				}
				if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("Execute = %v; want %v", err, tt.wantErr)
				}
				after := seen{kept.Err(), context.Cause(kept)}
				if after != tt.wantAfter {
					t.Errorf("after Execute: Err, Cause = %v, %v; want %v, %v", after.err, after.cause, tt.wantAfter.err, tt.wantAfter.cause)
				}
				select {
				case <-kept.Done():
				default:
					t.Error("after Execute: Done not closed")
				}
			})
		})
	}
}

// TestWaitContextParent checks that the parent's earlier deadline and its
// cancellation come through, and are not this policy's timeout.
func TestWaitContextParent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		to := MustNew(Config{Timeout: time.Second, Wait: true})
		pctx, cancel := context.WithTimeout(context.Background(), 300*ms)
		defer cancel()
		want, _ := pctx.Deadline()
		err := to.Execute(pctx, func(ctx context.Context) error {
			if d, _ := ctx.Deadline(); d != want {
				t.Errorf("Deadline() = %v; want the parent's %v", d, want)
			}
			time.Sleep(500 * ms)
			return ctx.Err()
		})
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout) {
			t.Errorf("Execute = %v; want the parent's context.DeadlineExceeded, not ErrTimeout", err)
		}

		pctx, cancel = context.WithCancel(context.Background())
		err = to.Execute(pctx, func(ctx context.Context) error {
			cancel()
			return ctx.Err()
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Execute after the parent was cancelled = %v; want context.Canceled", err)
		}
	})
}

// TestWaitAllocs checks that a Wait-mode call that does not watch its
// context costs one allocation (its context) and no timer: a
// context.WithDeadline alone costs three.
func TestWaitAllocs(t *testing.T) {
	to := MustNew(Config{Timeout: time.Second, Wait: true})
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	if got := testing.AllocsPerRun(100, func() { _ = to.Execute(ctx, fn) }); got != 1 {
		t.Errorf("allocations per Execute = %v; want 1", got)
	}
}

// TestWaitContextEndsOnPanic checks that a call that panics under
// Config.Wait still has its context ended: the panic reaches the caller,
// and a context the call kept is done.
func TestWaitContextEndsOnPanic(t *testing.T) {
	to := MustNew(Config{Timeout: time.Hour, Wait: true})
	var kept context.Context
	func() {
		defer func() {
			if r := recover(); r != "kaboom" {
				t.Errorf("recovered %v; want kaboom", r)
			}
		}()
		_ = to.Execute(context.Background(), func(ctx context.Context) error {
			kept = ctx
			panic("kaboom")
		})
	}()
	if err := kept.Err(); err != context.Canceled {
		t.Errorf("kept context's Err() after a panic = %v; want context.Canceled", err)
	}
}

// TestWaitOverrunCoarseClock runs a Wait-mode call that ignores its context
// outside a synctest bubble, where the overrun is judged by the shared
// coarse clock: the call spins until that clock itself has passed the
// deadline, so Execute must see a timeout, with no wall-clock tolerance.
func TestWaitOverrunCoarseClock(t *testing.T) {
	to := MustNew(Config{Timeout: time.Millisecond, Wait: true})
	if !to.clock.Coarse() {
		t.Fatal("timeout clock is exact outside a synctest bubble; want the coarse one")
	}
	c := holdfast.NewCoarseClock()
	err := to.Execute(context.Background(), func(context.Context) error {
		start := time.Since(c.Base())
		for c.Since() < start+2*time.Millisecond {
		}
		return nil
	})
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("Execute of a call 2ms past a 1ms deadline = %v; want ErrTimeout", err)
	}
	if err := to.Execute(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Errorf("Execute of a fast call = %v; want nil", err)
	}
}
