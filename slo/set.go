package slo

import (
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
)

// Set holds a config's objectives and feeds each the events of its route.
// It is safe for concurrent use. Its zero value holds no objectives; give
// it some with [Set.Configure].
type Set struct {
	// mu serialises Configure.
	mu sync.Mutex
	// state is replaced whole by Configure; recording reads it without
	// the lock.
	state atomic.Pointer[setState]
}

type setState struct {
	all     []*Tracker            // in config order
	byRoute map[string][]*Tracker // the trackers of each route
}

// NewSet returns a set of the objectives cfgs, or the first error of their
// [Config.Validate] (or a name used twice).
func NewSet(cfgs []Config) (*Set, error) {
	s := &Set{}
	if err := s.Configure(cfgs); err != nil {
		return nil, err
	}
	return s, nil
}

// Configure makes the set hold the objectives cfgs, as on a config reload.
// An objective whose name, route, good events, window and tiers are all as
// before keeps its counts (its objective, the percentage, may change); any
// other starts empty. On an error the set is unchanged.
func (s *Set) Configure(cfgs []Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := map[string]*Tracker{}
	if st := s.state.Load(); st != nil {
		for _, t := range st.all {
			old[t.cfg.Name] = t
		}
	}
	next := &setState{byRoute: map[string][]*Tracker{}}
	seen := map[string]bool{}
	for i, c := range cfgs {
		if seen[c.Name] {
			return fmt.Errorf("slo: objective %d: name %q used twice", i, c.Name)
		}
		seen[c.Name] = true
		t, err := New(c)
		if err != nil {
			return fmt.Errorf("slo: objective %q: %w", c.Name, err)
		}
		if o := old[c.Name]; o != nil && sameCounts(o.cfg, t.cfg) {
			// A request that loaded the old state may still record
			// through the old tracker; both count into the same rings,
			// under the same lock.
			t.counts = o.counts
		}
		next.all = append(next.all, t)
		next.byRoute[c.Route] = append(next.byRoute[c.Route], t)
	}
	s.state.Store(next)
	return nil
}

// sameCounts reports whether a tracker of b may take over the counts of one
// of a: everything but the percentage is the same.
func sameCounts(a, b Config) bool {
	a.Objective, b.Objective = 0, 0
	return reflect.DeepEqual(a, b)
}

// RecordAt counts an event of route that ended at now, for every objective
// of the route.
func (s *Set) RecordAt(route string, status int, d time.Duration, now time.Time) {
	st := s.state.Load()
	if st == nil {
		return
	}
	for _, t := range st.byRoute[route] {
		t.RecordAt(status, d, now)
	}
}

// Record counts an event of route that ended now. It reads the clock only
// for a route with objectives.
func (s *Set) Record(route string, status int, d time.Duration) {
	if st := s.state.Load(); st != nil && len(st.byRoute[route]) > 0 {
		s.RecordAt(route, status, d, time.Now())
	}
}

// StatusAt returns every objective's state at now, in config order.
func (s *Set) StatusAt(now time.Time) []Status {
	st := s.state.Load()
	if st == nil {
		return []Status{}
	}
	out := make([]Status, len(st.all))
	for i, t := range st.all {
		out[i] = t.StatusAt(now)
	}
	return out
}

// Status returns every objective's state now.
func (s *Set) Status() []Status { return s.StatusAt(time.Now()) }

// Trackers returns the objectives' trackers, in config order.
func (s *Set) Trackers() []*Tracker {
	st := s.state.Load()
	if st == nil {
		return nil
	}
	return append([]*Tracker(nil), st.all...)
}
