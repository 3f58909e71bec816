//go:build !race

package adversarial

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// withFields is a GET whose header section holds n fields in all, Host
// included; name(i) names the i-th field after Host.
func withFields(n int, name func(i int) string) string {
	var b strings.Builder
	b.WriteString("GET /h HTTP/1.1\r\nHost: app\r\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "%s: v%d\r\n", name(i), i)
	}
	b.WriteString("\r\n")
	return b.String()
}

// TestHeaderCount: limits.max_headers defaults to 100 request header
// fields, as Envoy's max_headers_count does.
func TestHeaderCount(t *testing.T) {
	t.Parallel()
	backend := okBackend(t)
	h := startHoldfast(t, minimal, map[string]string{"A": backend.URL()})
	distinct := func(i int) string { return fmt.Sprintf("X-Field-%03d", i) }
	same := func(int) string { return "X-Same" }

	for _, tc := range []struct {
		name   string
		raw    string
		status int
	}{
		{"100_fields_pass", withFields(100, distinct), http.StatusOK},
		{"101_fields_431", withFields(101, distinct), http.StatusRequestHeaderFieldsTooLarge},
		{"101_fields_of_one_name_431", withFields(101, same), http.StatusRequestHeaderFieldsTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(backend.requests())
			resp, _, err := roundTrip(h.addr, tc.raw, http.MethodGet, 3*time.Second)
			if err != nil || resp.StatusCode != tc.status {
				t.Fatalf("GET with %s: %s %v; want %d", strings.ReplaceAll(tc.name, "_", " "), statusOf(resp), err, tc.status)
			}
			reqs := backend.requests()[before:]
			if tc.status != http.StatusOK {
				if len(reqs) != 0 {
					t.Errorf("the backend received the refused request")
				}
				return
			}
			if len(reqs) != 1 {
				t.Fatalf("the backend received %d requests; want 1", len(reqs))
			}
			for i := 1; i < 100; i++ {
				if got := reqs[0].Header.Get(distinct(i)); got != fmt.Sprintf("v%d", i) {
					t.Errorf("backend header %s = %q; want v%d", distinct(i), got, i)
				}
			}
		})
	}
}
