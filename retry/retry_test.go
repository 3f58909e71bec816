package retry

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/holdfast-dev/holdfast"
)

var (
	errBoom     = errors.New("boom")
	errNotFound = errors.New("not found")
)

// recorder is a Listener that keeps events as strings.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) OnEvent(e holdfast.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e.String())
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events
}

func half() float64 { return 0.5 }

func TestExecute(t *testing.T) {
	tests := []struct {
		name        string
		cfg         Config        // Rand defaults to half, so full-jitter waits are 12.5ms, 25ms, 50ms...
		ctxTimeout  time.Duration // a deadline on the caller's context, if positive
		cancelAfter time.Duration // cancel the caller's context then, if positive
		precancel   bool          // cancel before calling Execute
		errs        []error       // what attempt i returns; the last repeats
		block       bool          // attempts wait for their context to end and return its error
		wantCalls   int
		wantElapsed time.Duration
		wantIs      []error // errors.Is targets; none means success
		wantNotIs   []error
		wantMsg     string
		wantEvents  []string
	}{
		{
			name: "first attempt succeeds", errs: []error{nil}, wantCalls: 1,
			wantEvents: []string{"retry: attempt attempt=1"},
		},
		{
			name: "succeeds on third attempt", errs: []error{errBoom, errBoom, nil},
			wantCalls: 3, wantElapsed: 37500 * time.Microsecond,
			wantEvents: []string{
				"retry: attempt attempt=1", "retry: retry attempt=1 delay=12.5ms err=boom",
				"retry: attempt attempt=2", "retry: retry attempt=2 delay=25ms err=boom",
				"retry: attempt attempt=3",
			},
		},
		{
			name: "decorrelated jitter grows from the previous wait",
			cfg:  Config{Backoff: BackoffConfig{Jitter: JitterDecorrelated}},
			errs: []error{errBoom, errBoom, nil}, wantCalls: 3, wantElapsed: 137500 * time.Microsecond,
			wantEvents: []string{
				"retry: attempt attempt=1", "retry: retry attempt=1 delay=50ms err=boom", // 25ms + 0.5 × (75ms − 25ms)
				"retry: attempt attempt=2", "retry: retry attempt=2 delay=87.5ms err=boom", // 25ms + 0.5 × (150ms − 25ms)
				"retry: attempt attempt=3",
			},
		},
		{
			name: "attempts exhausted", errs: []error{errBoom},
			wantCalls: 3, wantElapsed: 37500 * time.Microsecond,
			wantIs:    []error{ErrAttemptsExhausted, errBoom},
			wantNotIs: []error{ErrBudgetExhausted},
			wantMsg:   "retry: attempts exhausted after 3 attempts: boom",
		},
		{
			name: "custom attempts and name", cfg: Config{Name: "db", Attempts: 2, Backoff: BackoffConfig{Jitter: JitterNone}},
			errs: []error{errBoom}, wantCalls: 2, wantElapsed: 25 * ms,
			wantIs:  []error{ErrAttemptsExhausted, errBoom},
			wantMsg: "retry: attempts exhausted after 2 attempts: boom",
			wantEvents: []string{
				"db: attempt attempt=1", "db: retry attempt=1 delay=25ms err=boom", "db: attempt attempt=2",
			},
		},
		{
			name: "one attempt never retries", cfg: Config{Attempts: 1}, errs: []error{errBoom},
			wantCalls: 1, wantIs: []error{ErrAttemptsExhausted, errBoom},
			wantMsg: "retry: attempts exhausted after 1 attempt: boom",
		},
		{
			name: "permanent error returned as is", errs: []error{holdfast.Permanent(errBoom)},
			wantCalls: 1, wantIs: []error{errBoom}, wantNotIs: []error{ErrAttemptsExhausted}, wantMsg: "boom",
		},
		{
			name: "context.Canceled from the call is final", errs: []error{context.Canceled},
			wantCalls: 1, wantIs: []error{context.Canceled}, wantNotIs: []error{ErrAttemptsExhausted},
		},
		{
			name: "RetryIf rejects", cfg: Config{RetryIf: func(err error) bool { return !errors.Is(err, errNotFound) }},
			errs: []error{errBoom, errNotFound}, wantCalls: 2, wantElapsed: 12500 * time.Microsecond,
			wantIs: []error{errNotFound}, wantNotIs: []error{ErrAttemptsExhausted}, wantMsg: "not found",
		},
		{
			name: "RetryIf accepts", cfg: Config{RetryIf: func(err error) bool { return !errors.Is(err, errNotFound) }},
			errs: []error{errBoom, nil}, wantCalls: 2, wantElapsed: 12500 * time.Microsecond,
		},
		{
			name: "Retry-After hint is the wait", errs: []error{hintError(2 * time.Second), nil},
			wantCalls: 2, wantElapsed: 2 * time.Second,
			wantEvents: []string{
				"retry: attempt attempt=1", "retry: retry attempt=1 delay=2s err=busy, retry after 2s",
				"retry: attempt attempt=2",
			},
		},
		{
			name: "Retry-After hint past max_retry_after gives up", errs: []error{hintError(31 * time.Second)},
			wantCalls: 1, wantIs: []error{hintError(31 * time.Second)}, wantNotIs: []error{ErrAttemptsExhausted},
			wantEvents: []string{"retry: attempt attempt=1"},
		},
		{
			name: "raised max_retry_after", cfg: Config{MaxRetryAfter: time.Minute},
			errs: []error{hintError(31 * time.Second), nil}, wantCalls: 2, wantElapsed: 31 * time.Second,
		},
		{
			name: "exhausted error keeps the hint visible", cfg: Config{Attempts: 2},
			errs: []error{hintError(time.Second)}, wantCalls: 2, wantElapsed: time.Second,
			wantIs: []error{ErrAttemptsExhausted, hintError(time.Second)},
		},
		{
			name: "backoff past the deadline gives up at once", cfg: Config{Backoff: BackoffConfig{Jitter: JitterNone}},
			ctxTimeout: 30 * ms, errs: []error{errBoom}, wantCalls: 2, wantElapsed: 25 * ms,
			wantIs: []error{errBoom}, wantNotIs: []error{ErrAttemptsExhausted, context.DeadlineExceeded},
			wantMsg: "boom",
		},
		{
			name: "backoff ending at the deadline gives up", cfg: Config{Backoff: BackoffConfig{Jitter: JitterNone}},
			ctxTimeout: 25 * ms, errs: []error{errBoom}, wantCalls: 1, wantIs: []error{errBoom},
			wantNotIs: []error{ErrAttemptsExhausted},
		},
		{
			name: "backoff just before the deadline waits", cfg: Config{Backoff: BackoffConfig{Jitter: JitterNone}},
			ctxTimeout: 25*ms + 1, errs: []error{errBoom, nil}, wantCalls: 2, wantElapsed: 25 * ms,
		},
		{
			name: "Retry-After past the deadline gives up", ctxTimeout: time.Second,
			errs: []error{hintError(2 * time.Second)}, wantCalls: 1, wantIs: []error{hintError(2 * time.Second)},
		},
		{
			name: "deadline during an attempt stops", ctxTimeout: 50 * ms, block: true,
			wantCalls: 1, wantElapsed: 50 * ms, wantIs: []error{context.DeadlineExceeded},
			wantNotIs: []error{ErrAttemptsExhausted},
		},
		{
			name: "per-try timeout retries each attempt", cfg: Config{PerTryTimeout: 100 * ms}, block: true,
			wantCalls: 3, wantElapsed: 300*ms + 37500*time.Microsecond,
			wantIs:  []error{ErrAttemptsExhausted, context.DeadlineExceeded},
			wantMsg: "retry: attempts exhausted after 3 attempts: context deadline exceeded",
		},
		{
			name: "per-try timeout never outlives the caller's deadline", cfg: Config{PerTryTimeout: 100 * ms},
			ctxTimeout: 150 * ms, block: true, wantCalls: 2, wantElapsed: 150 * ms,
			wantIs: []error{context.DeadlineExceeded}, wantNotIs: []error{ErrAttemptsExhausted},
		},
		{
			name: "cancelled while waiting", errs: []error{hintError(time.Second)}, cancelAfter: 400 * ms,
			wantCalls: 1, wantElapsed: 400 * ms,
			wantIs:    []error{context.Canceled, hintError(time.Second)},
			wantNotIs: []error{ErrAttemptsExhausted},
			wantMsg:   "retry: context canceled while waiting to retry after attempt 1: busy, retry after 1s",
		},
		{
			name: "cancelled before the call", precancel: true, errs: []error{nil},
			wantCalls: 0, wantIs: []error{context.Canceled},
		},
		{
			name: "budget refuses", cfg: Config{Attempts: 5, BudgetConfig: &BudgetConfig{Ratio: 0.01, MinPerSecond: 0.1}},
			errs: []error{errBoom}, wantCalls: 2, wantElapsed: 12500 * time.Microsecond,
			wantIs:    []error{ErrBudgetExhausted, errBoom},
			wantNotIs: []error{ErrAttemptsExhausted},
			wantMsg:   "retry: budget exhausted after 2 attempts: boom",
			wantEvents: []string{
				"retry: attempt attempt=1", "retry: retry attempt=1 delay=12.5ms err=boom",
				"retry: attempt attempt=2", "retry: rejected attempt=2 reason=budget_exhausted err=boom",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &recorder{}
				cfg := tt.cfg
				cfg.Listener = rec
				if cfg.Rand == nil {
					cfg.Rand = half
				}
				r := MustNew(cfg)
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
				calls := 0
				fn := func(ctx context.Context) error {
					calls++
					if tt.block {
						<-ctx.Done()
						return ctx.Err()
					}
					return tt.errs[min(calls, len(tt.errs))-1]
				}
				start := time.Now()
				err := r.Execute(ctx, fn)
				elapsed := time.Since(start)

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
				if calls != tt.wantCalls {
					t.Errorf("calls = %d; want %d", calls, tt.wantCalls)
				}
				if elapsed != tt.wantElapsed {
					t.Errorf("elapsed = %s; want %s", elapsed, tt.wantElapsed)
				}
				if tt.wantEvents != nil {
					if diff := cmp.Diff(tt.wantEvents, rec.get()); diff != "" {
						t.Errorf("events (-want +got):\n%s", diff)
					}
				}
			})
		})
	}
}

func TestExhaustedErrorAs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := MustNew(Config{Attempts: 4})
		err := r.Execute(t.Context(), func(context.Context) error { return errBoom })
		var ee *ExhaustedError
		if !errors.As(err, &ee) {
			t.Fatalf("Execute() = %v; want an *ExhaustedError", err)
		}
		if ee.Attempts != 4 || ee.Last != errBoom || ee.Reason != ErrAttemptsExhausted {
			t.Errorf("ExhaustedError = %+v; want {Reason: ErrAttemptsExhausted, Attempts: 4, Last: errBoom}", *ee)
		}
		if errors.Unwrap(err) != errBoom {
			t.Errorf("errors.Unwrap(err) = %v; want errBoom", errors.Unwrap(err))
		}
	})
}

func TestGet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := MustNew(Config{})
		pages := []string{"503 page", "502 page", "200 page"}
		calls := 0
		got, err := Get(t.Context(), r, func(context.Context) (string, error) {
			calls++
			if calls < 3 {
				return pages[calls-1], errBoom
			}
			return pages[2], nil
		})
		if got != "200 page" || err != nil {
			t.Errorf("Get() = %q, %v; want %q, nil", got, err, "200 page")
		}

		calls = 0
		r = MustNew(Config{Attempts: 2})
		got, err = Get(t.Context(), r, func(context.Context) (string, error) {
			calls++
			return pages[calls-1], errBoom
		})
		if got != "502 page" || !errors.Is(err, ErrAttemptsExhausted) {
			t.Errorf("Get() = %q, %v; want the last result %q with ErrAttemptsExhausted", got, err, "502 page")
		}
	})
}

// TestSharedBudget checks that policies sharing a budget draw on one
// allowance: requests recorded by one pay for retries by the other.
func TestSharedBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := MustNewBudget(BudgetConfig{Ratio: 0.5, MinPerSecond: 0.1}) // 1 retry plus half the requests
		a := MustNew(Config{Budget: b, Attempts: 2})
		c := MustNew(Config{Budget: b, Attempts: 2})
		ok := func(context.Context) error { return nil }
		fail := func(context.Context) error { return errBoom }
		for range 4 {
			if err := a.Execute(t.Context(), ok); err != nil {
				t.Fatalf("a.Execute(ok) = %v", err)
			}
		}
		// 4 requests by a and 3 calls by c: allowance 0.5 × 7 + 1 = 4.5.
		var got []error
		for range 3 {
			got = append(got, c.Execute(t.Context(), fail))
		}
		for i, err := range got {
			if !errors.Is(err, ErrAttemptsExhausted) {
				t.Errorf("call %d = %v; want ErrAttemptsExhausted (the retry granted)", i, err)
			}
		}
		if s := b.Stats(); s.Requests != 7 || s.Retries != 3 || s.Remaining != 1 {
			t.Errorf("Stats() = %+v; want 7 requests, 3 retries, 1 remaining", s)
		}
		// Each further failing call adds 0.5 to the allowance and spends 1:
		// three more fit (retries 4, 5, 6 against 5, 5.5, 6), the fourth not.
		for i, p := range []*Retry{a, c, a} {
			if err := p.Execute(t.Context(), fail); !errors.Is(err, ErrAttemptsExhausted) {
				t.Errorf("further call %d = %v; want ErrAttemptsExhausted (the retry granted)", i, err)
			}
		}
		if err := c.Execute(t.Context(), fail); !errors.Is(err, ErrBudgetExhausted) {
			t.Errorf("call after the budget is spent = %v; want ErrBudgetExhausted", err)
		}
	})
}

// TestRetryable checks the classification Execute uses.
func TestRetryable(t *testing.T) {
	r := MustNew(Config{RetryIf: func(err error) bool { return !strings.Contains(err.Error(), "404") }})
	plain := MustNew(Config{})
	tests := []struct {
		r    *Retry
		err  error
		want bool
	}{
		{plain, nil, false},
		{plain, errBoom, true},
		{plain, context.DeadlineExceeded, true},
		{plain, context.Canceled, false},
		{plain, errors.Join(errBoom, context.Canceled), false},
		{plain, holdfast.Permanent(errBoom), false},
		{r, errors.New("status 503"), true},
		{r, errors.New("status 404"), false},
		{r, holdfast.Permanent(errors.New("status 503")), false},
	}
	for _, tt := range tests {
		if got := tt.r.Retryable(tt.err); got != tt.want {
			t.Errorf("Retryable(%v) = %v; want %v", tt.err, got, tt.want)
		}
	}
}
