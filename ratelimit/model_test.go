package ratelimit

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// model is a reference token bucket written the plain way: a count of tokens
// refilled by elapsed time, as golang.org/x/time/rate keeps it. It counts in
// units of 1/interval of a token, the amount one nanosecond adds, so its
// arithmetic is exact integer arithmetic and no rounding can hide a
// disagreement. Its one rounding rule is the limiter's documented one:
// tokens come at the effective rate of one per interval nanoseconds,
// interval = ceil(1e9/rate).
//
// Its cancellation rule is the limiter's, stated in terms of grants: a
// reservation is given back only before it is due and only while it is the
// latest grant still in effect, and then exactly its n tokens come back.
type model struct {
	interval int64 // units per token
	burst    int64 // in tokens
	units    int64 // tokens·interval at time last; negative when reserved ahead
	last     int64
	started  bool
	live     []*modelReservation // grants in effect, oldest first
}

type modelReservation struct {
	n, act int64
}

func newModel(interval, burst int64) *model {
	return &model{interval: interval, burst: burst, units: burst * interval}
}

// at returns the units at t (t ≥ last): refilled one a nanosecond, capped
// at a full bucket.
func (m *model) at(t int64) int64 {
	if !m.started || t <= m.last {
		return m.units
	}
	return min(m.units+(t-m.last), m.burst*m.interval)
}

// tokensAt returns the tokens at t.
func (m *model) tokensAt(t int64) float64 { return float64(m.at(t)) / float64(m.interval) }

// reserve takes n tokens at t if they come within maxWait; it returns the
// wait, or when refused the wait that would have been needed.
func (m *model) reserve(t, n, maxWait int64) (wait int64, ok bool) {
	wait, r := m.grant(t, n, maxWait)
	return wait, r != nil
}

// grant is reserve returning the grant, for cancel.
func (m *model) grant(t, n, maxWait int64) (wait int64, r *modelReservation) {
	if n > m.burst {
		return -1, nil
	}
	u := m.at(t) - n*m.interval
	if u < 0 {
		wait = -u // a unit a nanosecond
	}
	if wait > maxWait {
		return wait, nil
	}
	m.units = u
	m.advanceTo(t)
	r = &modelReservation{n: n, act: t + wait}
	m.live = append(m.live, r)
	return wait, r
}

// cancel gives r's tokens back at t if it is not yet due and is the latest
// grant in effect.
func (m *model) cancel(r *modelReservation, t int64) {
	if r.act < t || len(m.live) == 0 || m.live[len(m.live)-1] != r {
		return
	}
	m.live = m.live[:len(m.live)-1]
	m.units = min(m.at(t)+r.n*m.interval, m.burst*m.interval)
	m.advanceTo(t)
}

// advanceTo records that units are now counted at t, unless the clock has
// been further already.
func (m *model) advanceTo(t int64) {
	if !m.started || t > m.last {
		m.last, m.started = t, true
	}
}

// TestLimiterMatchesModel runs random sequences of requests, reservations
// with and without a maximum wait, cancellations and token queries against
// a Limiter and the model, with a clock that never goes back, and requires
// the same decision, the same wait and the same token count every time.
func TestLimiterMatchesModel(t *testing.T) {
	configs := []struct {
		rate  float64
		burst int
	}{
		{1, 1}, {10, 1}, {100, 200}, {3, 5}, {0.7, 2}, {1e6 / 7, 10}, {1e9, 3}, {2.5e-3, 4},
	}
	epoch := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range configs {
		for seed := range uint64(40) {
			t.Run(fmt.Sprintf("rate=%g,burst=%d,seed=%d", c.rate, c.burst, seed), func(t *testing.T) {
				l := MustNew(Config{RequestsPerSecond: c.rate, Burst: c.burst})
				m := newModel(l.g.interval, l.g.burst)
				checkAgainstModel(t, rand.New(rand.NewPCG(seed, 7)), l, m, epoch, 800)
			})
		}
	}
}

func checkAgainstModel(t *testing.T, rng *rand.Rand, l *Limiter, m *model, epoch time.Time, steps int) {
	t.Helper()
	interval, burst := l.g.interval, l.g.burst
	now := epoch
	type held struct {
		r *Reservation
		m *modelReservation
	}
	var outstanding []held
	for step := range steps {
		switch rng.IntN(4) {
		case 0: // the same instant again
		case 1:
			now = now.Add(time.Duration(rng.Int64N(3 * interval)))
		case 2:
			now = now.Add(time.Duration(rng.Int64N(interval + 1)))
		default:
			now = now.Add(time.Duration(rng.Int64N(burst*interval + 1)))
		}
		tm := l.at(now)
		n := 1 + rng.Int64N(burst+1) // sometimes more than burst
		switch op := rng.IntN(8); op {
		case 0, 1, 2: // AllowN
			want, _ := m.reserve(tm, n, 0)
			var got bool
			if n == 1 {
				got = l.AllowAt(now) // the inlined single-token path
			} else {
				got = l.AllowN(now, int(n))
			}
			if got != (want == 0) {
				t.Fatalf("step %d: AllowN(t+%v, %d) = %v; model says wait %v", step, now.Sub(epoch), n, got, time.Duration(want))
			}
		case 3: // take with a random maximum wait, as Wait and Execute do
			maxWait := rng.Int64N(2*burst*interval + 1)
			wantWait, wantOK := m.reserve(tm, n, maxWait)
			_, gotWait, gotOK := l.take(tm, n, maxWait)
			if gotOK != wantOK || gotWait != wantWait {
				t.Fatalf("step %d: take(t+%v, %d, maxWait %v) = wait %v, %v; model %v, %v",
					step, now.Sub(epoch), n, time.Duration(maxWait), time.Duration(gotWait), gotOK, time.Duration(wantWait), wantOK)
			}
		case 4, 5: // ReserveN
			n = min(n, burst)
			wantWait, mr := m.grant(tm, n, math.MaxInt64)
			r := l.ReserveN(now, int(n))
			if !r.OK() || r.DelayFrom(now) != time.Duration(wantWait) {
				t.Fatalf("step %d: ReserveN(t+%v, %d) = ok %v delay %v; model delay %v",
					step, now.Sub(epoch), n, r.OK(), r.DelayFrom(now), time.Duration(wantWait))
			}
			if !r.TimeToAct().Equal(now.Add(time.Duration(wantWait))) {
				t.Fatalf("step %d: TimeToAct = %v; want %v", step, r.TimeToAct(), now.Add(time.Duration(wantWait)))
			}
			outstanding = append(outstanding, held{r, mr})
		case 6: // cancel an outstanding reservation, often the latest
			if len(outstanding) == 0 {
				continue
			}
			i := len(outstanding) - 1
			if rng.IntN(2) == 0 {
				i = rng.IntN(len(outstanding))
			}
			h := outstanding[i]
			outstanding = append(outstanding[:i], outstanding[i+1:]...)
			m.cancel(h.m, tm)
			h.r.CancelAt(now)
		case 7:
		}
		want := m.tokensAt(tm)
		if got := l.TokensAt(now); math.Abs(got-want) > 1e-9*float64(burst) {
			t.Fatalf("step %d: TokensAt(t+%v) = %v; model %v", step, now.Sub(epoch), got, want)
		}
	}
}
