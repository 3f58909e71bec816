// Package toxic is holdfast's chaos proxy: TCP and HTTP proxies that inject
// faults ("toxics") between a client and the service it depends on, driven by
// an HTTP API compatible with Toxiproxy v2, so existing Toxiproxy clients and
// scripts work unchanged.
//
// # Model
//
// A [Server] holds named proxies. A TCP proxy listens on an address and pipes
// every accepted connection to its upstream; each connection has two streams,
// upstream (client to server) and downstream (server to client). A toxic sits
// on one stream and changes the bytes flowing through it: latency, bandwidth,
// slow_close, timeout, reset_peer, slicer, limit_data and noop behave as in
// Toxiproxy, and blackhole and partition act on whole connections. Toxics
// run in the order they were added, and adding, changing or removing one
// applies to open connections as well as new ones. A toxic's toxicity (0..1)
// is rolled once per connection.
//
// A proxy created with "protocol": "http" is a reverse proxy instead, whose
// toxics act per request: http_status answers a share of requests itself,
// http_fail_first fails the first N, and http_delay holds requests for a time
// drawn from a fixed, uniform, normal or Pareto distribution. Each can be
// limited to some requests with a match on method, path prefix and headers,
// and its toxicity is rolled per request.
//
// With no toxic on a stream, a connection is copied by one goroutine per
// direction with no channels in between; toxics run as a chain of goroutines
// joined by channels, one per [Toxic].
//
// # Example
//
//	s := toxic.MustNewServer(toxic.Config{})
//	defer s.Close()
//	p, _ := s.CreateProxy(toxic.ProxySpec{Name: "db", Listen: "127.0.0.1:0", Upstream: "127.0.0.1:5432", Enabled: true})
//	s.AddToxic("db", toxic.ToxicSpec{Type: "latency", Toxicity: 1, Attributes: []byte(`{"latency": 100}`)})
//	// connect to p.Listen: every answer now arrives 100 ms late.
//	http.ListenAndServe("127.0.0.1:8474", s) // the Toxiproxy-compatible API
//
// The API, the toxics and their attributes are documented in docs/chaos.md.
package toxic
