package alert

import (
	"cmp"
	"slices"
	"time"

	"github.com/holdfast-dev/holdfast/slo"
)

// Machine decides, evaluation by evaluation, which alerts fire, remind,
// refresh and resolve. It keeps one episode per firing alert and no
// history. Its zero value is not usable; use [NewMachine]. It is not safe
// for concurrent use: one goroutine steps it ([Manager] does).
type Machine struct {
	repeat, resend time.Duration
	active         map[Alert]*episode
}

// episode is a firing alert's state.
type episode struct {
	since    time.Time
	notified time.Time // the last KindFiring or KindReminder
	resent   time.Time // the last change of any kind
	last     Change    // the last change made, for a resolution without a status
}

// NewMachine returns a machine that reminds every repeat and refreshes
// every resend while an alert fires (zero: the defaults).
func NewMachine(repeat, resend time.Duration) *Machine {
	if repeat <= 0 {
		repeat = DefaultRepeatInterval
	}
	if resend <= 0 {
		resend = DefaultResendInterval
	}
	return &Machine{repeat: repeat, resend: resend, active: map[Alert]*episode{}}
}

// Firing returns how many alerts fire.
func (m *Machine) Firing() int { return len(m.active) }

// FiringTier reports whether any objective's tier of the given name fires
// (a canary's alert of that tier does not count).
func (m *Machine) FiringTier(tier string) bool {
	for a := range m.active {
		if a.SLO != "" && a.Tier == tier {
			return true
		}
	}
	return false
}

// Active returns the alerts that fire with their episodes' starts, by
// objective and tier.
func (m *Machine) Active() []Firing {
	out := make([]Firing, 0, len(m.active))
	for a, ep := range m.active {
		out = append(out, Firing{Alert: a, Since: ep.since})
	}
	slices.SortFunc(out, func(x, y Firing) int {
		return compareAlerts(x.Alert, y.Alert)
	})
	return out
}

// compareAlerts orders alerts by objective, route, candidate and tier.
func compareAlerts(x, y Alert) int {
	return cmp.Or(cmp.Compare(x.SLO, y.SLO), cmp.Compare(x.Route, y.Route), cmp.Compare(x.Canary, y.Canary), cmp.Compare(x.Tier, y.Tier))
}

// Step takes the objectives' states and the canaries' rollouts at now and
// returns what changed: a KindFiring for a tier that began to fire (or a
// rollout that was rolled back), a KindResolved for one that stopped (or
// whose objective, tier or canary is gone), a KindReminder for one that
// fired RepeatInterval since the last notification, and a KindRefresh for
// one that fired ResendInterval since the last change. At most one change
// per alert, in the order of sts and their tiers, then of canaries,
// resolutions of vanished alerts last. A canary's alert has canaryTier.
func (m *Machine) Step(now time.Time, sts []slo.Status, canaries []Canary, canaryTier string) []Change {
	var out []Change
	seen := make(map[Alert]bool, len(m.active))
	for _, st := range sts {
		for _, ts := range st.Tiers {
			a := Alert{SLO: st.Name, Route: st.Route, Tier: ts.Tier}
			c := Change{Alert: a, At: now, Threshold: ts.BurnRate,
				Long:         time.Duration(ts.LongWindowSeconds * float64(time.Second)),
				Short:        time.Duration(ts.ShortWindowSeconds * float64(time.Second)),
				LongBurnRate: ts.LongBurnRate, ShortBurnRate: ts.ShortBurnRate,
				ErrorBudgetRemaining: st.ErrorBudgetRemaining}
			if ch, ok := m.step(now, c, ts.Firing, seen); ok {
				out = append(out, ch)
			}
		}
	}
	for _, cn := range canaries {
		r := cn
		a := Alert{Route: cn.Route, Tier: canaryTier, Canary: cn.Candidate}
		if ch, ok := m.step(now, Change{Alert: a, At: now, Rollout: &r}, cn.RolledBack, seen); ok {
			out = append(out, ch)
		}
	}
	gone := len(out)
	for a, ep := range m.active {
		if !seen[a] {
			c := ep.last
			c.Kind, c.At = KindResolved, now
			delete(m.active, a)
			out = append(out, c)
		}
	}
	slices.SortFunc(out[gone:], func(x, y Change) int { return compareAlerts(x.Alert, y.Alert) })
	return out
}

// step decides the change of one alert whose state at now is c, firing or
// not, and marks it seen.
func (m *Machine) step(now time.Time, c Change, firing bool, seen map[Alert]bool) (Change, bool) {
	a := c.Alert
	ep := m.active[a]
	if ep != nil {
		seen[a] = true
	}
	switch {
	case firing && ep == nil:
		c.Kind, c.Since = KindFiring, now
		m.active[a] = &episode{since: now, notified: now, resent: now, last: c}
		seen[a] = true
	case firing && !now.Before(ep.notified.Add(m.repeat)):
		c.Kind, c.Since = KindReminder, ep.since
		ep.notified, ep.resent, ep.last = now, now, c
	case firing && !now.Before(ep.resent.Add(m.resend)):
		c.Kind, c.Since = KindRefresh, ep.since
		ep.resent, ep.last = now, c
	case firing:
		ep.last = c
		return c, false
	case ep != nil:
		c.Kind, c.Since = KindResolved, ep.since
		delete(m.active, a)
	default:
		return c, false
	}
	return c, true
}
