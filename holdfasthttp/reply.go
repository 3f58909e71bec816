package holdfasthttp

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// The reasons a local reply gives, in its X-Holdfast-Reason header and the
// "reason" of its JSON body: one set for the proxy, [Handler] and anything
// else that answers for holdfast. Where a policy reports the same refusal in
// its events, the reason is the root package's constant, so that an event's
// Reason and the reply it causes agree.
const (
	ReasonRateLimited  = holdfast.ReasonRateLimited  // a rate limit refused the request (429)
	ReasonBreakerOpen  = holdfast.ReasonBreakerOpen  // a circuit breaker is open (503)
	ReasonOverloaded   = holdfast.ReasonOverloaded   // a bulkhead or adaptive limit is full: load shed (503)
	ReasonQueueTimeout = holdfast.ReasonQueueTimeout // the request queued for a slot too long (503)
	ReasonSilenced     = holdfast.ReasonSilenced     // a guard has quarantined what would answer (503)

	ReasonTimeout            = "timeout"             // no answer in time (504)
	ReasonNoHealthyUpstream  = "no_healthy_upstream" // proxy: no endpoint could take the request (503)
	ReasonNoRoute            = "no_route"            // proxy: no route matches (404)
	ReasonUpstreamReset      = "upstream_reset"      // proxy: the upstream closed the connection (502)
	ReasonInvalidRequest     = "invalid_request"     // the request cannot be served as sent (400)
	ReasonBodyTooLarge       = "body_too_large"      // the request body is over the limit (413)
	ReasonTooManyHeaders     = "too_many_headers"    // proxy: more header fields than allowed (431)
	ReasonUpgradeNotAllowed  = "upgrade_not_allowed" // proxy: an upgrade the route does not allow (403)
	ReasonUpstreamError      = "upstream_error"      // proxy: the upstream failed otherwise (502)
	ReasonFault              = "fault_injected"      // proxy: a configured fault answered
	ReasonUnavailable        = "unavailable"         // a policy refused the request for a reason of its own (503)
	ReasonNoQuorum           = "no_quorum"           // proxy: a vote route's voters did not agree (502)
	ReasonInvariantViolation = "invariant_violation" // proxy: no answer passed the route's checks (502)
	ReasonQuiesced           = "quiesced"            // proxy: the route stopped answering: no correct answer anywhere (503)
	ReasonShed               = "shed"                // proxy: brownout shed a lower-priority route's request to keep room for higher ones (503)
	ReasonStoreUnavailable   = "store_unavailable"   // proxy: the durable store cannot take or answer the request (503)
	ReasonIdempotencyBusy    = "idempotency_busy"    // proxy: a request with the same Idempotency-Key is in flight (409)
	ReasonIdempotencyReuse   = "idempotency_reuse"   // proxy: the Idempotency-Key was used for a different request (422)

	// ReasonClientClosed is no reply's: it is what the proxy reports (499,
	// nginx's code, in its access log, metrics and traces) for a request
	// whose client went away before the answer, which nobody reads.
	ReasonClientClosed = "client_closed"
)

// Reasons lists every Reason constant above, [ReasonClientClosed]
// included, for creating a metric series
// per reason up front (a counter born at 0 alerts on its first increase; one
// born at 1 does not). Do not modify it.
var Reasons = []string{
	ReasonRateLimited, ReasonBreakerOpen, ReasonOverloaded, ReasonQueueTimeout, ReasonSilenced,
	ReasonTimeout, ReasonNoHealthyUpstream, ReasonNoRoute, ReasonUpstreamReset, ReasonInvalidRequest,
	ReasonBodyTooLarge, ReasonTooManyHeaders, ReasonUpgradeNotAllowed, ReasonUpstreamError, ReasonFault,
	ReasonUnavailable, ReasonNoQuorum, ReasonInvariantViolation, ReasonQuiesced, ReasonShed,
	ReasonStoreUnavailable, ReasonIdempotencyBusy, ReasonIdempotencyReuse, ReasonClientClosed,
}

// HeaderReason names the header that carries a local reply's reason.
const HeaderReason = "X-Holdfast-Reason"

// localBody is a local reply's JSON body.
type localBody struct {
	Error  string `json:"error"`
	Reason string `json:"reason"`
}

// LocalReply writes a reply that holdfast makes itself rather than relaying
// one: status, a JSON body {"error": msg, "reason": reason} ending in a
// newline, with Content-Type application/json, Cache-Control no-store, the
// [HeaderReason] header and a Content-Length. On a 429 or 503, retryAfter > 0
// adds Retry-After in whole seconds, rounded up, since RFC 9110 §10.2.3
// allows only whole seconds (and a wait rounded down would be too soon).
// Headers already set on w are kept unless LocalReply sets them.
func LocalReply(w http.ResponseWriter, status int, reason, msg string, retryAfter time.Duration) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set(HeaderReason, reason)
	h.Set("Cache-Control", "no-store")
	if retryAfter > 0 && (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) {
		h.Set("Retry-After", strconv.FormatInt(retryAfterSeconds(retryAfter), 10))
	}
	// Marshalling two strings cannot fail.
	body, _ := json.Marshal(localBody{Error: msg, Reason: reason})
	body = append(body, '\n')
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// retryAfterSeconds rounds d, which is positive, up to whole seconds.
func retryAfterSeconds(d time.Duration) int64 {
	secs := int64(d / time.Second)
	if d%time.Second != 0 {
		secs++ // not d+time.Second-1, which overflows near the largest Duration
	}
	return secs
}
