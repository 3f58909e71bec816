package slo

import (
	"slices"
	"sync"
	"time"
)

// Tracker counts one objective's events and computes its error budget and
// burn rates. It is safe for concurrent use; its zero value is not usable,
// use [New].
type Tracker struct {
	cfg Config
	// windows are the windows read: the objective's, then each tier's long
	// and short; ringOf[i] is the ring windows[i] is read from.
	windows []time.Duration
	ringOf  []int
	counts  *counts
}

// counts are a tracker's rings. A reload's new tracker of an unchanged
// objective takes over the old one's.
type counts struct {
	// mu guards rings.
	mu    sync.Mutex
	rings []*ring // by width, nil for widths no window uses
	// history is the objective's sampled states (history.go), under a
	// lock of its own.
	history history
}

// New returns a tracker of the objective c, or c's [Config.Validate] error.
func New(c Config) (*Tracker, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	t := &Tracker{cfg: c, counts: &counts{rings: make([]*ring, len(widths))}}
	t.cfg.Tiers = slices.Clone(c.tiers())
	t.windows = append(t.windows, c.Window)
	for _, tier := range t.cfg.Tiers {
		t.windows = append(t.windows, tier.Long, tier.Short)
	}
	longest := make([]time.Duration, len(widths))
	for _, w := range t.windows {
		i := widthFor(w)
		t.ringOf = append(t.ringOf, i)
		longest[i] = max(longest[i], w)
	}
	for i, l := range longest {
		if l > 0 {
			t.counts.rings[i] = newRing(widths[i], l)
		}
	}
	return t, nil
}

// Config returns the objective, its tiers filled in.
func (t *Tracker) Config() Config { return t.cfg }

// Buckets returns how many buckets t holds, the measure of its memory.
func (t *Tracker) Buckets() int {
	n := 0
	for _, r := range t.counts.rings {
		if r != nil {
			n += len(r.buckets)
		}
	}
	return n
}

// Record counts an event that ended now with the given status and
// duration.
func (t *Tracker) Record(status int, d time.Duration) { t.RecordAt(status, d, time.Now()) }

// RecordAt counts an event that ended at now with the given status and
// duration.
func (t *Tracker) RecordAt(status int, d time.Duration, now time.Time) {
	good := t.cfg.Good.IsGood(status, d)
	ns := now.UnixNano()
	c := t.counts
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.rings {
		if r != nil {
			r.add(ns, good)
		}
	}
}

// Status is an objective's state at a moment.
type Status struct {
	Name      string  `json:"name"`
	Route     string  `json:"route"`
	Objective float64 `json:"objective"` // percent
	// WindowSeconds is the objective's window.
	WindowSeconds float64 `json:"window_seconds"`
	// Events and BadEvents are counted over the window (the oldest bucket
	// in part, so they may be fractions).
	Events    float64 `json:"events"`
	BadEvents float64 `json:"bad_events"`
	// ErrorBudgetRemaining is 1 - (bad share over the window) / (1 -
	// objective): 1 with nothing spent (or no events), 0 when the budget
	// is gone, below 0 past it.
	ErrorBudgetRemaining float64      `json:"error_budget_remaining"`
	Tiers                []TierStatus `json:"tiers"`
}

// TierStatus is a tier's burn rates at a moment.
type TierStatus struct {
	Tier               string  `json:"tier"`
	BurnRate           float64 `json:"burn_rate"` // the threshold
	LongWindowSeconds  float64 `json:"long_window_seconds"`
	ShortWindowSeconds float64 `json:"short_window_seconds"`
	// LongBurnRate and ShortBurnRate are the bad share over each window
	// divided by the budget; 0 with no events.
	LongBurnRate  float64 `json:"long_burn_rate"`
	ShortBurnRate float64 `json:"short_burn_rate"`
	// Firing is true while both exceed BurnRate.
	Firing bool `json:"firing"`
}

// Status returns the objective's state now.
func (t *Tracker) Status() Status { return t.StatusAt(time.Now()) }

// StatusAt returns the objective's state at now: the windows end at now.
func (t *Tracker) StatusAt(now time.Time) Status {
	ns := now.UnixNano()
	good := make([]float64, len(t.windows))
	total := make([]float64, len(t.windows))
	c := t.counts
	c.mu.Lock()
	for i, w := range t.windows {
		good[i], total[i] = c.rings[t.ringOf[i]].sum(ns, int64(w))
	}
	c.mu.Unlock()

	budget := t.cfg.Budget()
	burn := func(i int) float64 {
		if total[i] <= 0 {
			return 0
		}
		bad := max(total[i]-good[i], 0)
		return bad / total[i] / budget
	}
	st := Status{
		Name: t.cfg.Name, Route: t.cfg.Route, Objective: t.cfg.Objective,
		WindowSeconds: t.cfg.Window.Seconds(),
		Events:        total[0], BadEvents: max(total[0]-good[0], 0),
		ErrorBudgetRemaining: 1 - burn(0),
		Tiers:                make([]TierStatus, len(t.cfg.Tiers)),
	}
	for i, tier := range t.cfg.Tiers {
		long, short := burn(1+2*i), burn(2+2*i)
		st.Tiers[i] = TierStatus{
			Tier: tier.Name, BurnRate: tier.BurnRate,
			LongWindowSeconds: tier.Long.Seconds(), ShortWindowSeconds: tier.Short.Seconds(),
			LongBurnRate: long, ShortBurnRate: short,
			Firing: long > tier.BurnRate && short > tier.BurnRate,
		}
	}
	return st
}
