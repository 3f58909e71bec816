package holdfasthttp

import (
	"errors"
	"net/http"
	"net/textproto"
	"strconv"
	"time"
)

// ErrStatus is matched (with errors.Is) by the error [Outcome] gives a
// response whose status is a failure: a 5xx or a 429. The error is a
// [*StatusError] with the details.
var ErrStatus = errors.New("holdfasthttp: failure status")

// MaxRetryAfter is the longest Retry-After [ParseRetryAfter] returns: a
// server asking for more is taken to mean a day.
const MaxRetryAfter = 24 * time.Hour

// StatusError is a response whose status the policies count as a failure:
// 5xx, or 429 Too Many Requests. It matches [ErrStatus].
//
// When a 503 or 429 carried a Retry-After, the error [Outcome] returns also
// implements [holdfast.RetryAfterError] with that wait, so
// holdfast.RetryAfter finds the hint and a retry policy waits for it in place
// of its backoff; without one it offers no hint at all, and the backoff
// applies. errors.As finds the *StatusError in either case.
type StatusError struct {
	// StatusCode is the response's status code.
	StatusCode int
	// Wait is the response's Retry-After, as [ParseRetryAfter] reads it;
	// zero when it had none (or one that did not parse, or lay in the past).
	Wait time.Duration

	// resp is the response this error stands for, so that a transport can
	// tell which response a pipeline's final error is about.
	resp *http.Response
}

// Error returns "holdfasthttp: 503 Service Unavailable", with
// ", retry after 2s" when there is a Retry-After.
func (e *StatusError) Error() string {
	s := "holdfasthttp: " + strconv.Itoa(e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		s += " " + t
	}
	if e.Wait > 0 {
		s += ", retry after " + e.Wait.String()
	}
	return s
}

// Is reports whether target is [ErrStatus].
func (e *StatusError) Is(target error) bool { return target == ErrStatus }

// hintedStatusError is a StatusError that carries a Retry-After, and so
// offers it to holdfast.RetryAfter. A StatusError without one must not have
// the method at all: holdfast.RetryAfter would report a hint of zero, which a
// retry policy takes as "retry at once".
type hintedStatusError struct{ *StatusError }

// RetryAfter returns the response's Retry-After.
func (e hintedStatusError) RetryAfter() time.Duration { return e.Wait }

// Unwrap returns the *StatusError.
func (e hintedStatusError) Unwrap() error { return e.StatusError }

// IsFailureStatus reports whether a response with status code is a failure
// of the server that sent it: a 5xx, or 429 Too Many Requests.
func IsFailureStatus(code int) bool {
	return code >= 500 && code <= 599 || code == http.StatusTooManyRequests
}

// Outcome is how holdfast judges one HTTP round trip: the error the policies
// of a pipeline see for it (nil for a success). It is the one mapping of
// responses to outcomes, used by [Transport] and meant for anything else
// that runs round trips itself, such as the proxy.
//
//   - A transport error (err != nil) is a failure: Outcome returns it as it
//     is. An error that wraps context.Canceled (the caller gave up) is not
//     the server's fault, and the policies treat it so: a retry never
//     retries it, a breaker does not record it.
//   - A response whose status is a failure ([IsFailureStatus]: 5xx or 429)
//     gives a [*StatusError]; for a 503 or a 429 with a Retry-After (read by
//     [ParseRetryAfter] at now), one whose RetryAfter method returns it.
//   - Any other response is a success: nil.
//
// Outcome does not touch the response's body.
func Outcome(resp *http.Response, err error, now time.Time) error {
	if err != nil {
		return err
	}
	if resp == nil || !IsFailureStatus(resp.StatusCode) {
		return nil
	}
	e := &StatusError{StatusCode: resp.StatusCode, resp: resp}
	if resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests {
		e.Wait = ParseRetryAfter(resp.Header.Get("Retry-After"), now)
	}
	if e.Wait > 0 {
		return hintedStatusError{e}
	}
	return e
}

// ParseRetryAfter reads a Retry-After header value (RFC 9110 §10.2.3) at
// time now: either delay-seconds, one or more ASCII digits, or an HTTP-date
// (the IMF-fixdate, RFC 850 and asctime forms http.ParseTime accepts), which
// gives the time from now until it. The result is capped at [MaxRetryAfter].
// An empty, malformed or negative value, and a date not after now, give 0,
// meaning no hint.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = textproto.TrimString(v)
	if v == "" {
		return 0
	}
	if v[0] >= '0' && v[0] <= '9' {
		// delay-seconds = 1*DIGIT. strconv.ParseInt would also take a sign
		// and fail on a number too long for an int64, which is valid here
		// and means "a long time": cap it instead.
		const limit = int64(MaxRetryAfter / time.Second)
		var secs int64
		for i := 0; i < len(v); i++ {
			c := v[i]
			if c < '0' || c > '9' {
				return 0
			}
			if secs <= limit {
				secs = secs*10 + int64(c-'0')
			}
		}
		return time.Duration(min(secs, limit)) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return min(d, MaxRetryAfter)
}

// Idempotent reports whether r may be sent more than once: its method is
// GET, HEAD, OPTIONS, PUT, DELETE or TRACE (RFC 9110 §9.2.2; "" is GET in
// a client request), or it carries an Idempotency-Key header, by which the
// client promises the server can tell a repeat from a new request. Only
// such requests are retried or hedged.
func Idempotent(r *http.Request) bool {
	switch r.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	return r.Header.Get("Idempotency-Key") != ""
}
