package holdfastgrpc

import (
	"context"
	"errors"
	"math"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/holdfast-dev/holdfast"
)

// PushbackKey is the trailer in which a server says how long a client should
// wait before trying again, in milliseconds (gRFC A6, "Pushback").
const PushbackKey = "grpc-retry-pushback-ms"

// ReasonKey is the trailer in which [UnaryServerInterceptor] and
// [StreamServerInterceptor] say why they refused a call: the key and the
// reasons (rate_limited, overloaded, queue_timeout, breaker_open, silenced,
// timeout, unavailable) of the holdfast proxy's local replies and of
// holdfasthttp.LocalReply.
const ReasonKey = "x-holdfast-reason"

// previousAttemptsKey is the metadata gRPC's own retries send on every
// attempt after the first: how many came before it (gRFC A6).
const previousAttemptsKey = "grpc-previous-rpc-attempts"

// outcome is what a status code is to the policies.
type outcome uint8

const (
	outcomeAnswer    outcome = iota // success to the policies: returned as it is
	outcomeFailure                  // counted, never retried
	outcomeRetry                    // counted and retryable
	outcomePushback                 // counted, retryable only with a pushback
	outcomeCancelled                // the attempt's own context ended it
)

// classes are the code sets of a ClientConfig or ServerConfig, resolved.
type classes struct {
	failure, retry, pushback codeBits
}

func newClasses(failure, retry, pushback []codes.Code) classes {
	f, _ := codeSet("", failure, DefaultFailureCodes)
	r, _ := codeSet("", retry, DefaultRetryCodes)
	p, _ := codeSet("", pushback, DefaultPushbackCodes)
	return classes{failure: f, retry: r, pushback: p}
}

func (c classes) of(code codes.Code) outcome {
	switch {
	case c.retry.has(code):
		return outcomeRetry
	case c.pushback.has(code):
		return outcomePushback
	case c.failure.has(code):
		return outcomeFailure
	}
	return outcomeAnswer
}

// callError is a call's failure as the policies see it: the error grpc-go
// returned, and the attempt context's error when that context ending is
// what failed the call, so that errors.Is sees context.DeadlineExceeded or
// context.Canceled through it.
type callError struct {
	err    error          // as grpc-go returned it
	st     *status.Status // err's status
	ctxErr error          // the attempt's context error, or nil
}

func (e *callError) Error() string { return e.err.Error() }

// Unwrap returns the call's error and the attempt's context error.
func (e *callError) Unwrap() []error {
	if e.ctxErr == nil {
		return []error{e.err}
	}
	return []error{e.err, e.ctxErr}
}

// GRPCStatus returns the call's status.
func (e *callError) GRPCStatus() *status.Status { return e.st }

// pushbackError is a retryable call error with the server's pushback, which
// a retry waits for in place of its backoff.
type pushbackError struct {
	*callError
	wait time.Duration
}

// RetryAfter returns the server's pushback.
func (e *pushbackError) RetryAfter() time.Duration { return e.wait }

// Unwrap returns the call error.
func (e *pushbackError) Unwrap() error { return e.callError }

// classify turns the error of one attempt, run under actx and answered with
// trailer, into the error its policies see: nil for an answer, which the
// caller still gets (the attempt stores it), or a callError, alone for a
// retryable failure, with the pushback, or marked holdfast.Permanent.
func (c classes) classify(actx context.Context, err error, trailer metadata.MD) error {
	if err == nil {
		return nil
	}
	st := status.Convert(err)
	ce := &callError{err: err, st: st}
	if ended(actx, st.Code()) {
		// The attempt ran out of its own time (a per-try timeout, a
		// timeout policy, the caller's deadline) or was cancelled (a hedge
		// that another attempt won, the caller). Not permanent: a retry
		// tries again while the caller's context lasts, as
		// retry.Config.PerTryTimeout says.
		ce.ctxErr = actx.Err()
		if ce.ctxErr == nil {
			ce.ctxErr = context.DeadlineExceeded
		}
		return ce
	}
	wait, given, valid := pushback(trailer)
	switch c.of(st.Code()) {
	case outcomeAnswer:
		return nil
	case outcomeRetry:
		switch {
		case given && !valid:
			return holdfast.Permanent(ce)
		case given:
			return &pushbackError{callError: ce, wait: wait}
		}
		return ce
	case outcomePushback:
		if given && valid {
			return &pushbackError{callError: ce, wait: wait}
		}
	}
	return holdfast.Permanent(ce)
}

// ended reports whether a call that ended with code did so because its own
// context ended: grpc-go reports that as DEADLINE_EXCEEDED or CANCELLED. A
// server that answers DEADLINE_EXCEEDED as the deadline passes is taken to
// have seen the same deadline, so a deadline that has passed counts even
// before the context notices.
func ended(actx context.Context, code codes.Code) bool {
	if code != codes.DeadlineExceeded && code != codes.Canceled {
		return false
	}
	if actx.Err() != nil {
		return true
	}
	dl, ok := actx.Deadline()
	return ok && code == codes.DeadlineExceeded && !time.Now().Before(dl)
}

// direct returns the call error err is, when the policies returned an
// attempt's error as it was, only classified; nil when they added to it
// (attempts exhausted, a timeout) or err is their own.
func direct(err error) *callError {
	switch e := err.(type) {
	case *callError:
		return e
	case *pushbackError:
		return e.callError
	}
	if ce, ok := errors.Unwrap(err).(*callError); ok && holdfast.IsPermanent(err) {
		return ce
	}
	return nil
}

// pushback reads the grpc-retry-pushback-ms trailer: wait is its value,
// given whether there is one, valid whether it may be obeyed. As in gRFC A6,
// one non-negative decimal integer of milliseconds is valid; a negative
// value, anything else, or more than one value means "do not retry". A
// value too large for a Duration is the longest Duration.
func pushback(trailer metadata.MD) (wait time.Duration, given, valid bool) {
	vs := trailer.Get(PushbackKey)
	if len(vs) == 0 {
		return 0, false, false
	}
	if len(vs) > 1 {
		return 0, true, false
	}
	ms, ok := parseMillis(vs[0])
	if !ok {
		return 0, true, false
	}
	return ms, true, true
}

// parseMillis parses a non-negative decimal count of milliseconds, digits
// only, without sign or spaces.
func parseMillis(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (math.MaxInt64-int64(c-'0'))/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + int64(c-'0')
	}
	if n > math.MaxInt64/int64(time.Millisecond) {
		return math.MaxInt64, true
	}
	return time.Duration(n) * time.Millisecond, true
}

// formatMillis formats a wait for the pushback trailer, rounded up to whole
// milliseconds so that a client never comes back early.
func formatMillis(d time.Duration) string {
	ms := d / time.Millisecond
	if d%time.Millisecond != 0 {
		ms++
	}
	return strconv.FormatInt(int64(ms), 10)
}
