package guard

import (
	"context"
	"slices"
	"time"
)

// maxReportViolations bounds the violations a [Report] carries.
const maxReportViolations = 8

// Report says why a guard silenced its component, or that it re-admitted
// it: what [Config.OnReport] receives and [Guard.Report] returns.
type Report struct {
	// Policy is the guard's configured name.
	Policy string
	// State is StateSilenced in the report of a silencing, StateActive in
	// that of a recovery.
	State State
	// Since is when the guard silenced the component; At when the report
	// was made (Since again for a silencing, the recovery's time for a
	// recovery).
	Since time.Time
	At    time.Time
	// Cause is the violation that silenced the component: what
	// Config.Check returned, or the error given to [Guard.RecordAt] or
	// that a call returned.
	Cause error
	// Violations are the last violations counted before the silencing,
	// up to 8, oldest first and Cause last.
	Violations []error
	// Probes is, in the report of a recovery, how many probes passed in a
	// row to bring it about.
	Probes int
}

// Report returns the report of the guard's current silence, and true; or,
// while the guard is active, the zero Report and false.
func (g *Guard[T]) Report() (Report, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if State(g.state.Load()) != StateSilenced {
		return Report{}, false
	}
	r := g.silence
	r.Violations = slices.Clone(r.Violations)
	return r, true
}

// noteLocked remembers a violation counted while active, for the report
// of a silencing. g.mu must be held.
func (g *Guard[T]) noteLocked(err error) {
	if len(g.samples) == maxReportViolations {
		g.samples = slices.Delete(g.samples, 0, 1)
	}
	g.samples = append(g.samples, err)
}

// report passes r to Config.OnReport, if set. It must be called without
// g.mu held.
func (g *Guard[T]) report(r Report) {
	if g.cfg.OnReport != nil {
		g.cfg.OnReport(r)
	}
}

// Admission is a guard's admission of one call that the caller runs
// itself, returned by [Guard.Allow]: the caller finishes it with
// [Admission.Done] and the call's outcome. It is what [Guard.Execute] does
// around next, split in two for a caller that cannot hand the guard a
// function (an HTTP handler that answers inline). The zero Admission is
// valid and Done does nothing with it.
type Admission[T any] struct {
	g     *Guard[T]
	ctx   context.Context
	trial bool
}

// Allow admits one call unless the guard is silenced, as [Guard.Execute]
// does: while silenced it returns a [*SilencedError] (matching
// [ErrSilenced]), except for a trial call when there is no Probe. Finish
// the returned Admission with Done exactly once: a trial holds the guard's
// only trial slot until then.
func (g *Guard[T]) Allow(ctx context.Context) (Admission[T], error) {
	trial, err := g.admit(ctx)
	if err != nil {
		return Admission[T]{}, err
	}
	return Admission[T]{g: g, ctx: ctx, trial: trial}, nil
}

// Trial reports whether the admitted call is a trial of a silenced guard:
// its outcome decides whether the component is re-admitted.
func (a Admission[T]) Trial() bool { return a.trial }

// Done reports the admitted call's outcome, as [Guard.Execute] takes
// next's: an error matching [ErrInvariant] counts as a violation; for a
// trial, nil is a pass and any other error a failure (unless the call's
// context ended, which says nothing about the component).
func (a Admission[T]) Done(err error) {
	if a.g == nil {
		return
	}
	if err != nil && a.g.counts(err) {
		a.g.violation(a.ctx, err)
	}
	if a.trial {
		a.g.endTrial(a.ctx, err)
	}
}
