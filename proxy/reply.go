package proxy

import (
	"github.com/holdfast-dev/holdfast/holdfasthttp"
)

// Reasons carried by local replies in the x-holdfast-reason header and the
// JSON body's "reason": holdfasthttp's, one set for the proxy and the
// library's HTTP adapters.
const (
	ReasonRateLimited        = holdfasthttp.ReasonRateLimited
	ReasonBreakerOpen        = holdfasthttp.ReasonBreakerOpen
	ReasonOverloaded         = holdfasthttp.ReasonOverloaded
	ReasonTimeout            = holdfasthttp.ReasonTimeout
	ReasonNoHealthyUpstream  = holdfasthttp.ReasonNoHealthyUpstream
	ReasonNoRoute            = holdfasthttp.ReasonNoRoute
	ReasonUpstreamReset      = holdfasthttp.ReasonUpstreamReset
	ReasonInvalidRequest     = holdfasthttp.ReasonInvalidRequest
	ReasonBodyTooLarge       = holdfasthttp.ReasonBodyTooLarge
	ReasonUpstreamError      = holdfasthttp.ReasonUpstreamError
	ReasonFault              = holdfasthttp.ReasonFault
	ReasonTooManyHeaders     = holdfasthttp.ReasonTooManyHeaders
	ReasonUpgradeNotAllowed  = holdfasthttp.ReasonUpgradeNotAllowed
	ReasonNoQuorum           = holdfasthttp.ReasonNoQuorum
	ReasonInvariantViolation = holdfasthttp.ReasonInvariantViolation
	ReasonQuiesced           = holdfasthttp.ReasonQuiesced
	ReasonShed               = holdfasthttp.ReasonShed
	ReasonStoreUnavailable   = holdfasthttp.ReasonStoreUnavailable
	ReasonIdempotencyBusy    = holdfasthttp.ReasonIdempotencyBusy
	ReasonIdempotencyReuse   = holdfasthttp.ReasonIdempotencyReuse
	ReasonClientClosed       = holdfasthttp.ReasonClientClosed // no reply: the client left (499)
)

// HeaderReason names the header that carries a local reply's reason.
const HeaderReason = holdfasthttp.HeaderReason

// HeaderAttempts names the header that tells how many upstream attempts a
// proxied response took.
const HeaderAttempts = "X-Holdfast-Attempts"
