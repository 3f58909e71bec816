package admin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/proxy"
	"github.com/holdfast-dev/holdfast/upstream"
)

// correctnessEnv is a proxy with a vote route quote over voters a, b and
// c (c lies while lying is set) and a checked route accounts over liar
// (always a negative balance) and honest, with metrics, a timeline and
// an admin server.
type correctnessEnv struct {
	t        *testing.T
	proxy    *proxy.Proxy
	metrics  *Metrics
	timeline *Timeline
	data     string
	base     string
	lying    atomic.Bool
	liar     string // the liar's endpoint address
	requests chan proxy.RequestInfo
}

const correctnessConfig = `listen: 127.0.0.1:0
upstreams:
  a: {endpoints: [{address: %[1]s}]}
  b: {endpoints: [{address: %[2]s}]}
  c: {endpoints: [{address: %[3]s}]}
  accounts:
    balancer: round_robin
    endpoints: [{address: %[4]s}, {address: %[5]s}]
    outlier_detection: {consecutive_invariant_violations: 3, base_ejection_time: 10m}
routes:
  - name: quote
    match: {path_prefix: /quote}
    vote: {upstreams: [a, b, c], timeout: 10s, compare: json, quarantine: {disagreements: 2, window: 1h, readmit_after: 3}}
  - name: accounts
    match: {path_prefix: /accounts}
    upstream: accounts
    checks:
      - json: {pointer: /balance, min: 0}
`

func startCorrectnessEnv(t *testing.T) *correctnessEnv {
	t.Helper()
	e := &correctnessEnv{t: t, metrics: NewMetrics(), timeline: NewTimeline(0), requests: make(chan proxy.RequestInfo, 1024)}
	e.lying.Store(true)
	serve := func(body func() string) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, body())
		}))
		t.Cleanup(s.Close)
		return s.URL
	}
	fixed := func(s string) func() string { return func() string { return s } }
	a, b := serve(fixed(`{"price":10}`)), serve(fixed(`{"price":10}`))
	c := serve(func() string {
		if e.lying.Load() {
			return `{"price":-1}`
		}
		return `{"price":10}`
	})
	e.liar = serve(fixed(`{"balance":-5}`))
	honest := serve(fixed(`{"balance":5}`))
	cfg, err := config.Parse(fmt.Appendf(nil, correctnessConfig, a, b, c, e.liar, honest))
	if err != nil {
		t.Fatal(err)
	}
	p, err := proxy.New(cfg, proxy.Options{
		Listener:  holdfast.Listeners{e.metrics, e.timeline},
		OnAttempt: e.metrics.OnAttempt,
		OnRequest: func(info proxy.RequestInfo) {
			e.metrics.OnRequest(info)
			e.timeline.OnRequest(info)
			e.requests <- info
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	e.proxy = p
	e.metrics.Watch(p)
	e.timeline.Watch(p)
	ps, err := proxy.NewServer(p, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- ps.Serve() }()
	t.Cleanup(func() {
		ps.Shutdown(context.Background())
		<-served
	})
	e.data = "http://" + ps.Addrs()[0].String()
	srv, err := New(Config{Admin: config.Admin{Listen: "127.0.0.1:0"}, Proxy: p, Metrics: e.metrics, Timeline: e.timeline})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	e.base = "http://" + srv.Addr()
	return e
}

// send makes one request and waits until the proxy has finished with it
// (a vote route tallies after it answers).
func (e *correctnessEnv) send(path string) int {
	e.t.Helper()
	resp, err := http.Get(e.data + path)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	select {
	case <-e.requests:
	case <-time.After(waitLimit):
		e.t.Fatalf("GET %s: the proxy never reported the request", path)
	}
	return resp.StatusCode
}

func (e *correctnessEnv) voter(name string) proxy.VoterStatus {
	for _, r := range e.proxy.Status().Routes {
		if r.Vote != nil {
			for _, v := range r.Vote.Voters {
				if v.Upstream == name {
					return v
				}
			}
		}
	}
	e.t.Fatalf("no voter %s", name)
	return proxy.VoterStatus{}
}

// until sends path until cond holds, at most n times.
func (e *correctnessEnv) until(path string, n int, what string, cond func() bool) {
	e.t.Helper()
	for i := 0; !cond(); i++ {
		if i == n {
			e.t.Fatalf("%s: not after %d requests", what, n)
		}
		if got := e.send(path); got != 200 {
			e.t.Fatalf("GET %s: got %d; want 200", path, got)
		}
	}
}

// TestCorrectnessOnStatusPageInChromium: a vote route with a quarantined
// voter and a checked route whose liar was ejected for wrong answers, on
// the status page in a real browser: each voter's agreement rate, the
// quarantined one highlighted, each check's violations, and the
// quarantine and the ejection in the timeline; then the voter, fixed, is
// re-admitted, and that is a timeline entry too.
func TestCorrectnessOnStatusPageInChromium(t *testing.T) {
	e := startCorrectnessEnv(t)
	e.until("/quote", 200, "c quarantined", func() bool { return e.voter("c").Quarantined })
	liarEjected := func() bool {
		for _, u := range e.proxy.Status().Upstreams {
			for _, ep := range u.Endpoints {
				if ep.Address == e.liar {
					return ep.Ejected
				}
			}
		}
		return false
	}
	e.until("/accounts/1", 50, "liar ejected", liarEjected)

	dom := chromium(t, e.base+"/", "--dump-dom")
	noScriptErrors(t, dom)
	_, detail := startTag(t, dom, "tr", "data-route-vote", "quote")
	tag, voter := startTag(t, detail, "span", "data-voter", "c")
	if !strings.Contains(tag, `data-quarantined="true"`) || !strings.Contains(tag, "quarantined") {
		t.Errorf("voter c: %s; want it marked quarantined", tag)
	}
	if txt := text(voter); !strings.Contains(txt, "c") {
		t.Errorf("voter c reads %q", txt)
	}
	tag, voterA := startTag(t, detail, "span", "data-voter", "a")
	if !strings.Contains(tag, `data-quarantined="false"`) || !strings.Contains(text(voterA), "100% agree") {
		t.Errorf("voter a: %s %q; want not quarantined, 100%% agree", tag, text(voterA))
	}
	rate, _ := attr(tag, "data-agreement-rate")
	if rate != "1" {
		t.Errorf("voter a's data-agreement-rate = %q; want 1", rate)
	}
	if _, row := startTag(t, detail, "span", "data-voter", "c"); !strings.Contains(text(row), "agree") {
		t.Errorf("voter c reads %q; want its agreement rate", text(row))
	}
	_, checks := startTag(t, dom, "tr", "data-route-checks", "accounts")
	tag, check := startTag(t, checks, "span", "data-check", "checks[0]")
	n, _ := attr(tag, "data-violations")
	if v, err := strconv.Atoi(n); err != nil || v < 3 || !strings.Contains(text(check), "violations") || !strings.Contains(tag, "violated") {
		t.Errorf("checks[0]: %s %q; want at least 3 violations, highlighted", tag, text(check))
	}

	// The timeline (polled every five polls, so it may lag the status
	// by a few seconds of virtual time: the budget covers it).
	for _, want := range []struct {
		attrs []string
		reads string
	}{
		{[]string{`data-kind="vote"`, `data-subject="quote"`, `data-voter="c"`, `data-to="quarantined"`}, "route quote voter c: active → quarantined"},
		{[]string{`data-kind="endpoint"`, `data-subject="accounts"`, `data-to="ejected"`, `data-reason="` + upstream.ReasonConsecutiveInvariantViolations + `"`}, "accounts endpoint " + e.liar + ": active → ejected"},
	} {
		tags, entries := tagsWith(dom, "li", want.attrs...)
		if len(tags) != 1 {
			t.Errorf("timeline: got %d entries with %v; want 1", len(tags), want.attrs)
			continue
		}
		if txt := text(entries[0]); !strings.Contains(txt, want.reads) {
			t.Errorf("timeline entry reads %q; want %q", txt, want.reads)
		}
	}

	// Fixed, c is re-admitted after three agreements in a row.
	e.lying.Store(false)
	e.until("/quote", 50, "c re-admitted", func() bool { return !e.voter("c").Quarantined })
	var kinds []string
	for _, ev := range e.timeline.Snapshot().Events {
		if ev.Kind == TimelineVote {
			kinds = append(kinds, ev.Voter+" "+ev.From+"->"+ev.To)
		}
	}
	if want := []string{"c active->quarantined", "c quarantined->active"}; strings.Join(kinds, ", ") != strings.Join(want, ", ") {
		t.Errorf("vote entries %q; want %q", kinds, want)
	}
	fams := families(t, e.metrics)
	if got, _ := sample(fams, "holdfast_upstream_ejections_total", map[string]string{"upstream": "accounts", "reason": upstream.ReasonConsecutiveInvariantViolations}); got != 1 {
		t.Errorf("holdfast_upstream_ejections_total{accounts, consecutive_invariant_violations} = %g; want 1", got)
	}
	if got, _ := sample(fams, "holdfast_endpoint_attempts_total", map[string]string{"upstream": "accounts", "endpoint": e.liar, "outcome": proxy.AttemptWithheld}); got < 3 {
		t.Errorf("the liar's withheld attempts = %g; want at least 3", got)
	}
}
