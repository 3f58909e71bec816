// Package bench holds side-by-side benchmarks of holdfast against peer
// libraries, and of holdfast's own HTTP/1.1 upstream client against a tuned
// net/http Transport (BenchmarkUpstreamTransport). It is its own module so
// that peers never enter holdfast's go.mod.
package bench
