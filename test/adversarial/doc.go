// Package adversarial attacks the real holdfast binary the way a hostile
// client, a hostile upstream or a hostile config file would: raw-socket
// clients that write exact bytes, raw backends on loopback that record every
// byte they receive and answer with scripted bytes, and config files built to
// exhaust the loader. Each test asserts what a user would see: whose answer a
// client got, what reached the backend, whether the breaker and outlier
// detection blamed the upstream for a client's fault, whether the process
// stayed within its memory.
//
// Where a case is about HTTP itself, the same bytes also go through
// net/http/httputil.ReverseProxy with a default http.Transport, and holdfast
// must do at least as well.
//
// The tests build holdfast from the working tree once per test binary (or
// use the binary named by HOLDFAST_ADVERSARIAL_BINARY, to check an older
// build) and run it in real time, so they are not run under the race
// detector: the package has tests only without -race.
package adversarial
