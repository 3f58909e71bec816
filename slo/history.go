package slo

import (
	"sync"
	"time"
)

// HistoryPoints is how many samples a tracker's history holds: an hour at
// the alerts' default interval of 10 seconds, 6 hours at one minute.
const HistoryPoints = 360

// Point is one sample of an objective's history: its error budget left
// and each tier's burn rates, as [Status] gave them at Time.
type Point struct {
	Time                 time.Time
	ErrorBudgetRemaining float64
	// Long and Short are the tiers' burn rates, in the order of the
	// objective's tiers.
	Long, Short []float64
}

// history is a ring of the latest HistoryPoints samples. A reload's new
// tracker of an unchanged objective takes it over with the counts.
type history struct {
	mu     sync.Mutex
	points []Point // ring, next is the oldest once full
	next   int
}

func (h *history) add(p Point) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.points); n > 0 {
		// While the ring fills, next is 0 and the last is at n-1.
		last := h.points[(h.next+n-1)%n]
		if !p.Time.After(last.Time) {
			return // the clock stepped back, or a second sample of one moment
		}
	}
	if len(h.points) < HistoryPoints {
		h.points = append(h.points, p)
		return
	}
	h.points[h.next] = p
	h.next = (h.next + 1) % HistoryPoints
}

func (h *history) snapshot() []Point {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Point, 0, len(h.points))
	out = append(out, h.points[h.next:]...)
	return append(out, h.points[:h.next]...)
}

// SampleAt computes the objective's state at now, as [Tracker.StatusAt]
// does, and keeps it in the tracker's history: the samples [Tracker.History]
// returns. Sampling is the caller's to pace (the proxy samples at every
// alert evaluation); a sample no later than the last one is not kept.
func (t *Tracker) SampleAt(now time.Time) Status {
	st := t.StatusAt(now)
	p := Point{Time: now, ErrorBudgetRemaining: st.ErrorBudgetRemaining,
		Long: make([]float64, len(st.Tiers)), Short: make([]float64, len(st.Tiers))}
	for i, ts := range st.Tiers {
		p.Long[i], p.Short[i] = ts.LongBurnRate, ts.ShortBurnRate
	}
	t.counts.history.add(p)
	return st
}

// History returns the samples [Tracker.SampleAt] kept, oldest first: at most
// HistoryPoints of them.
func (t *Tracker) History() []Point { return t.counts.history.snapshot() }

// SampleAt samples every objective at now ([Tracker.SampleAt]) and returns
// their states, in config order, as [Set.StatusAt] does.
func (s *Set) SampleAt(now time.Time) []Status {
	st := s.state.Load()
	if st == nil {
		return []Status{}
	}
	out := make([]Status, len(st.all))
	for i, t := range st.all {
		out[i] = t.SampleAt(now)
	}
	return out
}
