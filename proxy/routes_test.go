package proxy

import (
	"net/http"
	"testing"

	"github.com/holdfast-dev/holdfast/internal/testkit"
)

// TestRouting checks route matching end to end: exact path, prefix, regex,
// methods and headers, the first matching route wins, and a request no
// route takes gets a 404 local reply.
func TestRouting(t *testing.T) {
	t.Parallel()
	names := []string{"exact", "prefix", "regex", "canary", "reads", "fallthrough"}
	bs := map[string]*testkit.Backend{}
	args := []any{}
	for _, n := range names {
		bs[n] = testkit.Start(t, testkit.Config{Name: n})
		args = append(args, bs[n].URL())
	}
	e := startProxy(t, yamlf(`
upstreams:
	exact: {endpoints: [{address: %s}]}
	prefix: {endpoints: [{address: %s}]}
	regex: {endpoints: [{address: %s}]}
	canary: {endpoints: [{address: %s}]}
	reads: {endpoints: [{address: %s}]}
	fallthrough: {endpoints: [{address: %s}]}
routes:
	- name: canary
		match: {path_prefix: /api, headers: [{name: x-env, exact: canary}]}
		upstream: canary
	- name: exact
		match: {path: /api/exact}
		upstream: exact
	- name: regex
		match: {path_regex: '/api/items/[0-9]+'}
		upstream: regex
	- name: reads
		match: {path_prefix: /api, methods: [GET, HEAD]}
		upstream: reads
	- name: prefix
		match: {path_prefix: /api/}
		upstream: prefix
	- name: debug
		match: {path_prefix: /debug, headers: [{name: x-debug, present: true}]}
		upstream: fallthrough
`, args...))
	tests := []struct {
		method, path string
		header       []string
		want         string // backend name, or "" for no route
	}{
		{"GET", "/api/exact", nil, "exact"},
		{"POST", "/api/exact", nil, "exact"},
		{"GET", "/api/exact/more", nil, "reads"},
		{"GET", "/api/exact", []string{"X-Env", "canary"}, "canary"}, // first match wins
		{"POST", "/api/anything", []string{"X-Env", "canary"}, "canary"},
		{"POST", "/api/anything", []string{"X-Env", "prod"}, "prefix"},
		{"GET", "/api/items/42", nil, "regex"},
		{"DELETE", "/api/items/42", nil, "regex"},
		{"GET", "/api/items/42/parts", nil, "reads"},
		{"GET", "/api/items/x", nil, "reads"},
		{"HEAD", "/api/other", nil, "reads"},
		{"PUT", "/api/other", nil, "prefix"},
		{"PUT", "/api", nil, ""}, // /api/ does not prefix /api
		{"GET", "/apix", nil, "reads"},
		{"GET", "/debug/vars", []string{"X-Debug", "1"}, "fallthrough"},
		{"GET", "/debug/vars", nil, ""},
		{"GET", "/", nil, ""},
	}
	for _, tt := range tests {
		for _, c := range e.clients() {
			r := e.send(c.c, tt.method, tt.path, "", tt.header...)
			if tt.want == "" {
				checkLocal(t, r, http.StatusNotFound, ReasonNoRoute)
				continue
			}
			if r.err != nil || r.status != 200 || (tt.method != "HEAD" && r.body != tt.want) || r.backend() != tt.want {
				t.Errorf("%s %s %s %v: %d from %q (%v); want 200 from %s", c.name, tt.method, tt.path, tt.header, r.status, r.backend(), r.err, tt.want)
			}
		}
	}
	for _, n := range []string{"canary", "exact", "regex", "reads", "prefix"} {
		if bs[n].Requests() == 0 {
			t.Errorf("backend %s got no requests", n)
		}
	}
}

// TestSplit checks a weighted split (a canary release): about 10% of
// requests reach the canary.
func TestSplit(t *testing.T) {
	t.Parallel()
	stable := testkit.Start(t, testkit.Config{Name: "stable"})
	canary := testkit.Start(t, testkit.Config{Name: "canary"})
	e := startProxy(t, yamlf(`
upstreams:
	stable: {endpoints: %s}
	canary: {endpoints: %s}
routes:
	- name: all
		split: [{upstream: stable, weight: 90}, {upstream: canary, weight: 10}]
`, eps(stable), eps(canary)))
	const n = 1000
	got := map[string]int{}
	for range n {
		r := e.get("/")
		mustOK(t, r)
		got[r.backend()]++
	}
	// Binomial(1000, 0.1) has mean 100 and standard deviation 9.5: the
	// bounds are more than five deviations away.
	if got["canary"] < 50 || got["canary"] > 150 || got["stable"]+got["canary"] != n {
		t.Errorf("split %v; want about 900 stable and 100 canary", got)
	}
	if stable.Requests()+canary.Requests() != n {
		t.Errorf("backends got %d + %d requests; want %d in all", stable.Requests(), canary.Requests(), n)
	}
}
