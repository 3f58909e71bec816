package proxy

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/testkit"
)

// TestBurningShedsSheddableRoutes runs a proxy whose P0 burns or not, by a
// switch, in front of a real backend without a concurrency limit: while it
// burns, the sheddable route answers 503 with reason shed and Retry-After,
// the default and critical ones are relayed; once it stops, all are.
func TestBurningShedsSheddableRoutes(t *testing.T) {
	b := testkit.Start(t, testkit.Config{Name: "api"})
	c, err := config.Parse([]byte(yamlf(`listen: 127.0.0.1:0
upstreams:
	api: {endpoints: [{address: %[1]s}]}
routes:
	- {name: crit, match: {path_prefix: /c}, upstream: api, priority: critical}
	- {name: dflt, match: {path_prefix: /d}, upstream: api}
	- {name: shed, match: {path_prefix: /s}, upstream: api, priority: sheddable}
`, b.URL())))
	if err != nil {
		t.Fatal(err)
	}
	var burning atomic.Bool
	p, err := New(c, Options{Burning: burning.Load})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(p, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
		p.Close()
	})
	url := "http://" + srv.Addrs()[0].String()
	client := &http.Client{Timeout: waitLimit}
	tests := []struct {
		burning    bool
		path       string
		status     int
		reason     string
		retryAfter string
	}{
		{false, "/s", 200, "", ""},
		{true, "/s", 503, ReasonShed, "1"},
		{true, "/d", 200, "", ""},
		{true, "/c", 200, "", ""},
		{false, "/s", 200, "", ""},
	}
	for _, tt := range tests {
		burning.Store(tt.burning)
		resp, err := client.Get(url + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || resp.Header.Get(HeaderReason) != tt.reason || resp.Header.Get("Retry-After") != tt.retryAfter {
			t.Errorf("GET %s, burning %v: got %d reason %q Retry-After %q; want %d %q %q", tt.path, tt.burning,
				resp.StatusCode, resp.Header.Get(HeaderReason), resp.Header.Get("Retry-After"), tt.status, tt.reason, tt.retryAfter)
		}
	}
}

// TestTopPriorityFollowsTheConfig checks each upstream's top priority, the
// highest of the routes that send to it, and that a reload recomputes it
// for the clusters it keeps.
func TestTopPriorityFollowsTheConfig(t *testing.T) {
	src := func(routes string) *config.Config {
		c, err := config.Parse([]byte(yamlf(`listen: 127.0.0.1:0
upstreams:
	a: {endpoints: [{address: http://127.0.0.1:1}]}
	b: {endpoints: [{address: http://127.0.0.1:2}]}
	c: {endpoints: [{address: http://127.0.0.1:3}]}
routes:
%s`, routes)))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	p, err := New(src(`	- {name: crit, match: {path_prefix: /c}, upstream: a, priority: critical}
	- {name: shed, match: {path_prefix: /s}, split: [{upstream: a, weight: 1}, {upstream: b, weight: 1}], priority: sheddable}
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	check := func(when string, want map[string]string) {
		t.Helper()
		for name, cl := range p.state.Load().clusters {
			if got := string(cl.topPriority()); got != want[name] {
				t.Errorf("%s: upstream %s's top priority: got %q; want %q", when, name, got, want[name])
			}
		}
	}
	check("at start", map[string]string{"a": "critical", "b": "sheddable", "c": ""})
	if err := p.Reload(src(`	- {name: shed, match: {path_prefix: /s}, split: [{upstream: a, weight: 1}, {upstream: b, weight: 1}], priority: sheddable}
	- {name: dflt, upstream: c}
`)); err != nil {
		t.Fatal(err)
	}
	check("after a reload", map[string]string{"a": "sheddable", "b": "sheddable", "c": ""})
}
