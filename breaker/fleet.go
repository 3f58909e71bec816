package breaker

import (
	"context"
	"time"
)

// ReasonFleet is the reason of a state change that a fleet of breakers
// decided for this one through [Breaker.OpenUntil] or [Breaker.CloseFleet]:
// the breakers of the same dependency in other processes, sharing what they
// see.
const ReasonFleet = "fleet"

// Settings returns the breaker's config with its defaults applied.
func (b *Breaker) Settings() Config { return b.cfg }

// Counted reports how the breaker classifies a call that ended with err:
// whether it is counted at all (a cancelled call is not) and whether it
// counts as a failure. It is the breaker's own rule, for a caller that
// shares the breaker's counts elsewhere and must count what it counts.
func (b *Breaker) Counted(err error) (counted, failure bool) {
	switch b.classify(err) {
	case outcomeIgnored:
		return false, false
	case outcomeFailure:
		return true, true
	}
	return true, false
}

// OpenUntil opens the breaker, if it is not already open until then or
// later, so that it refuses calls until until and then half-opens as after
// a trip of its own: a fleet of breakers opening this one because enough
// of them saw the dependency fail. An open breaker's open time is extended
// to until, never shortened; a forced breaker is left alone. An opening
// by OpenUntil is not one of [Counts].Trips, which counts the breaker's
// own, and it does not grow the open time of the breaker's next trips. It
// reports whether it changed the breaker.
func (b *Breaker) OpenUntil(until time.Time) bool {
	return b.openUntilAt(b.at(until), b.now())
}

func (b *Breaker) openUntilAt(until, now int64) bool {
	if until <= now {
		return false
	}
	b.mu.Lock()
	from := b.cur.Load()
	if from.forced || (from.state == Open && from.until >= until) {
		b.mu.Unlock()
		return false
	}
	// An open epoch of the breaker's own keeps its reopen count, so that
	// its next open time still grows; a new one starts without.
	reopens := 0
	if from.state == Open {
		reopens = from.reopens
	}
	b.cur.Store(&epoch{b: b, state: Open, until: until, reopens: reopens})
	b.mu.Unlock()
	if from.state != Open {
		b.report(context.Background(), change{from: from.state, to: Open, reason: ReasonFleet, open: time.Duration(until - now)})
	}
	return true
}

// CloseFleet closes the breaker, with a fresh window, because its fleet
// found the dependency healthy again (one of the fleet's breakers probed it
// and closed). A forced breaker is left alone. It reports whether the state
// changed.
func (b *Breaker) CloseFleet() bool {
	b.mu.Lock()
	from := b.cur.Load()
	if from.forced || from.state == Closed {
		b.mu.Unlock()
		return false
	}
	c, ok := b.toLocked(from, Closed, false, 0, ReasonFleet, nil)
	b.mu.Unlock()
	if ok {
		b.report(context.Background(), c)
	}
	return ok
}
