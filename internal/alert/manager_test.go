package alert

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/holdfast-dev/holdfast/retry"
	"github.com/holdfast-dev/holdfast/slo"
)

// inbox is an in-memory receiver end: a RoundTripper that keeps each
// request's body and answers by fail (nil: 200).
type inbox struct {
	mu     sync.Mutex
	bodies map[string][]string // by URL path
	fail   func(path string, n int) error
}

func (b *inbox) RoundTrip(r *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	if b.bodies == nil {
		b.bodies = map[string][]string{}
	}
	n := len(b.bodies[r.URL.Path])
	b.bodies[r.URL.Path] = append(b.bodies[r.URL.Path], string(body))
	fail := b.fail
	b.mu.Unlock()
	if fail != nil {
		if err := fail(r.URL.Path, n); err != nil {
			return nil, err
		}
	}
	return &http.Response{StatusCode: 200, Status: "200 OK", Body: http.NoBody, Request: r}, nil
}

func (b *inbox) got(path string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.bodies[path]...)
}

// p0Set is an objective of 99% on route r with P0 at burn rate 2 over 5m
// and 1m, and no other tier.
func p0Set(t *testing.T) *slo.Set {
	t.Helper()
	s, err := slo.NewSet([]slo.Config{{Name: "avail", Route: "r", Objective: 99, Window: time.Hour,
		Good: slo.Good{StatusBelow: 500}, Tiers: []slo.Tier{{Name: "P0", BurnRate: 2, Long: 5 * time.Minute, Short: time.Minute}}}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testManager(t *testing.T, set *slo.Set, b *inbox, cfg Config) *Manager {
	t.Helper()
	cfg.Instance = "proxy-1"
	cfg.Status = set.StatusAt
	cfg.Client = &http.Client{Transport: b}
	if cfg.Receivers == nil {
		cfg.Receivers = []Receiver{
			{Name: "oncall", Alertmanager: "http://am.test/", Tiers: []string{"P0"}},
			{Name: "hook", Webhook: "http://hook.test/hook", Tiers: []string{"P0"}},
		}
	}
	cfg.Context = func(route string) Context {
		return Context{Route: route, Upstreams: []Upstream{{Name: "u", Weight: 1, Breaker: "open", Endpoints: 2}},
			LocalReplies: []ReasonCount{{Reason: "breaker_open", Count: 7}}}
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// traffic records n requests of status at now.
func traffic(set *slo.Set, n, status int) {
	for range n {
		set.Record("r", status, time.Millisecond)
	}
}

func TestManagerEpisodeDelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		set := p0Set(t)
		b := &inbox{}
		m := testManager(t, set, b, Config{RepeatInterval: time.Hour, ResendInterval: time.Minute})
		start := time.Now()
		// Good traffic, then an outage of a minute, then good traffic:
		// one step of 10s each, 100 requests a step.
		for i := range 60 {
			status := 200
			if i >= 6 && i < 12 {
				status = 503
			}
			traffic(set, 100, status)
			time.Sleep(10 * time.Second)
			m.EvaluateAt(time.Now())
		}
		synctest.Wait()
		hooks := b.got("/hook")
		var kinds []string
		var firing WebhookPayload
		for _, h := range hooks {
			var p WebhookPayload
			if err := json.Unmarshal([]byte(h), &p); err != nil {
				t.Fatalf("webhook body %q: %v", h, err)
			}
			kinds = append(kinds, string(p.Kind))
			if p.Kind == KindFiring {
				firing = p
			}
		}
		if got, want := strings.Join(kinds, ","), "firing,resolved"; got != want {
			t.Fatalf("webhook got %s; want %s", got, want)
		}
		// The outage began at 60s; the first evaluation after it at 70s
		// sees both windows over 2% (the long one at 100/700).
		if got, want := firing.StartsAt.Sub(start.UTC()), 70*time.Second; got != want {
			t.Errorf("fired %s after start; want %s", got, want)
		}
		wantLabels := map[string]string{"alertname": "HoldfastSLOBurnP0", "slo": "avail", "route": "r", "tier": "P0", "severity": "critical", "instance": "proxy-1"}
		for k, v := range wantLabels {
			if firing.Labels[k] != v {
				t.Errorf("label %s: got %q; want %q", k, firing.Labels[k], v)
			}
		}
		if !strings.Contains(firing.Description, "breaker open") || !strings.Contains(firing.Description, "breaker_open 7") {
			t.Errorf("description lacks the context: %q", firing.Description)
		}
		ams := b.got("/api/v2/alerts")
		if len(ams) < 3 {
			t.Fatalf("alertmanager got %d posts; want the firing, refreshes and the resolution", len(ams))
		}
		var last []AlertmanagerAlert
		if err := json.Unmarshal([]byte(ams[len(ams)-1]), &last); err != nil || len(last) != 1 {
			t.Fatalf("last alertmanager body %q: %v", ams[len(ams)-1], err)
		}
		if !last[0].EndsAt.Before(time.Now().Add(time.Second)) || last[0].Labels["alertname"] != "HoldfastSLOBurnP0" {
			t.Errorf("last post: got endsAt %s labels %v; want ended now", last[0].EndsAt, last[0].Labels)
		}
		for _, s := range m.Stats() {
			if s.Failed != 0 || s.Overflow != 0 || s.Queued != 0 {
				t.Errorf("stats %+v; want nothing failed, dropped or queued", s)
			}
		}
	})
}

func TestManagerRetriesThenDrops(t *testing.T) {
	tests := []struct {
		name                         string
		failures                     int // sends that fail before one succeeds
		wantSent, wantFail, wantRetr uint64
		wantSends                    int
	}{
		{"succeeds on the third send", 2, 1, 0, 2, 3},
		{"dropped after 4 sends", 100, 0, 1, 3, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				set := p0Set(t)
				b := &inbox{fail: func(_ string, n int) error {
					if n < tt.failures {
						return errors.New("connection refused")
					}
					return nil
				}}
				m := testManager(t, set, b, Config{MaxAttempts: 4,
					Backoff:   retry.BackoffConfig{Base: time.Second, Max: 4 * time.Second, Jitter: retry.JitterNone},
					Receivers: []Receiver{{Name: "hook", Webhook: "http://hook.test/hook", Tiers: []string{"P0"}}}})
				traffic(set, 10, 503)
				start := time.Now()
				if n := m.EvaluateAt(start); len(n) != 1 {
					t.Fatalf("got %d notifications; want 1", len(n))
				}
				// Backoff without jitter: 1s, 2s, 4s.
				time.Sleep(time.Minute)
				synctest.Wait()
				s := m.Stats()[0]
				if s.Sent != tt.wantSent || s.Failed != tt.wantFail || s.Retries != tt.wantRetr {
					t.Errorf("got sent %d failed %d retries %d; want %d, %d, %d", s.Sent, s.Failed, s.Retries, tt.wantSent, tt.wantFail, tt.wantRetr)
				}
				if got := len(b.got("/hook")); got != tt.wantSends {
					t.Errorf("got %d sends; want %d", got, tt.wantSends)
				}
			})
		})
	}
}

func TestManagerNeverBlocksOnAStuckReceiver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		set := p0Set(t)
		stuck := make(chan struct{})
		b := &inbox{fail: func(string, int) error { <-stuck; return nil }}
		m := testManager(t, set, b, Config{Queue: 2, Timeout: time.Hour, ResendInterval: time.Minute,
			Receivers: []Receiver{{Name: "oncall", Alertmanager: "http://am.test", Tiers: []string{"P0"}}}})
		// The first post hangs; two wait in the queue; the rest overflow.
		start := time.Now()
		for i := range 6 {
			at := start.Add(time.Duration(i) * time.Minute)
			set.RecordAt("r", 503, time.Millisecond, at)
			m.EvaluateAt(at)
			synctest.Wait() // the sender takes what it can
		}
		if time.Since(start) != 0 {
			t.Errorf("evaluating took %s of the bubble's time; want 0", time.Since(start))
		}
		synctest.Wait()
		s := m.Stats()[0]
		if s.Overflow != 3 || s.Queued != 2 {
			t.Errorf("got overflow %d queued %d; want 3 and 2", s.Overflow, s.Queued)
		}
		close(stuck)
	})
}

func TestReceiverTiersAndKinds(t *testing.T) {
	am := newSender(Receiver{Name: "am", Alertmanager: "http://x", Tiers: []string{"P0", "P1"}}, &Config{Queue: 1})
	hook := newSender(Receiver{Name: "hook", Webhook: "http://y", Tiers: []string{"P2"}}, &Config{Queue: 1})
	tests := []struct {
		tier     string
		kind     Kind
		am, hook bool
	}{
		{"P0", KindFiring, true, false},
		{"P1", KindRefresh, true, false},
		{"P2", KindRefresh, false, false},
		{"P2", KindReminder, false, true},
		{"P2", KindResolved, false, true},
		{"P3", KindFiring, false, false},
	}
	for _, tt := range tests {
		n := Notification{Change: Change{Alert: Alert{Tier: tt.tier}, Kind: tt.kind}}
		if got := am.wants(n); got != tt.am {
			t.Errorf("alertmanager wants %s %s: got %v; want %v", tt.tier, tt.kind, got, tt.am)
		}
		if got := hook.wants(n); got != tt.hook {
			t.Errorf("webhook wants %s %s: got %v; want %v", tt.tier, tt.kind, got, tt.hook)
		}
	}
	if am.url != "http://x/api/v2/alerts" {
		t.Errorf("alertmanager URL: got %q", am.url)
	}
}

func TestManagerBurningFollowsP0(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		set := p0Set(t)
		m := testManager(t, set, &inbox{}, Config{})
		start := time.Now()
		steps := []struct {
			at     time.Duration
			status int
			want   bool
		}{{0, 200, false}, {10 * time.Second, 503, true}, {5 * time.Minute, 200, false}}
		for _, s := range steps {
			at := start.Add(s.at)
			for range 100 {
				set.RecordAt("r", s.status, time.Millisecond, at)
			}
			m.EvaluateAt(at)
			if got := m.Burning(); got != s.want {
				t.Errorf("at %s after status %d: Burning %v; want %v", s.at, s.status, got, s.want)
			}
		}
	})
}

func TestSetReceiversKeepsTheUnchanged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		set := p0Set(t)
		b := &inbox{}
		hook := Receiver{Name: "hook", Webhook: "http://hook.test/hook", Tiers: []string{"P0"}}
		m := testManager(t, set, b, Config{Receivers: []Receiver{hook}})
		set.Record("r", 503, time.Millisecond)
		m.EvaluateAt(time.Now())
		synctest.Wait()
		// A reload keeps hook (its count of 1 sent) and adds tickets; the
		// episode carries over, so nobody is told again.
		tickets := Receiver{Name: "tickets", Webhook: "http://tickets.test/t", Tiers: []string{"P0"}}
		m.SetReceivers([]Receiver{tickets, hook})
		time.Sleep(10 * time.Second)
		set.Record("r", 503, time.Millisecond)
		if n := m.EvaluateAt(time.Now()); len(n) != 0 {
			t.Errorf("after the reload: %d notifications; want none (the episode goes on)", len(n))
		}
		synctest.Wait()
		st := m.Stats()
		if len(st) != 2 || st[0].Receiver != "tickets" || st[1].Receiver != "hook" || st[1].Sent != 1 || st[0].Sent != 0 {
			t.Errorf("stats after the reload: %+v; want tickets (0 sent), then hook (1 sent)", st)
		}
		// Dropping hook removes it from the stats (and stops its
		// goroutine).
		m.SetReceivers([]Receiver{tickets})
		if st := m.Stats(); len(st) != 1 || st[0].Receiver != "tickets" {
			t.Errorf("stats after dropping hook: %+v", st)
		}
	})
}

// TestNilManagerBurnsNothing: the proxy may ask before the alerts exist
// (a durable route delivers from proxy.New on).
func TestNilManagerBurnsNothing(t *testing.T) {
	var m *Manager
	if m.Burning() {
		t.Error("a nil Manager burns; want false")
	}
}
