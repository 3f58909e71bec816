package guard

import (
	"context"
	"errors"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// violation records err, a result withheld for breaking an invariant in the
// call whose context is ctx, and silences the guard when it is the last
// straw. Violations while silenced are reported but not counted: the guard is
// already doing all it can.
func (g *Guard[T]) violation(ctx context.Context, err error) {
	g.violationAt(ctx, time.Now(), err)
}

// violationAt is violation at now.
func (g *Guard[T]) violationAt(ctx context.Context, now time.Time, err error) {
	g.mu.Lock()
	silence := false
	var rep Report
	if State(g.state.Load()) == StateActive {
		g.noteLocked(err)
		if g.recent.add(now, g.cfg.Window) {
			silence = true
			g.silenceLocked(now, err)
			rep = g.silence
		}
	}
	g.mu.Unlock()

	holdfast.EmitContext(ctx, g.cfg.Listener, holdfast.Event{Source: holdfast.KindGuard, Policy: g.cfg.Name, Kind: holdfast.EventViolation, Err: err})
	if g.cfg.Logger != nil {
		g.cfg.Logger.Debug("invariant violated", "policy", g.cfg.Name, "err", err)
	}
	if silence {
		holdfast.EmitContext(ctx, g.cfg.Listener, holdfast.Event{Source: holdfast.KindGuard, Policy: g.cfg.Name, Kind: holdfast.EventSilenced, Err: err})
		if g.cfg.Logger != nil {
			g.cfg.Logger.Warn("component silenced", "policy", g.cfg.Name, "violations", g.cfg.Violations, "window", g.cfg.Window, "err", err)
		}
		g.report(rep)
	}
}

// silenceLocked quarantines the component and, when there is a Probe, starts
// the goroutine that probes it. g.mu must be held.
func (g *Guard[T]) silenceLocked(now time.Time, err error) {
	g.state.Store(int32(StateSilenced))
	g.recent.reset()
	if ie, ok := errors.AsType[*InvariantError](err); ok {
		err = ie.Err // a refusal is not a withheld result: keep it from matching ErrInvariant
	}
	g.cause = err
	// The window's violations, oldest first and the last straw last; the
	// report's slice is its own, for OnReport to keep.
	g.silence = Report{Policy: g.cfg.Name, State: StateSilenced, Since: now, At: now, Cause: err, Violations: g.samples}
	g.samples = nil
	g.passes = 0
	g.nextProbe = now.Add(g.cfg.ProbeInterval)
	if g.cfg.Probe != nil && !g.closed {
		g.probers.Add(1)
		go g.probeLoop()
	}
}

// recoverLocked re-admits the component at now and returns the report of
// the recovery. g.mu must be held.
func (g *Guard[T]) recoverLocked(now time.Time) Report {
	rep := g.silence
	rep.State, rep.At, rep.Probes = StateActive, now, g.passes
	g.state.Store(int32(StateActive))
	g.cause = nil
	g.silence = Report{}
	g.passes = 0
	return rep
}

// recovered reports a recovery, brought about by the trial call whose
// context is ctx or by a probe (context.Background()); it must be called
// without g.mu held.
func (g *Guard[T]) recovered(ctx context.Context, rep Report) {
	holdfast.EmitContext(ctx, g.cfg.Listener, holdfast.Event{Source: holdfast.KindGuard, Policy: g.cfg.Name, Kind: holdfast.EventRecovered, Attempt: rep.Probes})
	if g.cfg.Logger != nil {
		g.cfg.Logger.Info("component recovered", "policy", g.cfg.Name, "probes", rep.Probes)
	}
	g.report(rep)
}

// admit decides whether a call may run. trial is true when the call is a
// trial of a silenced guard without a Probe; the caller must then report its
// outcome with endTrial. A refusal is reported to ctx's listeners too.
func (g *Guard[T]) admit(ctx context.Context) (trial bool, err error) {
	if State(g.state.Load()) == StateActive {
		return false, nil
	}
	now := time.Now()
	g.mu.Lock()
	if State(g.state.Load()) == StateActive {
		g.mu.Unlock()
		return false, nil
	}
	if g.cfg.Probe == nil && !g.trialRunning && !now.Before(g.nextProbe) {
		g.trialRunning = true
		g.mu.Unlock()
		return true, nil
	}
	serr := &SilencedError{Policy: g.cfg.Name, Wait: g.waitLocked(now), Cause: g.cause}
	g.mu.Unlock()
	holdfast.EmitContext(ctx, g.cfg.Listener, holdfast.Event{Source: holdfast.KindGuard, Policy: g.cfg.Name, Kind: holdfast.EventRejected, Reason: holdfast.ReasonSilenced, Err: serr})
	return false, serr
}

// waitLocked returns how long until the guard could recover if every
// remaining probe passes. g.mu must be held.
func (g *Guard[T]) waitLocked(now time.Time) time.Duration {
	wait := max(g.nextProbe.Sub(now), 0)
	if g.cfg.Probe != nil {
		// A Probe runs once per interval; trial calls may follow a pass at once.
		wait += time.Duration(g.cfg.RecoveryProbes-g.passes-1) * g.cfg.ProbeInterval
	}
	return wait
}

// endTrial records the outcome of a trial call that ended with err. A call
// the caller cancelled says nothing about the component and is not counted.
func (g *Guard[T]) endTrial(ctx context.Context, err error) {
	now := time.Now()
	g.mu.Lock()
	g.trialRunning = false
	recovered := false
	var rep Report
	switch {
	case err != nil && ctx.Err() != nil:
		// Neutral: the slot is free for the next call.
	case err == nil:
		g.passes++
		if g.passes >= g.cfg.RecoveryProbes {
			recovered = true
			rep = g.recoverLocked(now)
		}
		// nextProbe is already past: the next call may be the next trial.
	default:
		g.passes = 0
		g.nextProbe = now.Add(g.cfg.ProbeInterval)
	}
	g.mu.Unlock()
	if recovered {
		g.recovered(ctx, rep)
	} else if err != nil && g.cfg.Logger != nil {
		g.cfg.Logger.Debug("trial call failed", "policy", g.cfg.Name, "err", err)
	}
}

// probeLoop runs Config.Probe every ProbeInterval until RecoveryProbes pass
// in a row or Close is called. It is started by silenceLocked; Close waits for
// it through g.probers.
func (g *Guard[T]) probeLoop() {
	defer g.probers.Done()
	timer := time.NewTimer(g.cfg.ProbeInterval)
	defer timer.Stop()
	for {
		select {
		case <-g.done:
			return
		case <-timer.C:
		}
		ctx, cancel := context.WithTimeout(g.probeCtx, g.cfg.ProbeTimeout)
		err := g.cfg.Probe(ctx)
		cancel()
		if g.probeCtx.Err() != nil {
			return // closed while probing: the verdict is meaningless
		}
		now := time.Now()
		g.mu.Lock()
		if err == nil {
			g.passes++
		} else {
			g.passes = 0
		}
		passes := g.passes
		recovered := passes >= g.cfg.RecoveryProbes
		var rep Report
		if recovered {
			rep = g.recoverLocked(now)
		} else {
			g.nextProbe = now.Add(g.cfg.ProbeInterval)
		}
		g.mu.Unlock()
		if recovered {
			g.recovered(context.Background(), rep)
			return
		}
		if g.cfg.Logger != nil {
			g.cfg.Logger.Debug("probe", "policy", g.cfg.Name, "passes", passes, "err", err)
		}
		timer.Reset(g.cfg.ProbeInterval)
	}
}
