// Package proxy is holdfast's HTTP data plane: it matches each request to a
// route and sends it upstream through the library's policies. It reads as
// matching plus composition: every decision (retry or not, the hedge's
// winner, the limiter's wait, the breaker's verdict, the endpoint) is the
// library's, and every byte to an endpoint goes through the upstream's one
// transport ([upstream.Transport]).
//
// # The life of a request
//
// In the order [Proxy.ServeHTTP] takes them, each step in the file named:
//
//  0. Reading (h1server.go, h1parse.go): the data plane's own HTTP/1.1
//     server reads the head strictly; a request whose framing could be read
//     two ways (Content-Length with Transfer-Encoding, Transfer-Encoding on
//     HTTP/1.0, bare LF, obs-fold) gets 400 and the connection closes.
//     h2c goes to net/http's HTTP/2 server.
//  1. Screening (checks.go, pathnorm.go). Too many header fields get 431. The path is normalized (dot segments,
//     escapes) and the route matches, and the upstream receives, that form.
//  2. Routing (router.go, route.go): the first route whose match holds;
//     none gives 404 no_route. A split picks its target by weight.
//  3. Rate limit (ratelimit.Keyed): a refusal is 429 with the limiter's wait
//     as Retry-After.
//  4. Limits and deadline (handler.go): a declared body over
//     limits.max_body_bytes is 413; the route timeout starts, bounding the
//     whole exchange (for long_lived routes and upgrades, only the wait for
//     the response head).
//  5. Fault injection, then the outbound header: hop-by-hop fields removed,
//     Expect answered by holdfast itself, X-Forwarded-* set (headers.go).
//  6. Upgrades (upgrade.go) leave here: admitted by the route's upgrades
//     list, through the breaker and concurrency limit, spliced until a side
//     closes or stream_idle_timeout passes.
//  7. The body (body.go): buffered for replay when the request may be
//     retried and is small enough, else streamed to one attempt. A body
//     that fails to read is the client's fault: 400 (or 499 when the client
//     left), never counted against the upstream.
//  8. Retry (forward.go): each failed attempt goes to retry.Retry.DecideAt,
//     the library's own decision (retry_on, attempts, Retry-After, the
//     deadline, then the budget, charged only for a retry made). Hedged
//     routes run attempts under hedge.Race, which keeps the winner's context
//     live while its body is relayed and discards every other outcome.
//  9. An attempt (forward.go, cluster.go): upstream.Upstream.Pick chooses an
//     endpoint not tried yet; the upstream's breaker and concurrency limit
//     admit it (a ticket); the transport sends it. holdfasthttp.Outcome,
//     the one mapping of responses to outcomes, feeds the breaker and
//     adaptive limit; the endpoint's latency and outcome feed outlier
//     detection and the balancer.
//  10. The answer (handler.go): a relayed response, bounded by the route
//     timeout and stream_idle_timeout (a client that stops reading cannot
//     hold the upstream), with only permitted trailers; or a local reply
//     (holdfasthttp.LocalReply: JSON, x-holdfast-reason, Retry-After) or the
//     route's fallback.
//  11. The end: a body the upstream did not take is drained for a moment (a
//     lingering close) so the client reads the answer, and [Options].OnRequest
//     hears a [RequestInfo] for metrics and the [AccessLog].
//
// [Proxy.Reload] swaps the whole routing state at once; requests in flight
// finish on the state they started with.
package proxy
