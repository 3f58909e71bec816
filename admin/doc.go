// Package admin is holdfast's admin server: health and readiness probes,
// Prometheus metrics, a JSON status snapshot, the running config with its
// secrets redacted, hot reload, and a live status page, all on one address
// apart from the data plane. (The per-request access log is the data
// plane's: [proxy.AccessLog].)
//
// The model: a [Metrics] is made first and handed to the proxy, as its
// event Listener (policy events: breaker transitions, rejections, queue
// waits, endpoint changes) and its OnRequest hook (one call per finished
// request); a [proxy.AccessLog] can share the hook. Once the proxy exists, [New]
// starts the [Server] on it. Gauges (breaker state, endpoint health and
// ejection, in-flight, limits) are read from [proxy.Proxy.Status] at scrape
// time, so they always describe the running config.
//
//	m := admin.NewMetrics()
//	p, err := proxy.New(cfg, proxy.Options{Listener: m, OnRequest: m.OnRequest})
//	...
//	m.Watch(p)
//	srv, err := admin.New(admin.Config{Admin: config.Admin{Listen: "127.0.0.1:9901"}, Proxy: p, Metrics: m})
//	...
//	defer srv.Close()
//
// Endpoints (docs/admin.md has the full list, and every metric):
//
//	GET  /            status page (HTML; polls /status every second)
//	GET  /healthz     200 while the process runs
//	GET  /readyz      200 when ready, 503 while draining or quiesced
//	GET  /metrics     Prometheus exposition, names start with holdfast_
//	GET  /status      JSON: readiness, routes with recent traffic, upstreams
//	GET  /status/series    JSON: each route's last 15 minutes in 10 s buckets
//	GET  /status/timeline  JSON: the last 500 breaker, endpoint, failover, fallback and reload events
//	GET  /config      running config, secrets redacted (YAML; ?format=json)
//	POST /reload      re-read the config file            (token)
//	POST /quiesce     fail /readyz, keep serving          (token)
//	POST /unquiesce   pass /readyz again                  (token)
//
// Access: the server binds loopback by default and refuses a non-loopback
// address unless a token file is set. With a token, the POST endpoints need
// "Authorization: Bearer <token>" (compared in constant time; 401 without
// it). On loopback, requests must name a loopback host, which defeats DNS
// rebinding, and POSTs from another origin's web page are refused.
package admin
