// Package testkit provides controllable HTTP backends for holdfast's
// end-to-end tests, the gauntlet and `holdfast demo`.
//
// A [Backend] is a real HTTP server on loopback whose behaviour can be
// switched at any time, even while it serves: answer normally, fail with a
// status (always, N times, or a seeded percentage), answer slowly (always or
// a slow tail), hang until the client gives up, reset the TCP connection,
// close it in the middle of a body, serve with a fixed number of workers and
// a queue, refuse connections altogether, or die after a while. It counts what
// it receives (requests in total and per method, in-flight and queued
// requests, deliveries of each idempotency key) so tests can assert what
// reached it, and serves a /healthz whose answer is switched separately.
//
//	b, err := testkit.NewBackend(testkit.Config{Name: "a"})
//	if err != nil { ... }
//	defer b.Close()
//	b.FailN(2, 503)      // the next two requests get 503, then healthy again
//	resp, err := http.Get(b.URL() + "/items")
//	...
//	if b.Requests() != 3 { ... }
//
// In tests, [Start] creates a backend that fails the test on error and closes
// with it.
package testkit
