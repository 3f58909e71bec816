package admin

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/canary"
	"github.com/holdfast-dev/holdfast/proxy"
)

// canaryRoute splits between the env's two upstreams, ledger the candidate.
const canaryRoute = `  - name: checkout
    match: {path_prefix: /checkout}
    retry: {attempts: 1}
    split: [{upstream: shop, weight: 100}, {upstream: ledger, weight: 0}]
    canary: {baseline: shop, candidate: ledger, steps: [5, 100], interval: 1h}
`

func TestCanaryAPIAndMetrics(t *testing.T) {
	e := startEnv(t, envOptions{extra: canaryRoute})
	fams := families(t, e.metrics)
	for _, s := range []struct {
		name   string
		labels l
		want   float64
	}{
		{"holdfast_canary_weight_percent", l{"route": "checkout", "candidate": "ledger"}, 5},
		{"holdfast_canary_step", l{"route": "checkout"}, 0},
		{"holdfast_canary_state", l{"route": "checkout", "state": "running"}, 1},
		{"holdfast_canary_state", l{"route": "checkout", "state": "rolled_back"}, 0},
	} {
		if v, ok := sample(fams, s.name, s.labels); !ok || v != s.want {
			t.Errorf("%s%v = %v, %v; want %v", s.name, s.labels, v, ok, s.want)
		}
	}

	verdict := func() (int, canaryVerdict) {
		t.Helper()
		code, body, _ := e.do("GET", "/canary/checkout/verdict", nil, nil)
		var v canaryVerdict
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("verdict body %q: %v", body, err)
		}
		return code, v
	}
	if code, v := verdict(); code != http.StatusOK || !v.Pass || v.State != canary.Running {
		t.Errorf("verdict while running: %d %+v; want 200, pass, running", code, v)
	}

	for _, tc := range []struct {
		action string
		code   int
		state  canary.State
	}{
		{"pause", http.StatusOK, canary.Paused},
		{"resume", http.StatusOK, canary.Running},
		{"abort", http.StatusOK, canary.Aborted},
		{"promote", http.StatusConflict, canary.Aborted}, // it has ended
	} {
		code, body, _ := e.do("POST", "/canary/checkout/"+tc.action, nil, nil)
		if code != tc.code || !strings.Contains(strings.ReplaceAll(body, " ", ""), `"state":"`+string(tc.state)+`"`) {
			t.Errorf("POST /canary/checkout/%s: %d %s; want %d and state %s", tc.action, code, body, tc.code, tc.state)
		}
	}
	if code, v := verdict(); code != http.StatusInternalServerError || v.Pass || v.Weight != 0 {
		t.Errorf("verdict after abort: %d %+v; want 500, fail, weight 0", code, v)
	}
	status, body, _ := e.do("GET", "/status", nil, nil)
	var st struct {
		Routes []proxy.RouteStatus `json:"routes"`
	}
	if err := json.Unmarshal([]byte(body), &st); status != http.StatusOK || err != nil {
		t.Fatalf("GET /status: %d %v", status, err)
	}
	found := false
	for _, r := range st.Routes {
		if r.Name == "checkout" {
			found = r.Canary != nil && r.Canary.State == canary.Aborted && r.Canary.Candidate == "ledger"
		}
	}
	if !found {
		t.Errorf("/status has no aborted canary on route checkout: %s", body)
	}
	for _, p := range []string{"/canary/nope", "/canary/nope/verdict"} {
		if code, _, _ := e.do("GET", p, nil, nil); code != http.StatusNotFound {
			t.Errorf("GET %s: %d; want 404", p, code)
		}
	}
	if code, _, _ := e.do("POST", "/canary/checkout/explode", nil, nil); code != http.StatusNotFound {
		t.Errorf("POST an unknown action: %d; want 404", code)
	}
}

// TestCanaryOnStatusPageInChromium: the status page shows a canary route's
// rollout: its state and weight among the route's policies, and a row with
// its steps, the current one marked.
func TestCanaryOnStatusPageInChromium(t *testing.T) {
	e := startEnv(t, envOptions{extra: canaryRoute})
	if code, _, _ := e.do("POST", "/canary/checkout/pause", nil, nil); code != http.StatusOK {
		t.Fatalf("pause: %d", code)
	}
	dom := chromium(t, e.base+"/", "--dump-dom")
	noScriptErrors(t, dom)
	tags, chips := tagsWith(dom, "span", `data-canary="paused"`)
	if len(tags) != 1 || !strings.Contains(text(chips[0]), "canary paused · 5%") {
		t.Errorf("canary chip: %v %q; want one reading \"canary paused · 5%%\"", tags, chips)
	}
	_, row := startTag(t, dom, "tr", "data-route-canary", "checkout")
	if txt := text(row); !strings.Contains(txt, "shop → ledger") {
		t.Errorf("canary row reads %q; want baseline → candidate", txt)
	}
	tag, _ := startTag(t, row, "span", "data-step", "5")
	if !strings.Contains(tag, "current") {
		t.Errorf("step 5%%: %s; want it marked current", tag)
	}
	if tag, _ := startTag(t, row, "span", "data-step", "100"); strings.Contains(tag, "current") {
		t.Errorf("step 100%%: %s; want it not current", tag)
	}
}

// TestCanaryOnTheTimeline: a rollout's changes are timeline entries of
// kind canary on the route: a real rollout's events, fed to a timeline.
func TestCanaryOnTheTimeline(t *testing.T) {
	tl := NewTimeline(0)
	now := time.Unix(0, 0)
	r, err := canary.New(canary.Config{Steps: []int{10, 100}, MinRequests: 1, Interval: time.Second, Name: "checkout", Listener: tl}, now)
	if err != nil {
		t.Fatal(err)
	}
	r.Observe(canary.Baseline, false, time.Millisecond)
	r.Observe(canary.Candidate, false, time.Millisecond)
	r.Tick(now.Add(time.Second))
	r2, _ := canary.New(canary.Config{Name: "checkout", Listener: tl}, now)
	r2.Abort()
	var got []string
	for _, ev := range tl.Snapshot().Events {
		if ev.Kind != TimelineCanary || ev.Scope != ScopeRoute || ev.Subject != "checkout" {
			t.Errorf("entry %+v; want kind canary on route checkout", ev)
		}
		got = append(got, ev.From+"->"+ev.To+" "+ev.Severity)
	}
	want := []string{"step 10%->promoted good", "running->aborted bad"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("timeline %q; want %q", got, want)
	}
}
