package ratelimit

import (
	"sync/atomic"
	"time"
)

// Reservation is a claim on tokens that may lie in the future, made by
// [Limiter.Reserve]. The tokens are taken when the reservation is made; the
// holder should act after [Reservation.Delay], or give the tokens back with
// [Reservation.Cancel] if it will not act.
//
// A Reservation is safe for concurrent use. Its zero value is a reservation
// that was not granted (OK is false).
type Reservation struct {
	l   *Limiter
	n   int64
	act int64 // when the holder may act, on l's clock
	tat int64 // the TAT this reservation set
	ok  bool

	cancelled atomic.Bool
}

// Reserve is [Limiter.ReserveN] of one token now.
func (l *Limiter) Reserve() *Reservation { return l.ReserveN(time.Now(), 1) }

// ReserveN takes n tokens at time now, however far in the future they come,
// and returns the reservation telling when they do. It is not granted (OK is
// false, and nothing is taken) only when n is more than Burst. ReserveN with
// n ≤ 0 returns a granted reservation with no delay.
//
// Unlike Wait, ReserveN never refuses a reachable request, so a caller that
// reserves far ahead holds the bucket empty for everyone until then.
func (l *Limiter) ReserveN(now time.Time, n int) *Reservation {
	t := l.at(now)
	if n <= 0 {
		return &Reservation{l: l, act: t, ok: true}
	}
	tat, wait, ok := l.take(t, int64(n), maxWindow)
	if !ok {
		return &Reservation{l: l, n: int64(n)}
	}
	act := t
	if wait > 0 {
		act = tat - l.g.window
	}
	return &Reservation{l: l, n: int64(n), act: act, tat: tat, ok: true}
}

// OK reports whether the tokens were granted. A reservation that was not
// has no delay and nothing to cancel.
func (r *Reservation) OK() bool { return r.ok }

// Delay returns how long from now the holder must wait before acting: zero
// when the tokens are already there.
func (r *Reservation) Delay() time.Duration { return r.DelayFrom(time.Now()) }

// DelayFrom is [Reservation.Delay] measured from time now. It returns 0 for
// a reservation that was not granted.
func (r *Reservation) DelayFrom(now time.Time) time.Duration {
	if !r.ok {
		return 0
	}
	return time.Duration(max(0, r.act-r.l.at(now)))
}

// TimeToAct returns when the holder may act. It returns the zero Time for a
// reservation that was not granted.
func (r *Reservation) TimeToAct() time.Time {
	if !r.ok {
		return time.Time{}
	}
	return r.l.epoch.Add(time.Duration(r.act))
}

// Cancel is [Reservation.CancelAt] now.
func (r *Reservation) Cancel() { r.CancelAt(time.Now()) }

// CancelAt gives the reservation's tokens back at time now, if that is
// safe: only before the reservation is due, and only when no tokens granted
// after it are still taken, so cancellations take effect in reverse order
// of the reservations (a reservation cancelled out of order is simply
// lost). This is stricter than golang.org/x/time/rate, which also gives back
// part of a reservation that others were granted after; with cancellations
// out of order that can exceed the rate, and this never does. Only the first
// call has an effect.
func (r *Reservation) CancelAt(now time.Time) {
	if !r.ok || r.n == 0 || r.cancelled.Swap(true) {
		return
	}
	r.l.untake(r.l.at(now), r.n, r.act, r.tat)
}
