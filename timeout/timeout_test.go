package timeout

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/holdfast-dev/holdfast"
)

const ms = time.Millisecond

var errBoom = errors.New("boom")

// recorder keeps a policy's events and overrun callbacks as strings.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, s)
}

func (r *recorder) OnEvent(e holdfast.Event) { r.add(e.String()) }

func (r *recorder) onOverrun(d time.Duration, err error) {
	r.add(fmt.Sprintf("OnOverrun(%s, %v)", d, err))
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events
}

// work returns a call that takes d (ignoring its context) and then returns err.
func work(d time.Duration, err error) func(context.Context) error {
	return func(context.Context) error {
		time.Sleep(d)
		return err
	}
}

// cooperative returns a call that waits for its context and returns its error.
func cooperative(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestExecute(t *testing.T) {
	const timeoutEvent = "timeout: timeout err=timeout: call did not finish within 1s"
	tests := []struct {
		name        string
		cfg         Config // Timeout defaults to 1s here
		ctxTimeout  time.Duration
		cancelAfter time.Duration
		precancel   bool
		fn          func(context.Context) error
		wantCalled  bool
		wantElapsed time.Duration
		wantIs      []error // none means success
		wantNotIs   []error
		wantMsg     string
		wantEvents  []string // after every goroutine has finished
	}{
		{
			name: "returns in time", fn: work(500*ms, nil), wantCalled: true, wantElapsed: 500 * ms,
		},
		{
			name: "error in time is returned as is", fn: work(999*ms, errBoom), wantCalled: true, wantElapsed: 999 * ms,
			wantIs: []error{errBoom}, wantNotIs: []error{ErrTimeout, context.DeadlineExceeded}, wantMsg: "boom",
		},
		{
			name: "cooperative call times out", fn: cooperative, wantCalled: true, wantElapsed: time.Second,
			wantIs:     []error{ErrTimeout, context.DeadlineExceeded},
			wantMsg:    "timeout: call did not finish within 1s",
			wantEvents: []string{timeoutEvent},
		},
		{
			name: "call that ignores its context is abandoned at the deadline", fn: work(3*time.Second, errBoom),
			wantCalled: true, wantElapsed: time.Second,
			wantIs:    []error{ErrTimeout, context.DeadlineExceeded},
			wantNotIs: []error{errBoom},
			wantEvents: []string{
				timeoutEvent,
				"timeout: overrun delay=2s err=boom",
				"OnOverrun(2s, boom)",
			},
		},
		{
			name: "overrun below the threshold is not reported", fn: work(time.Second+9*ms, nil),
			wantCalled: true, wantElapsed: time.Second, wantIs: []error{ErrTimeout},
			wantEvents: []string{timeoutEvent},
		},
		{
			name: "overrun at a lowered threshold is reported", cfg: Config{OverrunThreshold: ms},
			fn: work(time.Second+ms, nil), wantCalled: true, wantElapsed: time.Second, wantIs: []error{ErrTimeout},
			wantEvents: []string{timeoutEvent, "timeout: overrun delay=1ms", "OnOverrun(1ms, <nil>)"},
		},
		{
			name: "custom name and timeout", cfg: Config{Name: "db", Timeout: 250 * ms}, fn: cooperative,
			wantCalled: true, wantElapsed: 250 * ms, wantIs: []error{ErrTimeout},
			wantMsg:    "timeout: call did not finish within 250ms",
			wantEvents: []string{"db: timeout err=timeout: call did not finish within 250ms"},
		},
		{
			name: "caller's cancellation returns at once", cancelAfter: 300 * ms, fn: work(3*time.Second, nil),
			wantCalled: true, wantElapsed: 300 * ms,
			wantIs: []error{context.Canceled}, wantNotIs: []error{ErrTimeout, context.DeadlineExceeded},
			wantEvents: []string{"timeout: overrun delay=2.7s", "OnOverrun(2.7s, <nil>)"},
		},
		{
			name: "caller's earlier deadline is not a timeout", ctxTimeout: 500 * ms, fn: cooperative,
			wantCalled: true, wantElapsed: 500 * ms,
			wantIs: []error{context.DeadlineExceeded}, wantNotIs: []error{ErrTimeout},
		},
		{
			name: "caller's later deadline does not extend the timeout", ctxTimeout: 5 * time.Second, fn: cooperative,
			wantCalled: true, wantElapsed: time.Second, wantIs: []error{ErrTimeout},
			wantEvents: []string{timeoutEvent},
		},
		{
			name: "done context does not call", precancel: true, fn: work(0, nil),
			wantIs: []error{context.Canceled}, wantNotIs: []error{ErrTimeout},
		},
		{
			name: "Goexit is an error", fn: func(context.Context) error { runtime.Goexit(); return nil },
			wantCalled: true, wantIs: []error{errGoexit},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &recorder{}
				cfg := tt.cfg
				if cfg.Timeout == 0 {
					cfg.Timeout = time.Second
				}
				cfg.Listener, cfg.OnOverrun = rec, rec.onOverrun
				p := MustNew(cfg)
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				if tt.ctxTimeout > 0 {
					ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
					defer cancel()
				}
				if tt.cancelAfter > 0 {
					time.AfterFunc(tt.cancelAfter, cancel)
				}
				if tt.precancel {
					cancel()
				}
				var called atomic.Bool // an abandoned call sets it on its own goroutine
				start := time.Now()
				err := p.Execute(ctx, func(ctx context.Context) error {
					called.Store(true)
					return tt.fn(ctx)
				})
				elapsed := time.Since(start)
				// Let abandoned calls finish and report; synctest.Test itself
				// fails if any goroutine is left blocked.
				time.Sleep(time.Hour)
				synctest.Wait()

				if called.Load() != tt.wantCalled {
					t.Errorf("called = %v; want %v", called.Load(), tt.wantCalled)
				}
				if elapsed != tt.wantElapsed {
					t.Errorf("Execute returned after %s; want %s", elapsed, tt.wantElapsed)
				}
				if len(tt.wantIs) == 0 && err != nil {
					t.Errorf("Execute() = %v; want nil", err)
				}
				for _, target := range tt.wantIs {
					if !errors.Is(err, target) {
						t.Errorf("Execute() = %v; want errors.Is(err, %v)", err, target)
					}
				}
				for _, target := range tt.wantNotIs {
					if errors.Is(err, target) {
						t.Errorf("Execute() = %v; want !errors.Is(err, %v)", err, target)
					}
				}
				if tt.wantMsg != "" && (err == nil || err.Error() != tt.wantMsg) {
					t.Errorf("Execute() = %v; want message %q", err, tt.wantMsg)
				}
				if diff := cmp.Diff(tt.wantEvents, rec.get()); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			})
		})
	}
}

func TestCallSeesTimeoutCause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := MustNew(Config{Timeout: time.Second})
		var cause error
		var deadline time.Time
		done := make(chan struct{}) // Execute may return before the call does
		start := time.Now()
		_ = p.Execute(t.Context(), func(ctx context.Context) error {
			defer close(done)
			deadline, _ = ctx.Deadline()
			<-ctx.Done()
			cause = context.Cause(ctx)
			return ctx.Err()
		})
		<-done
		if cause != ErrTimeout {
			t.Errorf("context.Cause inside the call = %v; want ErrTimeout", cause)
		}
		if want := start.Add(time.Second); !deadline.Equal(want) {
			t.Errorf("call's deadline = %s; want start + 1s", deadline.Sub(start))
		}
	})
}

func TestTimeoutError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := MustNew(Config{Timeout: 2 * time.Second})
		err := p.Execute(t.Context(), cooperative)
		var te *TimeoutError
		if !errors.As(err, &te) {
			t.Fatalf("Execute() = %v; want a *TimeoutError", err)
		}
		if te.Limit != 2*time.Second || te.Err != context.DeadlineExceeded || !te.Timeout() {
			t.Errorf("TimeoutError = %+v, Timeout() = %v; want Limit 2s, Err DeadlineExceeded, true", *te, te.Timeout())
		}
		if errors.Unwrap(err) != context.DeadlineExceeded {
			t.Errorf("errors.Unwrap(err) = %v; want context.DeadlineExceeded", errors.Unwrap(err))
		}
	})
	if !errors.Is(ErrTimeout, context.DeadlineExceeded) {
		t.Errorf("errors.Is(ErrTimeout, context.DeadlineExceeded) = false; want true")
	}
	if got, want := ErrTimeout.Error(), "timeout: context deadline exceeded"; got != want {
		t.Errorf("ErrTimeout.Error() = %q; want %q", got, want)
	}
}

func TestPanicReachesCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := MustNew(Config{Timeout: time.Second})
		defer func() {
			if got := recover(); got != "kaboom" {
				t.Errorf("recovered %v; want the call's panic value %q", got, "kaboom")
			}
		}()
		_ = p.Execute(t.Context(), func(context.Context) error { panic("kaboom") })
		t.Errorf("Execute returned; want it to panic")
	})
}

func TestGet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := MustNew(Config{Timeout: time.Second})
		got, err := Get(t.Context(), p, func(context.Context) (string, error) {
			time.Sleep(100 * ms)
			return "item", nil
		})
		if got != "item" || err != nil {
			t.Errorf("Get() = %q, %v; want %q, nil", got, err, "item")
		}
		// An abandoned call's late result must not reach the caller (and
		// writing it must not race with Get's return, which -race checks).
		got, err = Get(t.Context(), p, func(context.Context) (string, error) {
			time.Sleep(2 * time.Second)
			return "late", nil
		})
		if got != "" || !errors.Is(err, ErrTimeout) {
			t.Errorf("Get() = %q, %v; want \"\", ErrTimeout", got, err)
		}
		time.Sleep(2 * time.Second)
	})
}

// TestConcurrentCalls runs many overlapping calls through one policy; -race
// checks the hand-off between each call and its goroutine.
func TestConcurrentCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		p := MustNew(Config{Timeout: 100 * ms, Listener: rec})
		var wg sync.WaitGroup
		errs := make([]error, 50)
		took := func(i int) time.Duration { return time.Duration(i)*5*ms + 2*ms }
		for i := range errs {
			wg.Go(func() {
				errs[i] = p.Execute(t.Context(), work(took(i), nil))
			})
		}
		wg.Wait()
		time.Sleep(time.Second)
		timeouts := 0
		for i, err := range errs {
			late := took(i) > 100*ms
			if late != errors.Is(err, ErrTimeout) || (!late && err != nil) {
				t.Errorf("call %d (%s) = %v; want ErrTimeout exactly when it takes over 100ms", i, took(i), err)
			}
			if late {
				timeouts++
			}
		}
		// Calls 20 and 21 end 2ms and 7ms after the deadline, within the 10ms
		// threshold; 22..49 overrun by 12ms..147ms.
		if got, want := len(rec.get()), timeouts+28; got != want {
			t.Errorf("%d events; want %d timeouts and 28 overruns", got, timeouts)
		}
	})
}

func TestKindAndName(t *testing.T) {
	p := MustNew(Config{})
	if p.Name() != "timeout" || p.Kind() != holdfast.KindTimeout || p.Timeout() != 15*time.Second {
		t.Errorf("Name(), Kind(), Timeout() = %q, %v, %s; want timeout, timeout, 15s", p.Name(), p.Kind(), p.Timeout())
	}
	if got := p.Config().OverrunThreshold; got != 10*ms {
		t.Errorf("Config().OverrunThreshold = %s; want 10ms", got)
	}
}

func TestDefaultTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		err := MustNew(Config{}).Execute(t.Context(), cooperative)
		if elapsed := time.Since(start); elapsed != 15*time.Second || !errors.Is(err, ErrTimeout) {
			t.Errorf("zero Config: Execute() = %v after %s; want ErrTimeout after 15s", err, elapsed)
		}
	})
}
