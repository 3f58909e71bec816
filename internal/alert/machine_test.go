package alert

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/slo"
)

var t0 = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)

// status is objective "a" on route "r" with its P0 firing or not, and a P1
// that never fires.
func status(p0 bool) []slo.Status {
	burn := 1.0
	if p0 {
		burn = 20
	}
	return []slo.Status{{Name: "a", Route: "r", ErrorBudgetRemaining: 0.5, Tiers: []slo.TierStatus{
		{Tier: "P0", BurnRate: 14.4, LongWindowSeconds: 3600, ShortWindowSeconds: 300, LongBurnRate: burn, ShortBurnRate: burn, Firing: p0},
		{Tier: "P1", BurnRate: 6, LongWindowSeconds: 21600, ShortWindowSeconds: 1800},
	}}}
}

// kinds writes the changes of a step as "P0 firing since 0s" lines.
func kinds(cs []Change) string {
	var b []string
	for _, c := range cs {
		b = append(b, fmt.Sprintf("%s/%s %s since %s", c.SLO, c.Tier, c.Kind, c.Since.Sub(t0)))
	}
	return strings.Join(b, "; ")
}

func TestMachineEpisode(t *testing.T) {
	// Steps at explicit times with repeat 1h and resend 1m: fire once,
	// stay quiet (dedup) but refresh each minute, remind each hour,
	// resolve once, and fire anew in a second episode.
	steps := []struct {
		at     time.Duration
		firing bool
		want   string
	}{
		{0, false, ""},
		{10 * time.Second, true, "a/P0 firing since 10s"},
		{20 * time.Second, true, ""},
		{69 * time.Second, true, ""},
		{70 * time.Second, true, "a/P0 refresh since 10s"},
		{80 * time.Second, true, ""},
		{130 * time.Second, true, "a/P0 refresh since 10s"},
		{time.Hour + 9*time.Second, true, "a/P0 refresh since 10s"},
		{time.Hour + 10*time.Second, true, "a/P0 reminder since 10s"},
		{time.Hour + 20*time.Second, true, ""},
		{time.Hour + 30*time.Second, false, "a/P0 resolved since 10s"},
		{time.Hour + 40*time.Second, false, ""},
		{2 * time.Hour, true, "a/P0 firing since 2h0m0s"},
	}
	m := NewMachine(time.Hour, time.Minute)
	for _, s := range steps {
		got := kinds(m.Step(t0.Add(s.at), status(s.firing), nil, ""))
		if got != s.want {
			t.Errorf("at %s (firing %v): got %q; want %q", s.at, s.firing, got, s.want)
		}
	}
	if !m.FiringTier("P0") || m.FiringTier("P1") || m.Firing() != 1 {
		t.Errorf("FiringTier(P0) %v, FiringTier(P1) %v, Firing %d; want true, false, 1", m.FiringTier("P0"), m.FiringTier("P1"), m.Firing())
	}
}

func TestMachineResolvesVanishedObjective(t *testing.T) {
	m := NewMachine(0, 0)
	if got := kinds(m.Step(t0, status(true), nil, "")); got != "a/P0 firing since 0s" {
		t.Fatalf("first step: got %q", got)
	}
	// A reload removed the objective while it fired.
	cs := m.Step(t0.Add(time.Minute), nil, nil, "")
	if got := kinds(cs); got != "a/P0 resolved since 0s" {
		t.Fatalf("after the objective went: got %q; want a resolution", got)
	}
	if cs[0].Route != "r" || cs[0].Threshold != 14.4 || !cs[0].At.Equal(t0.Add(time.Minute)) {
		t.Errorf("resolution: got route %q threshold %g at %s; want r, 14.4, t0+1m", cs[0].Route, cs[0].Threshold, cs[0].At)
	}
	if m.Firing() != 0 {
		t.Errorf("Firing after: got %d; want 0", m.Firing())
	}
}

func TestMachineDefaults(t *testing.T) {
	m := NewMachine(0, 0)
	if m.repeat != DefaultRepeatInterval || m.resend != DefaultResendInterval {
		t.Errorf("got repeat %s resend %s; want %s and %s", m.repeat, m.resend, DefaultRepeatInterval, DefaultResendInterval)
	}
}
