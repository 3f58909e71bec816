package holdfastgrpc_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/bulkhead"
	"github.com/holdfast-dev/holdfast/hedge"
	"github.com/holdfast-dev/holdfast/holdfastgrpc"
	"github.com/holdfast-dev/holdfast/ratelimit"
	"github.com/holdfast-dev/holdfast/retry"
	"github.com/holdfast-dev/holdfast/timeout"
)

// fastRetry retries three times with a 1ms wait, so that only the status
// code can keep a call to one attempt.
func fastRetry() *retry.Retry {
	return retry.MustNew(retry.Config{Attempts: 3, Backoff: retry.BackoffConfig{Base: time.Millisecond, Max: time.Millisecond, Jitter: retry.JitterNone}})
}

// countingBreaker counts outcomes and never opens within a test.
func countingBreaker() *breaker.Breaker {
	return breaker.MustNew(breaker.Config{WindowSize: 1000, MinimumRequests: 1000})
}

// TestUnaryStatusOutcomes sends one call per row through a retry and a
// breaker to a server that answers the row's status once and then OK. The
// row says how many times the server is called, what the caller gets, and
// what the breaker counted.
func TestUnaryStatusOutcomes(t *testing.T) {
	const (
		answer  = "answer"  // a success to the breaker, not retried
		failure = "failure" // a failure to the breaker, not retried
		retried = "retried" // a failure to the breaker, retried
	)
	tests := []struct {
		name     string
		code     codes.Code
		pushback []string
		want     string
	}{
		{"unavailable", codes.Unavailable, nil, retried},
		{"unavailable with pushback", codes.Unavailable, []string{"1"}, retried},
		{"unavailable with negative pushback", codes.Unavailable, []string{"-1"}, failure},
		{"unavailable with malformed pushback", codes.Unavailable, []string{"1s"}, failure},
		{"unavailable with two pushbacks", codes.Unavailable, []string{"1", "2"}, failure},
		{"resource exhausted", codes.ResourceExhausted, nil, failure},
		{"resource exhausted with pushback", codes.ResourceExhausted, []string{"1"}, retried},
		{"resource exhausted with zero pushback", codes.ResourceExhausted, []string{"0"}, retried},
		{"resource exhausted with negative pushback", codes.ResourceExhausted, []string{"-5"}, failure},
		{"deadline exceeded from the server", codes.DeadlineExceeded, nil, failure},
		{"internal", codes.Internal, nil, failure},
		{"internal with pushback", codes.Internal, []string{"1"}, failure},
		{"unknown", codes.Unknown, nil, failure},
		{"data loss", codes.DataLoss, nil, failure},
		{"aborted", codes.Aborted, nil, answer},
		{"canceled from the server", codes.Canceled, nil, answer},
		{"invalid argument", codes.InvalidArgument, nil, answer},
		{"not found", codes.NotFound, nil, answer},
		{"already exists", codes.AlreadyExists, nil, answer},
		{"permission denied", codes.PermissionDenied, nil, answer},
		{"unauthenticated", codes.Unauthenticated, nil, answer},
		{"failed precondition", codes.FailedPrecondition, nil, answer},
		{"out of range", codes.OutOfRange, nil, answer},
		{"unimplemented", codes.Unimplemented, nil, answer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cb := countingBreaker()
			e := clientEnv(t, loopback, holdfastgrpc.ClientConfig{Policies: []holdfast.Policy{fastRetry(), cb}})
			e.svc.script(step{code: tt.code, pushback: tt.pushback})
			_, err := e.unary(guarded(t), "x")

			calls, code, failures, successes := 1, tt.code, int64(1), int64(0)
			switch tt.want {
			case answer:
				failures, successes = 0, 1
			case retried:
				calls, code, successes = 2, codes.OK, 1
			}
			if got := len(e.svc.seen()); got != calls {
				t.Errorf("server calls: got %d; want %d", got, calls)
			}
			if got := codeOf(err); got != code {
				t.Errorf("caller's status: got %v (%v); want %v", got, err, code)
			}
			if code != codes.OK {
				// The server's own status, as grpc-go returned it.
				if msg := status.Convert(err).Message(); msg != "scripted "+tt.code.String() {
					t.Errorf("caller's status message: got %q; want the server's", msg)
				}
				var herr *holdfastgrpc.Error
				if errors.As(err, &herr) {
					t.Errorf("caller's error is a *holdfastgrpc.Error; want grpc-go's own")
				}
			}
			c := cb.Counts()
			if c.Failures != failures || c.Successes != successes {
				t.Errorf("breaker counted %d failures and %d successes; want %d and %d", c.Failures, c.Successes, failures, successes)
			}
		})
	}
}

// TestUnaryRetryCodesConfigurable retries INTERNAL once it is listed, and
// stops retrying UNAVAILABLE once the list is empty.
func TestUnaryRetryCodesConfigurable(t *testing.T) {
	tests := []struct {
		name      string
		cfg       holdfastgrpc.ClientConfig
		code      codes.Code
		wantCalls int
	}{
		{"internal listed", holdfastgrpc.ClientConfig{RetryCodes: []codes.Code{codes.Unavailable, codes.Internal}}, codes.Internal, 2},
		{"aborted listed as a failure and retried", holdfastgrpc.ClientConfig{
			FailureCodes: append([]codes.Code{codes.Aborted}, holdfastgrpc.DefaultFailureCodes...),
			RetryCodes:   []codes.Code{codes.Aborted},
		}, codes.Aborted, 2},
		{"nothing retried", holdfastgrpc.ClientConfig{RetryCodes: []codes.Code{}}, codes.Unavailable, 1},
		{"resource exhausted always retried", holdfastgrpc.ClientConfig{
			RetryCodes:    []codes.Code{codes.Unavailable, codes.ResourceExhausted},
			PushbackCodes: []codes.Code{},
		}, codes.ResourceExhausted, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Policies = []holdfast.Policy{fastRetry()}
			e := clientEnv(t, loopback, tt.cfg)
			e.svc.script(step{code: tt.code})
			e.unary(guarded(t), "x")
			if got := len(e.svc.seen()); got != tt.wantCalls {
				t.Errorf("server calls: got %d; want %d", got, tt.wantCalls)
			}
		})
	}
}

// TestUnaryRetryExhausted returns the last answer's status, which still
// matches retry.ErrAttemptsExhausted, and a previous-attempts count on every
// attempt after the first.
func TestUnaryRetryExhausted(t *testing.T) {
	e := clientEnv(t, loopback, holdfastgrpc.ClientConfig{Policies: []holdfast.Policy{fastRetry()}})
	e.svc.script(step{code: codes.Unavailable}, step{code: codes.Unavailable}, step{code: codes.Unavailable})
	var trailer metadata.MD
	_, err := e.unary(guarded(t), "x", grpc.Trailer(&trailer))
	if got := codeOf(err); got != codes.Unavailable {
		t.Fatalf("got %v (%v); want Unavailable", got, err)
	}
	if !errors.Is(err, retry.ErrAttemptsExhausted) {
		t.Errorf("errors.Is(%v, retry.ErrAttemptsExhausted) = false; want true", err)
	}
	var herr *holdfastgrpc.Error
	if !errors.As(err, &herr) {
		t.Errorf("error %T; want a *holdfastgrpc.Error", err)
	}
	if got := trailer.Get("x-call-trailer"); len(got) != 1 || got[0] != "3" {
		t.Errorf("trailer x-call-trailer: got %q; want the last attempt's, [3]", got)
	}
	var previous []string
	for _, c := range e.svc.seen() {
		previous = append(previous, c.previous)
	}
	if got := strings.Join(previous, ","); got != ",1,2" {
		t.Errorf("grpc-previous-rpc-attempts per attempt: got %q; want %q", got, ",1,2")
	}
}

// TestUnaryRefusals checks the status, and the error it unwraps to, of
// calls the policies refuse without reaching the server.
func TestUnaryRefusals(t *testing.T) {
	tests := []struct {
		name     string
		policy   func() holdfast.Policy
		calls    int // calls made; only the last is checked
		wantCode codes.Code
		wantIs   error
	}{
		{"open breaker", func() holdfast.Policy {
			b := breaker.MustNew(breaker.Config{})
			b.ForceOpen()
			return b
		}, 1, codes.Unavailable, breaker.ErrOpen},
		{"rate limit", func() holdfast.Policy {
			return ratelimit.MustNew(ratelimit.Config{RequestsPerSecond: 0.001, Burst: 1})
		}, 2, codes.ResourceExhausted, ratelimit.ErrLimited},
		{"full bulkhead", func() holdfast.Policy {
			b := bulkhead.MustNew(bulkhead.Config{Limit: 1})
			if err := b.Acquire(context.Background()); err != nil {
				panic(err)
			}
			return b
		}, 1, codes.Unavailable, bulkhead.ErrFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := clientEnv(t, loopback, holdfastgrpc.ClientConfig{Policies: []holdfast.Policy{tt.policy()}})
			var err error
			for range tt.calls {
				_, err = e.unary(guarded(t), "x")
			}
			if got := codeOf(err); got != tt.wantCode {
				t.Errorf("got %v (%v); want %v", got, err, tt.wantCode)
			}
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false; want true", err, tt.wantIs)
			}
			if got := len(e.svc.seen()); got != tt.calls-1 {
				t.Errorf("server calls: got %d; want %d", got, tt.calls-1)
			}
		})
	}
}

// TestBreakerOpensOnServerFailuresOnly sends calls through a breaker that
// opens after three failures in a row: NOT_FOUND answers never open it,
// INTERNAL failures do, and then the server is not called.
func TestBreakerOpensOnServerFailuresOnly(t *testing.T) {
	cb := breaker.MustNew(breaker.Config{ConsecutiveFailures: 3})
	e := clientEnv(t, loopback, holdfastgrpc.ClientConfig{Policies: []holdfast.Policy{cb}})
	e.svc.script(step{code: codes.NotFound}, step{code: codes.NotFound}, step{code: codes.NotFound}, step{code: codes.NotFound},
		step{code: codes.Internal}, step{code: codes.Internal}, step{code: codes.Internal})
	for i := range 4 {
		if _, err := e.unary(guarded(t), "x"); codeOf(err) != codes.NotFound {
			t.Fatalf("call %d: got %v; want NotFound", i, err)
		}
	}
	if got := cb.State(); got != breaker.Closed {
		t.Fatalf("after four NOT_FOUND: breaker %v; want closed", got)
	}
	for range 3 {
		e.unary(guarded(t), "x")
	}
	if got := cb.State(); got != breaker.Open {
		t.Fatalf("after three INTERNAL: breaker %v; want open", got)
	}
	_, err := e.unary(guarded(t), "x")
	if codeOf(err) != codes.Unavailable || !errors.Is(err, breaker.ErrOpen) {
		t.Errorf("call to an open breaker: got %v; want Unavailable matching breaker.ErrOpen", err)
	}
	if got := len(e.svc.seen()); got != 7 {
		t.Errorf("server calls: got %d; want 7 (none once open)", got)
	}
}

// TestUnaryDeadlines runs in a synctest bubble over in-memory pipes, so
// the deadline each attempt carries to the server is exact: the caller's
// remaining time, shortened by a per-try timeout, less the time already
// spent on earlier attempts and backoff.
func TestUnaryDeadlines(t *testing.T) {
	tests := []struct {
		name      string
		deadline  time.Duration // the caller's
		perTry    time.Duration
		backoff   time.Duration
		steps     []step
		wantCode  codes.Code
		wantLeft  []time.Duration // each attempt's deadline as the server saw it
		wantEnded []bool          // whether each attempt's context ended on the server
	}{
		{
			name: "the caller's deadline", deadline: 10 * time.Second,
			wantLeft: []time.Duration{10 * time.Second},
		},
		{
			name: "a per-try timeout shortens it", deadline: 10 * time.Second, perTry: 2 * time.Second,
			wantLeft: []time.Duration{2 * time.Second},
		},
		{
			name: "time spent and backoff are subtracted", deadline: 10 * time.Second, backoff: 500 * time.Millisecond,
			steps:    []step{{code: codes.Unavailable, delay: time.Second}},
			wantLeft: []time.Duration{10 * time.Second, 8500 * time.Millisecond},
		},
		{
			name: "a per-try timeout is retried while the caller's deadline lasts", deadline: 10 * time.Second,
			perTry: 2 * time.Second, backoff: 500 * time.Millisecond,
			steps:     []step{{hang: true}, {hang: true}},
			wantLeft:  []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second},
			wantEnded: []bool{true, true, false},
		},
		{
			name: "the last attempt gets what is left", deadline: 3 * time.Second,
			perTry: 2 * time.Second, backoff: 500 * time.Millisecond,
			steps:     []step{{hang: true}, {hang: true}},
			wantCode:  codes.DeadlineExceeded,
			wantLeft:  []time.Duration{2 * time.Second, 500 * time.Millisecond},
			wantEnded: []bool{true, true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := retry.MustNew(retry.Config{
					Attempts: 3, PerTryTimeout: tt.perTry,
					Backoff: retry.BackoffConfig{Base: max(tt.backoff, time.Nanosecond), Max: max(tt.backoff, time.Nanosecond), Jitter: retry.JitterNone},
				})
				e := clientEnv(t, pipe, holdfastgrpc.ClientConfig{Policies: []holdfast.Policy{r}})
				e.svc.script(tt.steps...)
				ctx, cancel := context.WithTimeout(t.Context(), tt.deadline)
				defer cancel()
				_, err := e.unary(ctx, "x")
				if got := codeOf(err); got != tt.wantCode {
					t.Errorf("got %v (%v); want %v", got, err, tt.wantCode)
				}
				// The server hears of a cancelled attempt after the client
				// returns: let every goroutine in the bubble settle first.
				synctest.Wait()
				seen := e.svc.seen()
				if len(seen) != len(tt.wantLeft) {
					t.Fatalf("server calls: got %d; want %d", len(seen), len(tt.wantLeft))
				}
				for i, c := range seen {
					if !c.hasDeadline || c.deadline != tt.wantLeft[i] {
						t.Errorf("attempt %d: server saw deadline %v (set %v); want %v", i+1, c.deadline, c.hasDeadline, tt.wantLeft[i])
					}
					if tt.wantEnded != nil && (c.ended != nil) != tt.wantEnded[i] {
						t.Errorf("attempt %d: server context ended with %v; want ended %v", i+1, c.ended, tt.wantEnded[i])
					}
				}
			})
		})
	}
}

// TestUnaryPushbackIsWaitedFor checks that a retry waits exactly the
// server's pushback in place of its backoff, and gives up when the pushback
// exceeds MaxRetryAfter.
func TestUnaryPushbackIsWaitedFor(t *testing.T) {
	tests := []struct {
		name      string
		code      codes.Code
		pushback  string
		wantCalls int
		wantGap   time.Duration // between the two attempts
	}{
		{"unavailable", codes.Unavailable, "1500", 2, 1500 * time.Millisecond},
		{"resource exhausted", codes.ResourceExhausted, "250", 2, 250 * time.Millisecond},
		{"zero", codes.ResourceExhausted, "0", 2, 0},
		{"longer than max_retry_after", codes.Unavailable, "5001", 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := retry.MustNew(retry.Config{MaxRetryAfter: 5 * time.Second, Backoff: retry.BackoffConfig{Base: time.Second, Jitter: retry.JitterNone}})
				e := clientEnv(t, pipe, holdfastgrpc.ClientConfig{Policies: []holdfast.Policy{r}})
				e.svc.script(step{code: tt.code, pushback: []string{tt.pushback}})
				_, err := e.unary(t.Context(), "x")
				seen := e.svc.seen()
				if len(seen) != tt.wantCalls {
					t.Fatalf("server calls: got %d (%v); want %d", len(seen), err, tt.wantCalls)
				}
				if tt.wantCalls == 1 {
					if got := codeOf(err); got != tt.code {
						t.Errorf("got %v; want the server's %v", got, tt.code)
					}
					return
				}
				if err != nil {
					t.Errorf("got %v; want success", err)
				}
				if got := seen[1].at.Sub(seen[0].at); got != tt.wantGap {
					t.Errorf("second attempt came %v after the first; want %v", got, tt.wantGap)
				}
			})
		})
	}
}

// TestUnaryHedge hedges a call whose first attempt hangs: the second
// attempt's reply, header and trailer reach the caller, and the first
// attempt is cancelled.
func TestUnaryHedge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := hedge.MustNew(hedge.Config{Delay: 100 * time.Millisecond})
		e := clientEnv(t, pipe, holdfastgrpc.ClientConfig{Policies: []holdfast.Policy{h}})
		e.svc.script(step{hang: true})
		var header, trailer metadata.MD
		start := time.Now()
		resp, err := e.unary(t.Context(), "payload", grpc.Header(&header), grpc.Trailer(&trailer))
		if err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 100*time.Millisecond {
			t.Errorf("call took %v; want the hedge delay, 100ms", got)
		}
		if resp.GetUsername() != "2" || string(resp.GetPayload().GetBody()) != "payload" {
			t.Errorf("reply: got call %q with body %q; want call 2's echo of %q", resp.GetUsername(), resp.GetPayload().GetBody(), "payload")
		}
		if got := header.Get("x-call"); len(got) != 1 || got[0] != "2" {
			t.Errorf("header x-call: got %q; want [2]", got)
		}
		if got := trailer.Get("x-call-trailer"); len(got) != 1 || got[0] != "2" {
			t.Errorf("trailer x-call-trailer: got %q; want [2]", got)
		}
		synctest.Wait()
		seen := e.svc.seen()
		if len(seen) != 2 || !errors.Is(seen[0].ended, context.Canceled) {
			t.Errorf("server saw %d calls, the first ending with %v; want 2, the first cancelled", len(seen), seen[0].ended)
		}
	})
}

// TestUnaryHedgeTie hedges calls whose two attempts answer at the same
// instant: each attempt decodes into its own reply, and the caller gets one
// attempt's reply, header and trailer, all from the same attempt. Which
// attempt wins is up to the scheduler, so the test makes many calls.
func TestUnaryHedgeTie(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := hedge.MustNew(hedge.Config{Delay: 100 * time.Millisecond, BudgetPercent: 100})
		e := clientEnv(t, pipe, holdfastgrpc.ClientConfig{Policies: []holdfast.Policy{h}})
		for i := range 20 {
			e.svc.script(step{delay: 150 * time.Millisecond}, step{delay: 50 * time.Millisecond})
			var header, trailer metadata.MD
			resp, err := e.unary(t.Context(), "payload", grpc.Header(&header), grpc.Trailer(&trailer))
			if err != nil {
				t.Fatal(err)
			}
			synctest.Wait() // the loser has answered too
			winner := resp.GetUsername()
			if first, second := strconv.Itoa(2*i+1), strconv.Itoa(2*i+2); winner != first && winner != second {
				t.Fatalf("call %d: reply from server call %q; want %s or %s", i, winner, first, second)
			}
			if got := trailerValue(header, "x-call"); got != winner {
				t.Errorf("call %d: header from server call %q, reply from %q; want one attempt's", i, got, winner)
			}
			if got := trailerValue(trailer, "x-call-trailer"); got != winner {
				t.Errorf("call %d: trailer from server call %q, reply from %q; want one attempt's", i, got, winner)
			}
		}
	})
}

// TestUnaryTimeoutPolicy ends a call that hangs at the timeout, with
// DEADLINE_EXCEEDED matching timeout.ErrTimeout, and gives the server the
// timeout as its deadline.
func TestUnaryTimeoutPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		to := timeout.MustNew(timeout.Config{Timeout: time.Second})
		e := clientEnv(t, pipe, holdfastgrpc.ClientConfig{Policies: []holdfast.Policy{to}})
		e.svc.script(step{hang: true})
		start := time.Now()
		_, err := e.unary(t.Context(), "x")
		if got := time.Since(start); got != time.Second {
			t.Errorf("call took %v; want 1s", got)
		}
		if codeOf(err) != codes.DeadlineExceeded {
			t.Errorf("got %v; want DeadlineExceeded", err)
		}
		if seen := e.svc.seen(); len(seen) != 1 || seen[0].deadline != time.Second {
			t.Errorf("server saw %+v; want one call with a 1s deadline", seen)
		}
	})
}

// TestUnaryCallerCancels stops retrying when the caller gives up, and does
// not count the call against the breaker.
func TestUnaryCallerCancels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cb := countingBreaker()
		e := clientEnv(t, pipe, holdfastgrpc.ClientConfig{Policies: []holdfast.Policy{fastRetry(), cb}})
		e.svc.script(step{hang: true})
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(time.Second, cancel)
		_, err := e.unary(ctx, "x")
		if codeOf(err) != codes.Canceled {
			t.Errorf("got %v; want Canceled", err)
		}
		if got := len(e.svc.seen()); got != 1 {
			t.Errorf("server calls: got %d; want 1", got)
		}
		if c := cb.Counts(); c.Calls != 0 {
			t.Errorf("breaker counted %d calls; want none", c.Calls)
		}
	})
}

// TestNoPolicies passes calls and streams through unchanged.
func TestNoPolicies(t *testing.T) {
	e := clientEnv(t, loopback, holdfastgrpc.ClientConfig{})
	e.svc.script(step{code: codes.Unavailable}, step{code: codes.OK})
	if _, err := e.unary(guarded(t), "x"); codeOf(err) != codes.Unavailable {
		t.Errorf("unary: got %v; want the server's Unavailable", err)
	}
	got, err := e.serverStream(guarded(t), 2)
	if err != nil || strings.Join(got, ",") != "2/0,2/1" {
		t.Errorf("stream: got %q, %v; want the second call's two messages", got, err)
	}
}
