package alert

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestMachineCanaryEpisode(t *testing.T) {
	running := Canary{Route: "checkout", Baseline: "v1", Candidate: "v2", State: "running", Step: 1, Weight: 5, StepWeight: 5}
	back := running
	back.State, back.Weight, back.RolledBack = "rolled_back", 0, true
	back.Reason = "error_rate: candidate 3.10% errors against baseline 0.10%"
	promoted := running
	promoted.State, promoted.Weight = "promoted", 100

	m := NewMachine(time.Hour, time.Minute)
	steps := []struct {
		at   time.Duration
		c    []Canary
		want string
	}{
		{0, []Canary{running}, ""},
		{10 * time.Second, []Canary{back}, "checkout/v2/P1 firing"},
		{20 * time.Second, []Canary{back}, ""}, // one notification per episode
		{70 * time.Second, []Canary{back}, "checkout/v2/P1 refresh"},
		{80 * time.Second, []Canary{promoted}, "checkout/v2/P1 resolved"}, // promoted by hand
		{90 * time.Second, []Canary{back}, "checkout/v2/P1 firing"},
		{100 * time.Second, nil, "checkout/v2/P1 resolved"}, // a reload removed the canary
	}
	for _, s := range steps {
		var got []string
		for _, c := range m.Step(t0.Add(s.at), nil, s.c, "P1") {
			got = append(got, c.Route+"/"+c.Canary+"/"+c.Tier+" "+string(c.Kind))
			if c.SLO != "" || c.Rollout == nil {
				t.Errorf("at %s: a canary change with SLO %q, rollout %v", s.at, c.SLO, c.Rollout)
			}
		}
		if g := strings.Join(got, "; "); g != s.want {
			t.Errorf("at %s: got %q; want %q", s.at, g, s.want)
		}
	}
	// A canary's P1 is not an objective's: it does not count as burning.
	m.Step(t0.Add(110*time.Second), nil, []Canary{back}, "P0")
	if m.Firing() != 1 || m.FiringTier("P0") {
		t.Errorf("Firing %d, FiringTier(P0) %v; want the canary's alert only, which burns no objective", m.Firing(), m.FiringTier("P0"))
	}
}

// TestManagerCanaryRollbackDelivered: a rollback reaches the receivers of
// the canary tier, with its own labels, the judgment's reason and the
// route's context, once for the episode, and a resolved notice after.
func TestManagerCanaryRollbackDelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		rollout := Canary{Route: "r", Baseline: "v1", Candidate: "v2", State: "running", Step: 0, Weight: 1, StepWeight: 1}
		set := p0Set(t)
		b := &inbox{}
		m := testManager(t, set, b, Config{
			Receivers: []Receiver{
				{Name: "oncall", Alertmanager: "http://am.test/", Tiers: []string{"P0", "P1"}},
				{Name: "hook", Webhook: "http://hook.test/hook", Tiers: []string{"P1"}},
				{Name: "pager", Webhook: "http://hook.test/p0", Tiers: []string{"P0"}},
			},
			Canaries: func() []Canary {
				mu.Lock()
				defer mu.Unlock()
				return []Canary{rollout}
			},
		})
		update := func(f func(c *Canary)) { mu.Lock(); f(&rollout); mu.Unlock() }
		for i := range 12 {
			switch i {
			case 3:
				update(func(c *Canary) {
					c.State, c.Weight, c.RolledBack = "rolled_back", 0, true
					c.Reason = "latency: candidate p99 0.3s is 1.50× the baseline's 0.2s"
				})
			case 8:
				update(func(c *Canary) { c.State, c.RolledBack, c.Weight = "promoted", false, 100 })
			}
			time.Sleep(10 * time.Second)
			m.EvaluateAt(time.Now())
		}
		synctest.Wait()
		if p0 := b.got("/p0"); len(p0) != 0 {
			t.Errorf("the P0 receiver got %d notifications of a P1 canary alert", len(p0))
		}
		hooks := b.got("/hook")
		if len(hooks) != 2 {
			t.Fatalf("webhook got %d notifications; want firing and resolved:\n%s", len(hooks), strings.Join(hooks, "\n"))
		}
		var firing, resolved WebhookPayload
		if err := json.Unmarshal([]byte(hooks[0]), &firing); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(hooks[1]), &resolved); err != nil {
			t.Fatal(err)
		}
		if firing.Kind != KindFiring || resolved.Kind != KindResolved || resolved.Status != "resolved" {
			t.Errorf("kinds %s, %s (%s); want firing then resolved", firing.Kind, resolved.Kind, resolved.Status)
		}
		want := map[string]string{"alertname": CanaryAlertName, "route": "r", "candidate": "v2", "tier": "P1", "severity": "warning", "instance": "proxy-1"}
		for k, v := range want {
			if firing.Labels[k] != v {
				t.Errorf("label %s: got %q; want %q", k, firing.Labels[k], v)
			}
		}
		if _, ok := firing.Labels["slo"]; ok {
			t.Errorf("a canary alert has an slo label: %v", firing.Labels)
		}
		if firing.Canary == nil || firing.Canary.Reason == "" || !strings.Contains(firing.Summary, "rolled back candidate v2") || !strings.Contains(firing.Summary, "1.50×") {
			t.Errorf("firing summary %q, canary %+v; want the rollback and its reason", firing.Summary, firing.Canary)
		}
		if !strings.Contains(firing.Description, "baseline v1") || !strings.Contains(firing.Description, "breaker open") {
			t.Errorf("description %q lacks the rollout or the route's context", firing.Description)
		}
		if !strings.Contains(resolved.Summary, "no longer rolled back: promoted") {
			t.Errorf("resolved summary %q", resolved.Summary)
		}
		var ams []AlertmanagerAlert
		posts := b.got("/api/v2/alerts")
		if len(posts) < 2 {
			t.Fatalf("alertmanager got %d posts; want the firing and the resolution", len(posts))
		}
		if err := json.Unmarshal([]byte(posts[0]), &ams); err != nil || len(ams) != 1 || ams[0].Labels["alertname"] != CanaryAlertName {
			t.Errorf("first alertmanager post %s: %v", posts[0], err)
		}
	})
}
