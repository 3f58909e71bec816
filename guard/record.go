package guard

import (
	"context"
	"time"
)

// Record reports the outcome of a call the guard did not run: one the
// caller makes whatever the guard's state, and judges itself. nil is a pass;
// any other error is a violation. It is [Guard.RecordAt] at time.Now().
func (g *Guard[T]) Record(ctx context.Context, err error) State {
	return g.RecordAt(ctx, time.Now(), err)
}

// RecordAt reports, at now, the outcome of a call the guard did not run,
// and returns the guard's state after it. It is for a component that is
// called whether or not it is quarantined, such as a voter of an N-version
// vote that is still asked while silenced so that its answers can prove it
// right again, and whose answers are judged by the caller (against the
// quorum's) rather than by [Config.Check].
//
// While the guard is active, a violation counts toward silencing as one
// found by Check does (Violations within Window), and a pass changes
// nothing. While it is silenced, a pass counts toward recovery, and
// RecoveryProbes passes in a row re-admit the component; a violation
// restarts the count. [Config.ProbeInterval] does not pace these outcomes:
// the caller's calls are the probes. The events are those of Check and of a
// trial call: EventViolation, EventSilenced and EventRecovered.
//
// It is meant for a guard without a [Config.Probe]: the caller's outcomes
// are then the only probes.
func (g *Guard[T]) RecordAt(ctx context.Context, now time.Time, err error) State {
	if err != nil {
		g.violationAt(ctx, now, err)
		if State(g.state.Load()) == StateSilenced {
			g.mu.Lock()
			g.passes = 0
			g.mu.Unlock()
		}
		return g.State()
	}
	g.mu.Lock()
	if State(g.state.Load()) == StateActive {
		g.mu.Unlock()
		return StateActive
	}
	g.passes++
	recovered := g.passes >= g.cfg.RecoveryProbes
	var rep Report
	if recovered {
		rep = g.recoverLocked(now)
	}
	g.mu.Unlock()
	if recovered {
		g.recovered(ctx, rep)
		return StateActive
	}
	return StateSilenced
}
