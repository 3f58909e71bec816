package proxy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/config"
)

const reloadBase = `
upstreams:
  a:
    endpoints: [{address: http://127.0.0.1:1}]
    circuit_breaker: {failure_rate: 0.5}
  b:
    endpoints: [{address: http://127.0.0.1:2}]
    circuit_breaker: {failure_rate: 0.5}
routes:
  - name: ra
    upstream: a
    rate_limit: {requests_per_second: 0.01, burst: 1}
  - name: rb
    upstream: b
    timeout: %s
`

func mustParse(t *testing.T, src string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestReloadKeepsStateOfUnchangedParts checks that a reload carries over the
// live state of upstreams and routes whose config did not change, and
// rebuilds the rest.
func TestReloadKeepsStateOfUnchangedParts(t *testing.T) {
	p, err := New(mustParse(t, sprintf(reloadBase, "1s")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	old := p.state.Load()
	old.clusters["a"].breaker.ForceOpen()
	if ok, _ := old.route("ra").limiter.TryAt("", time.Now()); !ok { // spend the route's only token
		t.Fatal("first request was limited")
	}

	// Route rb's timeout changes; everything else stays.
	if err := p.Reload(mustParse(t, sprintf(reloadBase, "2s"))); err != nil {
		t.Fatal(err)
	}
	cur := p.state.Load()
	if cur.clusters["a"] != old.clusters["a"] {
		t.Error("unchanged upstream a was rebuilt")
	}
	if got := cur.clusters["a"].breaker.State(); got != breaker.Open {
		t.Errorf("upstream a's breaker after reload = %v; want open (carried over)", got)
	}
	if cur.route("ra") != old.route("ra") {
		t.Error("unchanged route ra was rebuilt")
	}
	if ok, _ := cur.route("ra").limiter.TryAt("", time.Now()); ok {
		t.Error("route ra's rate-limit bucket was refilled by the reload; want it carried over")
	}
	if cur.route("rb") == old.route("rb") {
		t.Error("changed route rb was not rebuilt")
	}
	if got := cur.route("rb").cfg.Timeout.String(); got != "2s" {
		t.Errorf("route rb timeout = %s; want 2s", got)
	}

	// Changing upstream a's breaker rebuilds it, with fresh state, and the
	// route that sends to it follows.
	changed := sprintf(reloadBase, "2s")
	changed = replaceOnce(changed, "circuit_breaker: {failure_rate: 0.5}", "circuit_breaker: {failure_rate: 0.6}")
	if err := p.Reload(mustParse(t, changed)); err != nil {
		t.Fatal(err)
	}
	next := p.state.Load()
	if next.clusters["a"] == cur.clusters["a"] {
		t.Error("changed upstream a was not rebuilt")
	}
	if got := next.clusters["a"].breaker.State(); got != breaker.Closed {
		t.Errorf("rebuilt breaker = %v; want closed", got)
	}
	if next.route("ra").targets[0].cluster != next.clusters["a"] {
		t.Error("route ra still sends to the replaced upstream")
	}
	if next.clusters["b"] != cur.clusters["b"] {
		t.Error("unchanged upstream b was rebuilt")
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func replaceOnce(s, old, new string) string { return strings.Replace(s, old, new, 1) }
