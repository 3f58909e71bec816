package proxy

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Reasons carried by local replies in the x-holdfast-reason header and the
// JSON body's "reason".
const (
	ReasonRateLimited       = "rate_limited"
	ReasonBreakerOpen       = "breaker_open"
	ReasonOverloaded        = "overloaded"
	ReasonTimeout           = "timeout"
	ReasonNoHealthyUpstream = "no_healthy_upstream"
	ReasonNoRoute           = "no_route"
	ReasonUpstreamReset     = "upstream_reset"
	ReasonInvalidRequest    = "invalid_request"
	ReasonBodyTooLarge      = "body_too_large"
	ReasonUpstreamError     = "upstream_error"
	ReasonFault             = "fault_injected"
	ReasonTooManyHeaders    = "too_many_headers"
	ReasonUpgradeNotAllowed = "upgrade_not_allowed"
)

// HeaderReason names the header that carries a local reply's reason.
const HeaderReason = "X-Holdfast-Reason"

// HeaderAttempts names the header that tells how many upstream attempts a
// proxied response took.
const HeaderAttempts = "X-Holdfast-Attempts"

type localBody struct {
	Error  string `json:"error"`
	Reason string `json:"reason"`
}

// localReply writes a reply that holdfast makes itself rather than relaying
// from an upstream. retryAfter > 0 adds Retry-After in whole seconds, rounded
// up, since RFC 9110 §10.2.3 allows only whole seconds.
func localReply(w http.ResponseWriter, status int, reason, msg string, retryAfter time.Duration) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set(HeaderReason, reason)
	h.Set("Cache-Control", "no-store")
	if retryAfter > 0 && (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) {
		secs := int64((retryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	body, _ := json.Marshal(localBody{Error: msg, Reason: reason})
	body = append(body, '\n')
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}
