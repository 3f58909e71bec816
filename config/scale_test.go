package config

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// Files of n routes or upstreams, for the scaling test and the benchmarks.

// routesWithErrors has n routes, each with four errors: an unknown
// upstream, a duration without a unit and a rate that is not a number
// (walker errors, one with a long key path) and negative attempts (a
// policy error).
func routesWithErrors(n int) []byte {
	var b strings.Builder
	b.WriteString("upstreams:\n  a:\n    endpoints: [{address: http://127.0.0.1:1}]\nroutes:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: r%d\n    upstream: b\n    timeout: 5\n    retry: {attempts: -1}\n    rate_limit: {requests_per_second: many}\n", i)
	}
	return []byte(b.String())
}

// unknownUpstreams has n upstreams and n routes, each naming an upstream
// that is not there.
func unknownUpstreams(n int) []byte {
	var b strings.Builder
	b.WriteString("upstreams:\n")
	for i := range n {
		fmt.Fprintf(&b, "  u%d: {endpoints: [{address: http://127.0.0.1:1}]}\n", i)
	}
	b.WriteString("routes:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {name: r%d, upstream: nope%d}\n", i, i)
	}
	return []byte(b.String())
}

// manyHeaders is a valid file whose one route has a fallback with n
// headers: one large mapping.
func manyHeaders(n int) []byte {
	var b strings.Builder
	b.WriteString(base + "    fallback:\n      headers:\n")
	for i := range n {
		fmt.Fprintf(&b, "        x-h%d: v\n", i)
	}
	return []byte(b.String())
}

// validRoutes is a valid file of n routes.
func validRoutes(n int) []byte {
	var b strings.Builder
	b.WriteString("upstreams:\n  a:\n    endpoints: [{address: http://127.0.0.1:1}]\nroutes:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: r%d\n    match: {path_prefix: /r%d, methods: [GET]}\n    upstream: a\n    timeout: 2s\n    retry: {attempts: 3, retry_on: [5xx]}\n", i, i)
	}
	return []byte(b.String())
}

var scaleShapes = []struct {
	name string
	gen  func(int) []byte
}{
	{"routes with errors", routesWithErrors},
	{"unknown upstreams", unknownUpstreams},
	{"one large mapping", manyHeaders},
	{"valid routes", validRoutes},
}

// allocatedBy returns the bytes f allocates.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestParseMemoryIsLinear checks that Parse allocates in proportion to the
// file: four times the routes take about four times the memory, not
// sixteen. (Checking every error against every other, or listing every
// upstream in each unknown-upstream error, made both the time and the
// memory grow with the square of the file. Time is shown by
// BenchmarkParse, not asserted.)
func TestParseMemoryIsLinear(t *testing.T) {
	for _, tt := range scaleShapes {
		t.Run(tt.name, func(t *testing.T) {
			small, large := tt.gen(500), tt.gen(2000)
			Parse(small) // warm up caches
			a := allocatedBy(func() { Parse(small) })
			b := allocatedBy(func() { Parse(large) })
			if ratio := float64(b) / float64(a); ratio > 6 {
				t.Errorf("Parse of 4 times the file allocated %.1f times the bytes (%d against %d); want about 4", ratio, b, a)
			}
		})
	}
}

// BenchmarkParse parses files of 1,000 to 16,000 routes or upstreams; the
// ns/item metric stays about level when the time is linear in the file.
func BenchmarkParse(b *testing.B) {
	for _, shape := range scaleShapes {
		for _, n := range []int{1000, 4000, 16000} {
			data := shape.gen(n)
			b.Run(fmt.Sprintf("%s/%d", strings.ReplaceAll(shape.name, " ", "_"), n), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					Parse(data)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/item")
			})
		}
	}
}
