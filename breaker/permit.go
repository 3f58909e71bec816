package breaker

import (
	"context"
	"errors"
	"time"
)

// Permit is a breaker's admission of one call, returned by [Breaker.Allow].
// Finish every permit with exactly one of [Permit.Done], [Permit.DoneAt],
// [Permit.Record] or [Permit.Release]: a half-open breaker holds a probe slot
// for each unfinished permit, so a permit that is never finished can keep it
// from closing. The zero Permit is valid and finishing it does nothing.
//
// Permit is a small value: returning and finishing one allocates nothing.
// Copies share one admission; finishing two copies counts the call twice.
//
// An outcome counts only in the state that admitted the call: after the
// breaker changes state, outcomes of calls admitted earlier are dropped, so a
// slow call that fails after the breaker reopened cannot count against the
// next half-open period.
type Permit struct {
	e     *epoch
	start int64 // admission time on the breaker's clock, or noTime when not measured
	// ctx is the call's context, whose listeners hear the state change its
	// outcome causes; Allow and AllowAt have none to give (nil or
	// context.Background(), which carry no listener).
	ctx context.Context
}

type outcome uint8

const (
	outcomeSuccess outcome = iota
	outcomeFailure
	outcomeIgnored
)

// errAborted is reported as the cause when a call run by Execute or Get
// panicked or called runtime.Goexit.
var errAborted = errors.New("breaker: call panicked or exited without returning")

// Allow asks the breaker to admit one call now. It returns a [Permit] to
// finish when the call is done, or an [*OpenError] matching [ErrOpen] when
// the breaker refuses the call.
//
// On a closed breaker Allow takes no lock and allocates nothing, and it reads
// the clock only when a slow-call threshold is set. Allow has no call
// context: its events, and those of the permit's outcome, go to the
// configured Listener only.
func (b *Breaker) Allow() (Permit, error) { return b.allow(context.Background()) }

// allow is Allow for a call whose context's listeners hear the events of
// its admission and its outcome.
func (b *Breaker) allow(ctx context.Context) (Permit, error) {
	e := b.cur.Load()
	if e.state == Closed {
		if b.slowCall == 0 {
			return Permit{e: e, start: noTime, ctx: ctx}, nil
		}
		return Permit{e: e, start: b.now(), ctx: ctx}, nil
	}
	return b.allowSlow(ctx, e, b.now())
}

// AllowAt is like [Breaker.Allow] with an explicit current time, for callers
// that already read the clock and for deterministic tests. Pair it with
// [Permit.DoneAt] or [Permit.Record], and keep the times a breaker sees
// moving forward.
func (b *Breaker) AllowAt(now time.Time) (Permit, error) {
	t := b.at(now)
	e := b.cur.Load()
	if e.state == Closed {
		return Permit{e: e, start: t}, nil
	}
	return b.allowSlow(context.Background(), e, t)
}

// allowSlow admits or refuses a call on a breaker that was not closed when
// last looked at: it half-opens an open breaker whose time is over, and hands
// out a half-open breaker's probe slots under the lock, which is what keeps
// the probes in flight from ever exceeding half_open_requests.
func (b *Breaker) allowSlow(ctx context.Context, e *epoch, now int64) (Permit, error) {
	if e.state == Open && (e.forced || now < e.until) {
		return Permit{}, b.reject(ctx, e, now) // the common open case needs no lock
	}
	b.mu.Lock()
	e = b.cur.Load()
	var c change
	changed := false
	if e.state == Open {
		if e.forced || now < e.until {
			b.mu.Unlock()
			return Permit{}, b.reject(ctx, e, now)
		}
		c, changed = b.toLocked(e, HalfOpen, false, now, ReasonOpenElapsed, nil)
		e = b.cur.Load()
	}
	admitted := true
	if e.state == HalfOpen {
		if b.probes < b.cfg.HalfOpenRequests {
			b.probes++
		} else {
			admitted = false
		}
	}
	b.mu.Unlock()
	if changed {
		b.report(ctx, c)
	}
	if !admitted {
		return Permit{}, b.reject(ctx, e, now)
	}
	return Permit{e: e, start: now, ctx: ctx}, nil
}

// Done records the outcome of the call: a nil error is a success; an error
// wrapping context.Canceled is not recorded (as with [Permit.Release]); any
// other error is a failure when Config.IsFailure says so, and a success
// otherwise. Done reads the system clock only for a slow-call threshold; a
// time window alone places the outcome by the coarse clock (see
// holdfast.CoarseClock).
func (p Permit) Done(err error) {
	e := p.e
	if e == nil {
		return
	}
	if err == nil && e.state == Closed && e.b.slowCall == 0 {
		// The hot path: a success, which cannot trip the breaker. A count
		// window needs no clock, a time window the coarse one.
		if e.timed != nil {
			e.timed.add(e.b.coarseNow(), 0)
		} else {
			e.count.add(0)
		}
		if e.consec.Load() != 0 {
			e.consec.Store(0)
		}
		return
	}
	p.finish(e.b.classify(err), err, e.b.clockIfNeeded(), noTime)
}

// DoneAt is like [Permit.Done] with an explicit time for the end of the call.
func (p Permit) DoneAt(now time.Time, err error) {
	if p.e == nil {
		return
	}
	p.finish(p.e.b.classify(err), err, p.e.b.at(now), noTime)
}

// Record records an outcome the caller classified and timed itself, as a
// proxy does with status codes and its own latency measurement: success, and
// the call's duration d, which decides whether it was slow. When the permit
// came from [Breaker.AllowAt], the call is taken to end at that time plus d,
// and Record reads no clock.
func (p Permit) Record(success bool, d time.Duration) {
	e := p.e
	if e == nil {
		return
	}
	o := outcomeFailure
	if success {
		o = outcomeSuccess
	}
	end := int64(noTime)
	if p.start != noTime {
		end = addSat(p.start, int64(d))
	} else {
		end = e.b.clockIfNeeded()
	}
	p.finish(o, nil, end, int64(d))
}

// Release finishes the permit without recording an outcome, for a call that
// says nothing about the dependency, such as one the client abandoned. A
// half-open breaker gives the probe slot to the next caller.
func (p Permit) Release() { p.finish(outcomeIgnored, nil, noTime, noTime) }

// classify turns a call's error into its outcome.
func (b *Breaker) classify(err error) outcome {
	switch {
	case err == nil:
		return outcomeSuccess
	case errors.Is(err, context.Canceled):
		return outcomeIgnored
	case b.cfg.IsFailure(err):
		return outcomeFailure
	}
	return outcomeSuccess
}

// finish records outcome o of the call, which ended at end (or noTime when
// not known) and took d nanoseconds (or noTime: then end minus the start).
func (p Permit) finish(o outcome, err error, end, d int64) {
	e := p.e
	if e == nil {
		return
	}
	b := e.b
	if o == outcomeIgnored {
		if e.state == HalfOpen {
			b.mu.Lock()
			if b.cur.Load() == e && b.probes > 0 {
				b.probes--
			}
			b.mu.Unlock()
		}
		return
	}
	if end == noTime {
		end = p.start // the best explicit time we have; see when
	}
	slow := false
	if b.slowCall > 0 {
		if d == noTime && p.start != noTime && end != noTime {
			d = end - p.start
		}
		slow = d != noTime && d >= b.slowCall
	}
	failed := o == outcomeFailure
	switch e.state {
	case Closed:
		b.recordClosed(p.ctx, e, failed, slow, err, end)
	case HalfOpen:
		b.recordProbe(p.ctx, e, failed, slow, err, end)
	}
}

// when returns t, or the current time when t is not known. A transition needs
// a time to start its open period from; a caller using explicit times gets
// its own times used.
func (b *Breaker) when(t int64) int64 {
	if t == noTime {
		return b.now()
	}
	return t
}

// recordClosed counts an outcome in closed epoch e and trips the breaker if
// that was the last straw. Only a failure or a slow call can trip it: a fast
// success only lowers the rates.
func (b *Breaker) recordClosed(ctx context.Context, e *epoch, failed, slow bool, err error, end int64) {
	var bits uint32
	if failed {
		bits |= failBit
	}
	if slow {
		bits |= slowBit
	}
	if e.timed != nil {
		end = b.when(end)
		e.timed.add(end, bits)
	} else {
		e.count.add(bits)
	}
	var consec int64
	if failed {
		consec = e.consec.Add(1)
	} else if e.consec.Load() != 0 {
		e.consec.Store(0)
	}
	if bits == 0 || e.forced {
		return
	}

	var w windowCounts
	if e.timed != nil {
		w = e.timed.counts(end)
	} else {
		w = e.count.counts()
	}
	cfg := &b.cfg
	var reason string
	switch {
	case failed && cfg.ConsecutiveFailures > 0 && consec >= int64(cfg.ConsecutiveFailures):
		reason = ReasonConsecutiveFailures
	case w.calls < int64(cfg.MinimumRequests):
		return
	case failed && float64(w.failures) >= cfg.FailureRate*float64(w.calls):
		reason = ReasonFailureRate
	case slow && float64(w.slow) >= cfg.SlowCallRate*float64(w.calls):
		reason = ReasonSlowCallRate
	default:
		return
	}
	b.mu.Lock()
	var c change
	changed := false
	if b.cur.Load() == e { // else another outcome already tripped it, or it was forced
		c, changed = b.toLocked(e, Open, false, b.when(end), reason, err)
	}
	b.mu.Unlock()
	if changed {
		b.report(ctx, c)
	}
}

// recordProbe counts the outcome of a probe admitted by half-open epoch e: a
// failure or a slow call reopens the breaker, and the last of
// half_open_requests successes closes it.
func (b *Breaker) recordProbe(ctx context.Context, e *epoch, failed, slow bool, err error, end int64) {
	b.mu.Lock()
	if b.cur.Load() != e {
		b.mu.Unlock()
		return
	}
	var c change
	changed := false
	switch {
	case failed:
		c, changed = b.toLocked(e, Open, false, b.when(end), ReasonProbeFailed, err)
	case slow:
		c, changed = b.toLocked(e, Open, false, b.when(end), ReasonProbeSlow, err)
	default:
		b.probeOK++
		if b.probeOK >= b.cfg.HalfOpenRequests {
			c, changed = b.toLocked(e, Closed, false, 0, ReasonProbesSucceeded, nil)
		}
	}
	b.mu.Unlock()
	if changed {
		b.report(ctx, c)
	}
}
