// Package holdfasthttp puts holdfast's policies on net/http: a client
// [Transport] (an http.RoundTripper) and a server [Handler] (middleware),
// with the one mapping of HTTP responses to outcomes that both use and the
// proxy shares.
//
// # Outcomes
//
// [Outcome] judges a round trip. A 5xx or 429 response is a failure, given
// to the policies as a [*StatusError] (matching [ErrStatus]) that carries
// the status and, for a 503 or 429, the Retry-After ([ParseRetryAfter]:
// delay-seconds or an HTTP-date, capped at a day); only when such a hint is
// present does the error implement holdfast.RetryAfterError, so a retry
// waits exactly as long as the server asked and otherwise backs off. A
// transport error is a failure; a request the caller cancelled is nobody's
// fault, and retries and breakers leave it alone. Any other response is a
// success.
//
// # Client
//
// [NewRoundTripper] wraps a RoundTripper, as failsafe-go's failsafehttp does:
//
//	client := &http.Client{Transport: holdfasthttp.MustNewRoundTripper(nil,
//		retry.MustNew(retry.Config{Attempts: 3}),
//		breaker.MustNew(breaker.Config{FailureRate: 0.5, MinimumRequests: 20}),
//		timeout.MustNew(timeout.Config{Timeout: 2 * time.Second}),
//	)}
//
// Every request runs through the policies; each attempt is a fresh
// req.Clone under the attempt's context. Only [Idempotent] requests (or
// those with an Idempotency-Key) are retried or hedged, and only when their
// body can be sent again: through GetBody, or read into memory up to
// [TransportConfig].MaxReplayBody (64 KiB); other requests pass the same
// policies without their retries and hedges, and are sent once. When
// retrying gives up on a failure status, the caller gets that last response,
// body unread, as plain net/http would have given it; every response it
// does not get is drained (a little) and closed. Policies run in the order
// given, the first outermost, as holdfast.New composes them; a timeout among
// them bounds the wait for response headers, and the body is read under the
// request's own context.
//
// # Server
//
// [Middleware] guards a handler, as failsafehttp.NewHandler does, with a
// rate limit (a ratelimit.Keyed, keyed by [ClientIP] or [HeaderKey]), a
// bulkhead or adaptive limit that sheds load at the door, a breaker and a
// timeout, in the order given:
//
//	h, err := holdfasthttp.Middleware(mux,
//		ratelimit.MustNewKeyed(ratelimit.KeyedConfig{Config: ratelimit.Config{RequestsPerSecond: 100, Burst: 200}}),
//		adaptive.MustNew(adaptive.Config{Min: 5, Max: 1000}),
//		timeout.MustNew(timeout.Config{Timeout: 2 * time.Second}),
//	)
//
// A refusal is answered as the proxy answers it, with [LocalReply]: a JSON
// body {"error": "...", "reason": "..."}, the reason in X-Holdfast-Reason
// (one of the Reason constants, which are the root package's where one
// exists), Cache-Control no-store, and on a 429 or 503 a Retry-After in whole
// seconds, rounded up.
package holdfasthttp
