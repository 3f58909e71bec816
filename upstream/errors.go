package upstream

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrNoHealthyUpstream is returned by [Upstream.Pick] when no endpoint is left
// to choose: every endpoint of the upstream is in the exclusion mask. Match it
// with errors.Is; the detail is a [*NoHealthyUpstreamError].
var ErrNoHealthyUpstream = errors.New("upstream: no healthy upstream")

// ErrHealthCheckStatus is the cause of a failed active health check that got
// an answer with a status outside the expected ones.
var ErrHealthCheckStatus = errors.New("upstream: unexpected health check status")

// NoHealthyUpstreamError is the detail of [ErrNoHealthyUpstream].
type NoHealthyUpstreamError struct {
	Upstream  string // the upstream's name
	Endpoints int    // endpoints in the upstream
	Excluded  int    // endpoints the caller excluded
}

// Error returns a message naming the upstream.
func (e *NoHealthyUpstreamError) Error() string {
	return fmt.Sprintf("upstream: no healthy upstream: %s: all %d endpoints excluded", e.Upstream, e.Endpoints)
}

// Is reports whether target is [ErrNoHealthyUpstream].
func (e *NoHealthyUpstreamError) Is(target error) bool { return target == ErrNoHealthyUpstream }

// HealthCheckError is why an active health check of an endpoint failed: a
// transport error, a timeout, or an unexpected status (then Err is
// [ErrHealthCheckStatus] and Status holds the code).
type HealthCheckError struct {
	Endpoint string // the endpoint's address
	Status   int    // the answer's status code, or 0 when there was none
	Err      error  // the cause
}

// Error returns a message naming the endpoint and the cause.
func (e *HealthCheckError) Error() string {
	if e.Status != 0 {
		return "upstream: health check of " + e.Endpoint + ": status " + strconv.Itoa(e.Status)
	}
	return "upstream: health check of " + e.Endpoint + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *HealthCheckError) Unwrap() error { return e.Err }

// ErrResponseHeaderTooLarge is an endpoint's response head longer than
// [Config].MaxResponseHeaderBytes.
var ErrResponseHeaderTooLarge = errors.New("upstream: response header too large")

var errTransportClosed = errors.New("upstream: transport closed")

// ConnectError is a failure to open a connection to an endpoint: nothing
// was sent, so any request may be retried after it.
type ConnectError struct{ Err error }

func (e *ConnectError) Error() string { return "upstream: connect: " + e.Err.Error() }
func (e *ConnectError) Unwrap() error { return e.Err }

// ResetError is a connection that broke after the request was (maybe) sent
// and before a complete response head arrived, or a response head the
// endpoint got wrong (malformed, or too large).
type ResetError struct{ Err error }

func (e *ResetError) Error() string { return "upstream: reset: " + e.Err.Error() }
func (e *ResetError) Unwrap() error { return e.Err }

// RequestBodyError is a failure to read the body of the request being sent:
// the client's fault (a malformed or oversized body, a client that went
// away), never the endpoint's. Err is the body's read error.
type RequestBodyError struct{ Err error }

func (e *RequestBodyError) Error() string {
	return "upstream: reading the request body: " + e.Err.Error()
}
func (e *RequestBodyError) Unwrap() error { return e.Err }
