//go:build !race

package adversarial

import (
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"
)

// traversals try to reach /internal through a route for /a.
var traversals = []struct {
	target string
	// ambiguous: an encoded slash or a backslash, which backends disagree
	// about; holdfast refuses these by default.
	ambiguous bool
}{
	{`/a/../internal`, false},
	{`/a/%2e%2e/internal`, false},
	{`/a/..%2finternal`, true},
	{`/a%2f..%2finternal`, true},
	{`/a\..\internal`, true},
}

// resolved is where a backend that decodes, treats backslashes as slashes
// and removes dot segments, as many do, would take target.
func resolved(target string) string {
	p, _, _ := strings.Cut(target, "?")
	if u, err := url.PathUnescape(p); err == nil {
		p = u
	}
	return path.Clean(strings.ReplaceAll(p, `\`, "/"))
}

func within(p, prefix string) bool {
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}

const twoRoutes = `
listen: {{.Listen}}
admin: {listen: {{.Admin}}}
upstreams:
  a:
    endpoints: [{address: {{.A}}}]
  internal:
    endpoints: [{address: {{.I}}}]
routes:
  - name: a
    match: {path_prefix: /a}
    upstream: a
  - name: internal
    match: {path_prefix: /internal}
    upstream: internal
`

const oneRoute = `
listen: {{.Listen}}
admin: {listen: {{.Admin}}}
upstreams:
  a:
    endpoints: [{address: {{.A}}}]
  internal:
    endpoints: [{address: {{.I}}}]
routes:
  - name: a
    match: {path_prefix: /a}
    upstream: a
`

func TestPathTraversal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, config string }{
		{"with_internal_route", twoRoutes},
		{"without_internal_route", oneRoute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			named := func(name string) *rawBackend {
				return newRawBackend(t, func(c *backendConn) {
					answer(c, func(*http.Request, []byte) string { return ok200(name) })
				})
			}
			a, internal := named("a"), named("internal")
			h := startHoldfast(t, tc.config, map[string]string{"A": a.URL(), "I": internal.URL()})
			for _, tr := range traversals {
				resp, body, err := roundTrip(h.addr, "GET "+tr.target+" HTTP/1.1\r\nHost: app\r\n\r\n", http.MethodGet, 3*time.Second)
				if err != nil {
					t.Errorf("GET %s: %v", tr.target, err)
					continue
				}
				t.Logf("GET %-22s -> %d %q", tr.target, resp.StatusCode, truncate(body, 40))
				if tr.ambiguous && resp.StatusCode != http.StatusBadRequest {
					t.Errorf("GET %s: %d %q; want 400 (encoded slashes and backslashes are refused by default)", tr.target, resp.StatusCode, truncate(body, 60))
				}
				if string(body) == "a" {
					t.Errorf("GET %s was answered by the backend behind /a; it resolves to %s", tr.target, resolved(tr.target))
				}
			}
			for _, r := range a.requests() {
				if p := resolved(r.Target); !within(p, "/a") {
					t.Errorf("the backend behind /a received %q, which resolves to %s, outside /a", r.Target, p)
				}
			}
		})
	}
}
