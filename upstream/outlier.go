package upstream

import "time"

// record feeds one answer of e, which took d and ended with o (not
// Canceled), to passive outlier detection. It is on the hot path of every
// request: the common case touches only e's atomics and takes no lock.
//
// Each streak counts one kind of bad answer: a Failure neither counts
// toward nor ends the invalid streak, and an Invalid answer neither counts
// toward nor ends the failure streak, so an endpoint that alternates
// between the two is caught by whichever streak fills first. Only a good
// answer ends a streak: a Success or Valid one the failure streak, and only
// a Valid one the invalid streak.
func (u *Upstream) record(e *Endpoint, d time.Duration, o Outcome) {
	od := &u.cfg.OutlierDetection
	if od.Disabled {
		return
	}
	failed := o == Failure
	invalid := o == Invalid
	late := od.Deadline > 0 && d > od.Deadline
	reason := ""
	if invalid {
		if e.badStreak.Add(1) >= int32(od.ConsecutiveInvariantViolations) {
			reason = ReasonConsecutiveInvariantViolations
		}
	} else if o == Valid && e.badStreak.Load() != 0 {
		e.badStreak.Store(0)
	}
	if failed {
		if e.failStreak.Add(1) >= int32(od.ConsecutiveFailures) {
			reason = ReasonConsecutiveFailures
		}
	} else if !invalid && e.failStreak.Load() != 0 {
		// Load first: most answers find the streak at zero, and a store on
		// every request would bounce the cache line between cores.
		e.failStreak.Store(0)
	}
	if late {
		if e.lateStreak.Add(1) >= int32(od.ConsecutiveDeadlineMisses) && reason == "" {
			reason = ReasonDeadlineMisses
		}
	} else if e.lateStreak.Load() != 0 {
		e.lateStreak.Store(0)
	}
	if e.probation.Load() {
		if !failed && !invalid && !late {
			u.endProbation(e)
			return
		}
		reason = ReasonProbationFailure
	}
	if reason != "" {
		u.eject(e, reason)
	}
}

// eject takes e out of service for its next ejection time, unless it is out
// already or ejecting it would pass max_ejection_percent. When refused, its
// streaks stay at the threshold, so its next bad answer tries again.
func (u *Upstream) eject(e *Endpoint, reason string) {
	od := &u.cfg.OutlierDetection
	u.mu.Lock()
	if u.closed || e.ejected.Load() {
		u.mu.Unlock()
		return
	}
	// (ejected+1)/total <= percent/100, in integers: the cap is never passed,
	// even for one endpoint.
	if (u.nEjected+1)*100 > od.MaxEjectionPercent*len(u.eps) {
		u.ejectionsRefused++
		u.mu.Unlock()
		return
	}
	now := time.Now()
	if !e.returnedAt.IsZero() {
		// Forget one past ejection for every max_ejection_time in service.
		forget := int(now.Sub(e.returnedAt) / od.MaxEjectionTime)
		e.ejectLevel = max(e.ejectLevel-forget, 0)
	}
	e.ejectLevel++
	d := od.MaxEjectionTime
	if e.ejectLevel <= int(od.MaxEjectionTime/od.BaseEjectionTime) {
		d = od.BaseEjectionTime * time.Duration(e.ejectLevel)
	}
	e.ejected.Store(true)
	e.probation.Store(false)
	e.ejectedUntil = now.Add(d)
	e.ejections++
	e.ejectGen++
	u.nEjected++
	gen := e.ejectGen
	e.ejectTimer = time.AfterFunc(d, func() { u.endEjection(e, gen) })
	changes := []Change{{Kind: EndpointEjected, Endpoint: e, Reason: reason, Until: e.ejectedUntil}}
	changes = u.publishLocked(changes)
	u.mu.Unlock()
	u.emit(changes...)
}

// endEjection returns e on probation when ejection number gen ends.
func (u *Upstream) endEjection(e *Endpoint, gen uint64) {
	u.mu.Lock()
	if u.closed || !e.ejected.Load() || e.ejectGen != gen {
		u.mu.Unlock()
		return
	}
	e.ejected.Store(false)
	e.probation.Store(true)
	e.failStreak.Store(0)
	e.lateStreak.Store(0)
	e.badStreak.Store(0)
	e.returnedAt = time.Now()
	e.ejectTimer = nil
	u.nEjected--
	changes := []Change{{Kind: EndpointProbation, Endpoint: e, Reason: ReasonEjectionEnded}}
	changes = u.publishLocked(changes)
	u.mu.Unlock()
	u.emit(changes...)
}

// endProbation clears e's probation after a timely success.
func (u *Upstream) endProbation(e *Endpoint) {
	u.mu.Lock()
	if !e.probation.Load() {
		u.mu.Unlock()
		return // another answer got here first
	}
	e.probation.Store(false)
	u.mu.Unlock()
	u.emit(Change{Kind: EndpointRestored, Endpoint: e, Reason: ReasonProbationPassed})
}
