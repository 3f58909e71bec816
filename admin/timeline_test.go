package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/testkit"
	"github.com/holdfast-dev/holdfast/proxy"
	"github.com/holdfast-dev/holdfast/upstream"
)

// step is one thing that happens to a timeline at t0 + at.
type step struct {
	at  time.Duration
	do  func(tl *Timeline, now time.Time)
	why string
}

func event(e holdfast.Event) func(*Timeline, time.Time) {
	return func(tl *Timeline, now time.Time) { tl.onEventAt(e, nil, now) }
}

func fallback(route string) func(*Timeline, time.Time) {
	return func(tl *Timeline, now time.Time) { tl.fallbackAt(ScopeRoute, route, "5xx", "", now) }
}

func reload(err error) func(*Timeline, time.Time) {
	return func(tl *Timeline, now time.Time) { tl.reloadAt(err, now) }
}

func TestTimeline(t *testing.T) {
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	breaker := func(from, to string) holdfast.Event {
		return holdfast.Event{Source: holdfast.KindBreaker, Policy: "ledger", Kind: holdfast.EventStateChange, From: from, To: to, Reason: "consecutive_failures"}
	}
	change := func(from, to, reason string) holdfast.Event {
		return holdfast.Event{Source: holdfast.KindUpstream, Policy: "shop", Kind: holdfast.EventStateChange, From: from, To: to, Reason: reason}
	}
	tests := []struct {
		name  string
		size  int
		steps []step
		want  TimelineSnapshot
	}{
		{
			name: "nothing yet",
			want: TimelineSnapshot{Capacity: DefaultTimelineSize, Events: []TimelineEvent{}},
		},
		{
			name: "breaker transitions",
			steps: []step{
				{0, event(breaker("closed", "open")), ""},
				{time.Second, event(breaker("open", "half_open")), ""},
				{2 * time.Second, event(breaker("half_open", "closed")), ""},
			},
			want: TimelineSnapshot{Capacity: DefaultTimelineSize, Recorded: 3, Events: []TimelineEvent{
				{ID: 1, Time: at(0), Count: 1, Kind: "breaker", Scope: "upstream", Subject: "ledger", From: "closed", To: "open", Reason: "consecutive_failures", Severity: "bad"},
				{ID: 2, Time: at(time.Second), Count: 1, Kind: "breaker", Scope: "upstream", Subject: "ledger", From: "open", To: "half_open", Reason: "consecutive_failures", Severity: "warn"},
				{ID: 3, Time: at(2 * time.Second), Count: 1, Kind: "breaker", Scope: "upstream", Subject: "ledger", From: "half_open", To: "closed", Reason: "consecutive_failures", Severity: "good"},
			}},
		},
		{
			name: "endpoint, health and panic changes of an unwatched proxy",
			steps: []step{
				{0, event(change("active", "ejected", "consecutive_failures")), ""},
				{time.Second, event(change("ejected", "probation", "ejection_ended")), ""},
				{2 * time.Second, event(change("probation", "active", "probation_passed")), ""},
				{3 * time.Second, event(holdfast.Event{Source: holdfast.KindUpstream, Policy: "shop", Kind: holdfast.EventStateChange,
					From: "healthy", To: "unhealthy", Reason: "health_check", Err: errors.New("GET /healthz: 503")}), ""},
				{4 * time.Second, event(change("normal", "panic", "no_usable_endpoint")), ""},
			},
			want: TimelineSnapshot{Capacity: DefaultTimelineSize, Recorded: 5, Events: []TimelineEvent{
				{ID: 1, Time: at(0), Count: 1, Kind: "endpoint", Scope: "upstream", Subject: "shop", From: "active", To: "ejected", Reason: "consecutive_failures", Severity: "bad"},
				{ID: 2, Time: at(time.Second), Count: 1, Kind: "endpoint", Scope: "upstream", Subject: "shop", From: "ejected", To: "probation", Reason: "ejection_ended", Severity: "warn"},
				{ID: 3, Time: at(2 * time.Second), Count: 1, Kind: "endpoint", Scope: "upstream", Subject: "shop", From: "probation", To: "active", Reason: "probation_passed", Severity: "good"},
				{ID: 4, Time: at(3 * time.Second), Count: 1, Kind: "health", Scope: "upstream", Subject: "shop", From: "healthy", To: "unhealthy", Reason: "health_check", Error: "GET /healthz: 503", Severity: "bad"},
				{ID: 5, Time: at(4 * time.Second), Count: 1, Kind: "panic", Scope: "upstream", Subject: "shop", From: "normal", To: "panic", Reason: "no_usable_endpoint", Severity: "bad"},
			}},
		},
		{
			name: "events on most requests are not kept",
			steps: []step{
				{0, event(holdfast.Event{Source: holdfast.KindRetry, Policy: "shop", Kind: holdfast.EventAttempt, Attempt: 1}), ""},
				{0, event(holdfast.Event{Source: holdfast.KindRetry, Policy: "shop", Kind: holdfast.EventRetry, Delay: time.Millisecond}), ""},
				{0, event(holdfast.Event{Source: holdfast.KindBreaker, Policy: "ledger", Kind: holdfast.EventRejected, Reason: holdfast.ReasonBreakerOpen}), ""},
				{0, event(holdfast.Event{Source: holdfast.KindBulkhead, Policy: "ledger", Kind: holdfast.EventQueued, Delay: time.Millisecond}), ""},
				{0, event(holdfast.Event{Source: holdfast.KindBulkhead, Policy: "ledger", Kind: holdfast.EventStateChange, From: "limiting", To: "probing"}), ""},
				{0, event(holdfast.Event{Source: holdfast.KindBulkhead, Policy: "ledger", Kind: holdfast.EventLimitChanged, Value: 12}), ""},
			},
			want: TimelineSnapshot{Capacity: DefaultTimelineSize, Events: []TimelineEvent{}},
		},
		{
			name: "fallbacks of a route within a bucket share an entry",
			steps: []step{
				{0, fallback("shop"), ""},
				{time.Second, fallback("shop"), ""},
				{time.Second, fallback("ledger"), "another route: its own entry"},
				{SeriesBucket - time.Nanosecond, fallback("shop"), ""},
				{SeriesBucket, fallback("shop"), "a bucket after the first: a new entry"},
			},
			want: TimelineSnapshot{Capacity: DefaultTimelineSize, Recorded: 3, Events: []TimelineEvent{
				{ID: 1, Time: at(0), Count: 3, Last: at(SeriesBucket - time.Nanosecond), Kind: "fallback", Scope: "route", Subject: "shop", Reason: "5xx", Severity: "warn"},
				{ID: 2, Time: at(time.Second), Count: 1, Kind: "fallback", Scope: "route", Subject: "ledger", Reason: "5xx", Severity: "warn"},
				{ID: 3, Time: at(SeriesBucket), Count: 1, Kind: "fallback", Scope: "route", Subject: "shop", Reason: "5xx", Severity: "warn"},
			}},
		},
		{
			name: "a fallback entry that left the ring is not counted on",
			size: 2,
			steps: []step{
				{0, fallback("shop"), ""},
				{0, event(breaker("closed", "open")), ""},
				{0, event(breaker("open", "half_open")), "pushes the fallback out"},
				{time.Second, fallback("shop"), ""},
			},
			want: TimelineSnapshot{Capacity: 2, Recorded: 4, Events: []TimelineEvent{
				{ID: 3, Time: at(0), Count: 1, Kind: "breaker", Scope: "upstream", Subject: "ledger", From: "open", To: "half_open", Reason: "consecutive_failures", Severity: "warn"},
				{ID: 4, Time: at(time.Second), Count: 1, Kind: "fallback", Scope: "route", Subject: "shop", Reason: "5xx", Severity: "warn"},
			}},
		},
		{
			name: "library events: fallback and guard",
			steps: []step{
				{0, event(holdfast.Event{Source: holdfast.KindFallback, Policy: "prices", Kind: holdfast.EventFallback, Err: errors.New("boom")}), ""},
				{time.Second, event(holdfast.Event{Source: holdfast.KindGuard, Policy: "pricer", Kind: holdfast.EventSilenced, Err: errors.New("invariant")}), ""},
				{2 * time.Second, event(holdfast.Event{Source: holdfast.KindGuard, Policy: "pricer", Kind: holdfast.EventRecovered, Attempt: 3}), ""},
			},
			want: TimelineSnapshot{Capacity: DefaultTimelineSize, Recorded: 3, Events: []TimelineEvent{
				{ID: 1, Time: at(0), Count: 1, Kind: "fallback", Scope: "policy", Subject: "prices", Error: "boom", Severity: "warn"},
				{ID: 2, Time: at(time.Second), Count: 1, Kind: "guard", Scope: "policy", Subject: "pricer", To: "silenced", Error: "invariant", Severity: "bad"},
				{ID: 3, Time: at(2 * time.Second), Count: 1, Kind: "guard", Scope: "policy", Subject: "pricer", From: "silenced", To: "active", Severity: "good"},
			}},
		},
		{
			name: "reloads",
			steps: []step{
				{0, reload(nil), ""},
				{time.Second, reload(errors.New("config: routes[0].timeout (line 3): must be positive")), ""},
			},
			want: TimelineSnapshot{Capacity: DefaultTimelineSize, Recorded: 2, Events: []TimelineEvent{
				{ID: 1, Time: at(0), Count: 1, Kind: "reload", Scope: "process", To: "ok", Severity: "good"},
				{ID: 2, Time: at(time.Second), Count: 1, Kind: "reload", Scope: "process", To: "failed", Error: "config: routes[0].timeout (line 3): must be positive", Severity: "bad"},
			}},
		},
		{
			name: "the ring keeps the newest",
			size: 2,
			steps: []step{
				{0, reload(nil), ""},
				{time.Second, reload(nil), ""},
				{2 * time.Second, reload(nil), ""},
			},
			want: TimelineSnapshot{Capacity: 2, Recorded: 3, Events: []TimelineEvent{
				{ID: 2, Time: at(time.Second), Count: 1, Kind: "reload", Scope: "process", To: "ok", Severity: "good"},
				{ID: 3, Time: at(2 * time.Second), Count: 1, Kind: "reload", Scope: "process", To: "ok", Severity: "good"},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := NewTimeline(tt.size)
			for _, s := range tt.steps {
				s.do(tl, t0.Add(s.at))
			}
			if diff := cmp.Diff(tt.want, tl.Snapshot(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Snapshot (-want +got):\n%s", diff)
			}
		})
	}
}

// upstreamAt is upstream shop with endpoints a, b (priority 0) and c
// (priority 1), in the states given: "" (healthy, active), "ejected",
// "probation" or "unhealthy"; active is its active priority level.
func upstreamAt(active int, a, b, c string) *proxy.UpstreamStatus {
	ep := func(addr string, priority int, state string) upstream.EndpointStatus {
		return upstream.EndpointStatus{Address: addr, Priority: priority, Healthy: state != "unhealthy",
			Ejected: state == "ejected", Probation: state == "probation"}
	}
	return &proxy.UpstreamStatus{Status: upstream.Status{Name: "shop", ActivePriority: active,
		Endpoints: []upstream.EndpointStatus{ep("a", 0, a), ep("b", 0, b), ep("c", 1, c)}}}
}

// TestTimelineNamesEndpoints feeds upstream events with the upstream's state
// after each, as a watched proxy reports it.
func TestTimelineNamesEndpoints(t *testing.T) {
	change := func(from, to string) holdfast.Event {
		return holdfast.Event{Source: holdfast.KindUpstream, Policy: "shop", Kind: holdfast.EventStateChange, From: from, To: to}
	}
	type fed struct {
		e     holdfast.Event
		after *proxy.UpstreamStatus
	}
	type entry struct{ kind, endpoint, from, to string }
	tests := []struct {
		name   string
		before *proxy.UpstreamStatus // nil: the upstream was not seen before
		feed   []fed
		want   []entry
	}{
		{
			name:   "one ejection",
			before: upstreamAt(0, "", "", ""),
			feed:   []fed{{change("active", "ejected"), upstreamAt(0, "", "ejected", "")}},
			want:   []entry{{"endpoint", "b", "active", "ejected"}},
		},
		{
			name:   "two ejections read after both: one endpoint each",
			before: upstreamAt(0, "", "", ""),
			feed: []fed{
				{change("active", "ejected"), upstreamAt(1, "ejected", "ejected", "")},
				{change("active", "ejected"), upstreamAt(1, "ejected", "ejected", "")},
			},
			want: []entry{
				{"endpoint", "a", "active", "ejected"},
				{"failover", "", "0", "1"},
				{"endpoint", "b", "active", "ejected"},
			},
		},
		{
			name:   "readmission and failback",
			before: upstreamAt(1, "ejected", "ejected", ""),
			feed: []fed{
				{change("ejected", "probation"), upstreamAt(0, "probation", "ejected", "")},
				{change("probation", "active"), upstreamAt(0, "", "ejected", "")},
			},
			want: []entry{
				{"endpoint", "a", "ejected", "probation"},
				{"failover", "", "1", "0"},
				{"endpoint", "a", "probation", "active"},
			},
		},
		{
			name:   "health apart from ejection",
			before: upstreamAt(0, "", "ejected", ""),
			feed: []fed{
				{change("healthy", "unhealthy"), upstreamAt(0, "", "unhealthy", "")}, // b: no longer ejected, and unhealthy
				{change("ejected", "probation"), upstreamAt(0, "", "unhealthy", "")}, // its own event, read later
			},
			want: []entry{
				{"health", "b", "healthy", "unhealthy"},
				{"endpoint", "", "ejected", "probation"}, // b left ejection, but not for probation: cannot tell
			},
		},
		{
			name:   "panic mode is not a failover, and leaving it to the same level is none either",
			before: upstreamAt(0, "", "", ""),
			feed: []fed{
				{change("normal", "panic"), upstreamAt(-1, "unhealthy", "unhealthy", "unhealthy")},
				{change("panic", "normal"), upstreamAt(0, "", "unhealthy", "unhealthy")},
			},
			want: []entry{{"panic", "", "normal", "panic"}, {"panic", "", "panic", "normal"}},
		},
		{
			name:   "leaving panic mode to another level is a failover",
			before: upstreamAt(0, "", "", ""),
			feed: []fed{
				{change("normal", "panic"), upstreamAt(-1, "unhealthy", "unhealthy", "unhealthy")},
				{change("panic", "normal"), upstreamAt(1, "unhealthy", "unhealthy", "")},
			},
			want: []entry{{"panic", "", "normal", "panic"}, {"panic", "", "panic", "normal"}, {"failover", "", "0", "1"}},
		},
		{
			name: "an upstream not seen before: nothing to compare with, then compared",
			feed: []fed{
				{change("active", "ejected"), upstreamAt(0, "ejected", "", "")},
				{change("active", "ejected"), upstreamAt(0, "ejected", "ejected", "")},
			},
			want: []entry{{"endpoint", "", "active", "ejected"}, {"endpoint", "b", "active", "ejected"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := NewTimeline(0)
			if tt.before != nil {
				tl.seen["shop"] = newUpstreamSeen(tt.before)
			}
			for i, f := range tt.feed {
				tl.onEventAt(f.e, f.after, t0.Add(time.Duration(i)*time.Second))
			}
			var got []entry
			for _, ev := range tl.Snapshot().Events {
				got = append(got, entry{ev.Kind, ev.Endpoint, ev.From, ev.To})
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(entry{})); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewTimelineSize(t *testing.T) {
	tests := []struct{ size, want int }{
		{-1, DefaultTimelineSize}, {0, DefaultTimelineSize}, {1, 1}, {7, 7},
		{maxTimelineSize, maxTimelineSize}, {maxTimelineSize + 1, maxTimelineSize},
	}
	for _, tt := range tests {
		if got := NewTimeline(tt.size).Snapshot().Capacity; got != tt.want {
			t.Errorf("NewTimeline(%d): got capacity %d; want %d", tt.size, got, tt.want)
		}
	}
}

// TestTimelineBounds checks that what a timeline holds stays bounded: long
// errors are cut, and the fallback index does not grow with route names.
func TestTimelineBounds(t *testing.T) {
	tl := NewTimeline(4)
	long := strings.Repeat("é", maxEventText) // two bytes each
	tl.reloadAt(errors.New(long), t0)
	got := tl.Snapshot().Events[0].Error
	if len(got) > maxEventText+len("…") || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("a %d-byte error kept as %d bytes (valid UTF-8 %v); want at most %d, cut at a rune with …",
			len(long), len(got), utf8.ValidString(got), maxEventText+len("…"))
	}
	for i := range 1000 {
		tl.fallbackAt(ScopeRoute, "route-"+strings.Repeat("x", i%50)+string(rune('a'+i%26)), "5xx", "", t0)
	}
	if n := len(tl.fallbacks); n > 4 {
		t.Errorf("after 1000 fallbacks of many routes: %d keys in the fallback index; want at most the ring's 4", n)
	}
	if s := tl.Snapshot(); len(s.Events) != 4 || s.Recorded < 4 {
		t.Errorf("got %d events, %d recorded; want 4 kept", len(s.Events), s.Recorded)
	}
}

// TestTimelineOnRequest records fallback answers only.
func TestTimelineOnRequest(t *testing.T) {
	tl := NewTimeline(0)
	tl.OnRequest(proxy.RequestInfo{Route: "shop", Status: 200})
	tl.OnRequest(proxy.RequestInfo{Route: "shop", Status: 503, Reason: "no_healthy_upstream"})
	tl.OnRequest(proxy.RequestInfo{Route: "shop", Status: 200, Reason: "5xx", Fallback: true})
	s := tl.Snapshot()
	if len(s.Events) != 1 || s.Events[0].Kind != TimelineFallback || s.Events[0].Subject != "shop" || s.Events[0].Reason != "5xx" {
		t.Errorf("got %+v; want one fallback entry of route shop for 5xx", s.Events)
	}
}

// timelineConfig is the env's shop and ledger (see envConfig) and upstream
// standby: primary at priority 0 and spare at priority 1, with outlier
// detection that may eject every endpoint.
const timelineConfig = `listen: 127.0.0.1:0
upstreams:
  shop:
    balancer: round_robin
    endpoints:
      - address: %[1]s
      - address: %[2]s
    outlier_detection:
      consecutive_failures: 2
      base_ejection_time: 10m
      max_ejection_time: 10m
      max_ejection_percent: 50
  ledger:
    endpoints:
      - address: %[3]s
    outlier_detection: {disabled: true}
    circuit_breaker: {consecutive_failures: 2, open_duration: 10m}
  standby:
    endpoints:
      - address: %[4]s
      - address: %[5]s
        priority: 1
    outlier_detection:
      consecutive_failures: 2
      base_ejection_time: 10m
      max_ejection_time: 10m
      max_ejection_percent: 100
routes:
  - name: shop
    match: {path_prefix: /shop}
    upstream: shop
    retry: {attempts: 2, retry_on: [5xx], backoff: {base: 1ms, max: 2ms}}
  - name: ledger
    match: {path_prefix: /ledger}
    upstream: ledger
    retry: {attempts: 1}
  - name: standby
    match: {path_prefix: /standby}
    upstream: standby
    retry: {attempts: 1}
`

// timelineEnv is an env whose proxy feeds a Timeline as cmd/holdfast does:
// the timeline is a Listener beside the metrics, sees every request, and
// records every reload. Its backends all answer well until a test breaks
// one.
type timelineEnv struct {
	*env
	timeline       *Timeline
	primary, spare *testkit.Backend
}

func startTimelineEnv(t *testing.T) *timelineEnv {
	t.Helper()
	e := &timelineEnv{
		env: &env{
			t:        t,
			good:     testkit.Start(t, testkit.Config{Name: "good"}),
			flaky:    testkit.Start(t, testkit.Config{Name: "flaky"}),
			bad:      testkit.Start(t, testkit.Config{Name: "bad"}),
			logs:     &syncBuffer{},
			requests: make(chan proxy.RequestInfo, 1024),
			metrics:  NewMetrics(),
		},
		timeline: NewTimeline(0),
		primary:  testkit.Start(t, testkit.Config{Name: "primary"}),
		spare:    testkit.Start(t, testkit.Config{Name: "spare"}),
	}
	cfg, err := config.Parse(fmt.Appendf(nil, timelineConfig, e.good.URL(), e.flaky.URL(), e.bad.URL(), e.primary.URL(), e.spare.URL()))
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	p, err := proxy.New(cfg, proxy.Options{
		Listener: holdfast.Listeners{e.metrics, e.timeline},
		OnRequest: func(info proxy.RequestInfo) {
			e.metrics.OnRequest(info)
			e.timeline.OnRequest(info)
			e.requests <- info
		},
	})
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	t.Cleanup(p.Close)
	e.proxy = p
	e.metrics.Watch(p)
	e.timeline.Watch(p)
	ps, err := proxy.NewServer(p, cfg, nil)
	if err != nil {
		t.Fatalf("proxy.NewServer: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- ps.Serve() }()
	t.Cleanup(func() {
		ps.Shutdown(context.Background())
		<-served
	})
	e.data = "http://" + ps.Addrs()[0].String()
	srv, err := New(Config{
		Admin:    config.Admin{Listen: "127.0.0.1:0"},
		Proxy:    p,
		Metrics:  e.metrics,
		Timeline: e.timeline,
		Reload: func(context.Context) error {
			e.reloads.Add(1)
			var err error
			if p := e.reloadErr.Load(); p != nil {
				err = *p
			}
			e.timeline.RecordReload(err)
			return err
		},
	})
	if err != nil {
		t.Fatalf("admin.New: %v", err)
	}
	t.Cleanup(srv.Close)
	e.srv, e.base = srv, "http://"+srv.Addr()
	return e
}

// fault breaks things as the page test wants them: the flaky endpoint
// ejected, the ledger breaker open after answering well, the standby
// upstream failed over to its spare, and two reloads, one refused.
func (e *timelineEnv) fault() {
	e.t.Helper()
	for range 3 {
		if got := e.send("/ledger/balance"); got != 200 {
			e.t.Fatalf("GET /ledger before the fault: got %d; want 200", got)
		}
	}
	e.flaky.Fail(500)
	e.bad.Fail(500)
	e.breakThings()
	for range 2 {
		e.send("/ledger/balance") // refused by the open breaker
	}
	e.primary.Fail(500)
	for n := 1; e.upstream("standby").ActivePriority != 1; n++ {
		e.send("/standby/x")
		if n > 20 {
			e.t.Fatalf("standby did not fail over to priority 1 after %d requests", n)
		}
	}
	if got := e.send("/standby/x"); got != 200 {
		e.t.Fatalf("GET /standby after the failover: got %d; want 200 from the spare", got)
	}
	if status, body, _ := e.do("POST", "/reload", nil, nil); status != 200 {
		e.t.Fatalf("POST /reload: got %d %s; want 200", status, body)
	}
	e.setReloadErr(errReloadRejected)
	if status, body, _ := e.do("POST", "/reload", nil, nil); status != 422 {
		e.t.Fatalf("POST /reload, refused: got %d %s; want 422", status, body)
	}
}

// TestTimelineJSON breaks things on a live proxy and reads GET
// /status/timeline.
func TestTimelineJSON(t *testing.T) {
	e := startTimelineEnv(t)
	e.fault()
	status, body, _ := e.do("GET", "/status/timeline", nil, nil)
	if status != 200 {
		t.Fatalf("GET /status/timeline: got %d %s", status, body)
	}
	var s TimelineSnapshot
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("GET /status/timeline: %v\n%s", err, body)
	}
	type entry struct{ Kind, Subject, Endpoint, From, To, Severity string }
	var got []entry
	for _, ev := range s.Events {
		got = append(got, entry{ev.Kind, ev.Subject, ev.Endpoint, ev.From, ev.To, ev.Severity})
	}
	want := []entry{
		{"endpoint", "shop", e.flaky.URL(), "active", "ejected", "bad"},
		{"breaker", "ledger", "", "closed", "open", "bad"},
		{"endpoint", "standby", e.primary.URL(), "active", "ejected", "bad"},
		{"failover", "standby", "", "0", "1", "bad"},
		{"reload", "", "", "", "ok", "good"},
		{"reload", "", "", "", "failed", "bad"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("timeline (-want +got):\n%s\n%s", diff, body)
	}
	if n := len(s.Events); n > 0 && s.Events[n-1].Error != errReloadRejected.Error() {
		t.Errorf("refused reload: got error %q; want %q", s.Events[n-1].Error, errReloadRejected)
	}
	if s.Capacity != DefaultTimelineSize || s.Recorded != int64(len(s.Events)) {
		t.Errorf("got capacity %d, recorded %d; want %d, %d", s.Capacity, s.Recorded, DefaultTimelineSize, len(s.Events))
	}
}
