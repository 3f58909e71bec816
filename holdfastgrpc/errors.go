package holdfastgrpc

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/adaptive"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/bulkhead"
	"github.com/holdfast-dev/holdfast/guard"
	"github.com/holdfast-dev/holdfast/holdfasthttp"
	"github.com/holdfast-dev/holdfast/ratelimit"
	"github.com/holdfast-dev/holdfast/timeout"
)

// Error is the error a client interceptor returns when holdfast's policies,
// not one answer of the server, decided how a call ended: a breaker or a
// limiter refused it, a timeout ended it, the retries ran out. It is a gRPC
// status error, so status.Code and status.FromError read its Status, and it
// unwraps to the policies' error, so errors.Is(err, breaker.ErrOpen) and
// errors.Is(err, retry.ErrAttemptsExhausted) hold too.
//
// A call whose one attempt's answer is what the caller gets (a success, a
// NOT_FOUND, a failure that was not retried) returns grpc-go's error as it
// is, not an Error.
type Error struct {
	// Status is the call's status: the last answer of the server when the
	// retries ran out, DEADLINE_EXCEEDED for a timeout, otherwise the code
	// for the refusal (UNAVAILABLE for an open breaker, a full bulkhead or
	// an adaptive limit, RESOURCE_EXHAUSTED for a rate limit) with Err's
	// message.
	Status *status.Status
	// Err is the policies' error.
	Err error
}

// Error returns the policies' message, such as "retry: attempts exhausted
// after 3 attempts: rpc error: code = Unavailable desc = draining".
func (e *Error) Error() string { return e.Err.Error() }

// GRPCStatus returns e.Status; status.FromError and status.Code use it.
func (e *Error) GRPCStatus() *status.Status { return e.Status }

// Unwrap returns the policies' error.
func (e *Error) Unwrap() error { return e.Err }

// clientError is the error a client interceptor returns for the policies'
// error err on a call made under ctx: the call's own error when the
// policies returned it as it was, otherwise an *Error.
func clientError(ctx context.Context, err error) error {
	if ce := direct(err); ce != nil {
		return ce.err
	}
	if cerr := ctx.Err(); cerr != nil {
		// The caller's context ended, perhaps while a retry waited: that,
		// not the last attempt's answer, is how the call ended.
		return &Error{Status: status.New(status.FromContextError(cerr).Code(), err.Error()), Err: err}
	}
	var ce *callError
	if errors.As(err, &ce) && !errors.Is(err, timeout.ErrTimeout) {
		return &Error{Status: ce.st, Err: err}
	}
	code, _ := refusal(err)
	return &Error{Status: status.New(code, err.Error()), Err: err}
}

// refusal is the status code and the reason for an error of the policies
// that is not a call's answer.
func refusal(err error) (codes.Code, string) {
	var full *bulkhead.FullError
	switch {
	case errors.Is(err, context.Canceled):
		return codes.Canceled, ""
	case errors.Is(err, ratelimit.ErrLimited), errors.Is(err, ratelimit.ErrExceedsBurst):
		return codes.ResourceExhausted, holdfast.ReasonRateLimited
	case errors.Is(err, breaker.ErrOpen):
		return codes.Unavailable, holdfast.ReasonBreakerOpen
	case errors.As(err, &full):
		return codes.Unavailable, full.Reason
	case errors.Is(err, bulkhead.ErrFull), errors.Is(err, adaptive.ErrLimited):
		return codes.Unavailable, holdfast.ReasonOverloaded
	case errors.Is(err, guard.ErrSilenced):
		return codes.Unavailable, holdfast.ReasonSilenced
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded, holdfasthttp.ReasonTimeout // timeout.ErrTimeout wraps it
	}
	if st, ok := status.FromError(err); ok {
		return st.Code(), ""
	}
	return codes.Unknown, ""
}
