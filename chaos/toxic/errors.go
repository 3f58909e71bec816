package toxic

import (
	"errors"
	"net/http"
)

// The failure modes of the chaos API. Every error returned by [Server] and by
// its HTTP handlers is an [*APIError] that matches one of these with
// errors.Is.
var (
	// ErrProxyNotFound: no proxy has the given name (HTTP 404).
	ErrProxyNotFound = errors.New("toxic: proxy not found")
	// ErrProxyExists: a proxy with that name exists already (HTTP 409).
	ErrProxyExists = errors.New("toxic: proxy already exists")
	// ErrToxicNotFound: the proxy has no toxic of that name (HTTP 404).
	ErrToxicNotFound = errors.New("toxic: toxic not found")
	// ErrToxicExists: the proxy has a toxic of that name already (HTTP 409).
	ErrToxicExists = errors.New("toxic: toxic already exists")
	// ErrInvalid: the request or one of its values is malformed (HTTP 400,
	// or 413 for a body over the limit). Its cause is a
	// [*holdfast.ConfigError] naming the key where one applies.
	ErrInvalid = errors.New("toxic: invalid request")
	// ErrUnauthorized: a mutating call lacked the bearer token (HTTP 401).
	ErrUnauthorized = errors.New("toxic: unauthorized")
	// ErrListen: a proxy could not listen on its address (HTTP 500, as
	// Toxiproxy answers).
	ErrListen = errors.New("toxic: cannot listen")
	// ErrClosed: the server was closed (HTTP 503).
	ErrClosed = errors.New("toxic: server closed")
)

// APIError is a failed chaos API call: the HTTP status it is answered with,
// the message shown to clients and the cause. It matches its sentinel (such
// as [ErrProxyNotFound]) with errors.Is and exposes the cause, such as a
// [*holdfast.ConfigError], with errors.Unwrap.
//
// Over HTTP it is written as Toxiproxy writes errors:
// {"error": Message, "status": Status}.
type APIError struct {
	Status  int    // HTTP status code
	Message string // client-facing text, such as "attributes.latency: must be >= 0, got -5"
	Err     error  // the cause, if any

	kind error // the sentinel this error matches
}

// Error returns "toxic: " followed by the message.
func (e *APIError) Error() string { return "toxic: " + e.Message }

// Unwrap returns the cause.
func (e *APIError) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's failure mode.
func (e *APIError) Is(target error) bool { return target == e.kind }

func apiErr(kind error, status int, msg string, cause error) *APIError {
	return &APIError{Status: status, Message: msg, Err: cause, kind: kind}
}

func errProxyNotFound() *APIError {
	return apiErr(ErrProxyNotFound, http.StatusNotFound, "proxy not found", nil)
}

func errProxyExists() *APIError {
	return apiErr(ErrProxyExists, http.StatusConflict, "proxy already exists", nil)
}

func errToxicNotFound() *APIError {
	return apiErr(ErrToxicNotFound, http.StatusNotFound, "toxic not found", nil)
}

func errToxicExists() *APIError {
	return apiErr(ErrToxicExists, http.StatusConflict, "toxic already exists", nil)
}

// errInvalid wraps a validation failure. A *holdfast.ConfigError cause is
// shown as "key: message" so that clients see which value was wrong.
func errInvalid(cause error) *APIError {
	return apiErr(ErrInvalid, http.StatusBadRequest, invalidMessage(cause), cause)
}
