// Package upstream manages the endpoints behind one name of the holdfast
// proxy: which endpoint gets each request, and which endpoints are fit to get
// any.
//
// An [Upstream] is built from a [Config], the same struct the proxy's config
// file decodes for each entry of `upstreams:`. Four mechanisms decide where a
// request goes:
//
//   - A [Balancer] spreads requests over the usable endpoints of one priority
//     group: p2c_ewma (the default; power of two choices on peak-EWMA latency
//     times in-flight requests, after Linkerd), round_robin (nginx's smooth
//     weighted round robin), least_request (power of two choices on in-flight
//     requests per weight) or random (weighted).
//   - Active health checks (optional) GET a path on every endpoint each
//     interval and mark it unhealthy or healthy after a run of failures or
//     passes.
//   - Passive outlier detection watches real answers: a run of failures, or of
//     answers slower than a deadline, ejects the endpoint for a time that
//     grows with each ejection. It comes back on probation, where one bad
//     answer ejects it again. Ejection never takes out more than
//     max_ejection_percent of the upstream.
//   - Priority failover: traffic goes to the lowest priority group that has a
//     usable (healthy, not ejected) endpoint. When no endpoint is usable
//     anywhere, the upstream is in panic mode and spreads traffic over all
//     endpoints, since failing every request is worse than trying doubtful
//     endpoints.
//
// The proxy asks [Upstream.Pick] for an endpoint, passing a [Mask] of the
// endpoints the request already tried so that each retry goes elsewhere, and
// brackets the attempt with [Endpoint.Start] and [Endpoint.Done], which feed
// the balancer and outlier detection. Pick, Start and Done do not allocate.
// [Upstream.Transport] is the pooled HTTP transport to reach the endpoints,
// [Upstream.Status] a snapshot for the status page, and [Config].OnChange and
// [Config].Listener hooks for every health change, ejection and panic-mode
// change.
//
//	u, err := upstream.New(upstream.Config{
//		Name: "catalog",
//		Endpoints: []upstream.EndpointConfig{
//			{Address: "http://127.0.0.1:9001"},
//			{Address: "http://127.0.0.1:9002", Weight: 2},
//			{Address: "http://127.0.0.1:9003", Priority: 1},
//		},
//		HealthCheck:      &upstream.HealthCheckConfig{Path: "/healthz"},
//		OutlierDetection: upstream.OutlierConfig{Deadline: 250 * time.Millisecond},
//	})
//	if err != nil { ... }
//	defer u.Close()
//
//	var tried upstream.Mask
//	ep, err := u.Pick(tried)
//	if err != nil { ... } // only when every endpoint was tried
//	tried.Add(ep.Index())
//	ep.Start()
//	begin := time.Now()
//	resp, err := u.Transport().RoundTrip(requestTo(ep.Address()))
//	ep.Done(time.Since(begin), outcomeOf(resp, err)) // see StatusOutcome, ErrorOutcome
package upstream
