// Package guard makes a component fail silent: a result that breaks an
// invariant is withheld, and a component that keeps breaking invariants is
// quarantined until it proves itself again.
//
// # Model
//
// A [Guard] runs [Config.Check] on every result. A result that breaks an
// invariant is never returned; the caller gets an [*InvariantError] (matching
// [ErrInvariant]) instead. When [Config.Violations] violations happen within
// [Config.Window], the guard goes silent: every call fails fast with a
// [*SilencedError] (matching [ErrSilenced]) without running, so a component
// producing wrong answers stops spreading them.
//
// A silenced guard re-admits its component after it passes
// [Config.RecoveryProbes] probes in a row:
//
//   - With a [Config.Probe], a background goroutine runs the probe every
//     [Config.ProbeInterval] while the guard is silent (and only then). A
//     failed probe restarts the count. [Guard.Close] stops the goroutine.
//   - Without a Probe, real calls are the probes: once ProbeInterval has
//     passed, one call at a time is let through as a trial; a trial passes
//     when it returns without error and its result passes Check. After a
//     pass the next call may be the next trial at once; after a failure the
//     guard waits another ProbeInterval.
//
// Guard reports [holdfast.EventViolation] for each withheld result,
// [holdfast.EventSilenced] and [holdfast.EventRecovered] when it changes
// state, and [holdfast.EventRejected] (reason "silenced") for each call it
// refuses.
//
// # Quiesce and report
//
// A guard that silences its component says why: [Config.OnReport] gets a
// [Report] (the cause, the violations before it, since when) when the
// guard silences and again when it re-admits, and [Guard.Report] returns
// the current one, so that a service stops giving wrong answers and tells
// a log, a status page or a webhook which invariant broke. A caller that
// answers inline rather than through a function, such as an HTTP handler,
// uses [Guard.Allow] and [Admission.Done] in place of [Guard.Execute].
//
// # Use
//
// [Guard.Get] runs a call returning T and checks its result. A Guard[T] is
// also a [holdfast.Checker], whose [Guard.Check] a holdfast.Pipeline[T] runs
// on results, and a [holdfast.Policy], whose [Guard.Execute] fails fast while
// silenced and counts a violation when next returns an error matching
// ErrInvariant (a pipeline runs Check inside next, so the violation is seen
// once, not twice).
//
//	g := guard.MustNew(guard.Config[Quote]{
//		Check: func(q Quote) error {
//			if q.Price <= 0 {
//				return fmt.Errorf("price %v not positive", q.Price)
//			}
//			return nil
//		},
//		Probe: pingPricing,
//	})
//	defer g.Close()
//	q, err := g.Get(ctx, fetchQuote)
package guard
