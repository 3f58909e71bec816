package upstream

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/holdfast-dev/holdfast"
)

// advance moves the bubble's clock by d and lets timers fire.
func advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func TestEjectionOnConsecutiveFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log changeLog
		u := newTest(t, Config{
			Endpoints:        addrs(4),
			OutlierDetection: OutlierConfig{ConsecutiveFailures: 3, BaseEjectionTime: 10 * time.Second, MaxEjectionTime: 25 * time.Second},
			OnChange:         log.add,
		}, seeded(1))
		e := u.eps[0]
		a := e.String()

		fail(e, 2)
		succeed(e, 1, time.Millisecond) // breaks the streak
		fail(e, 2)
		if e.Ejected() {
			t.Fatal("ejected after two failures in a row; want 3 needed")
		}
		fail(e, 1)
		if !e.Ejected() || e.Usable() {
			t.Fatalf("Ejected(), Usable() = %v, %v after 3 failures; want true, false", e.Ejected(), e.Usable())
		}
		if got, want := u.Status().Endpoints[0].EjectedUntil, time.Now().Add(10*time.Second); !got.Equal(want) {
			t.Errorf("ejected_until = %v; want %v", got, want)
		}
		for range 1000 {
			if p, _ := u.Pick(Mask{}); p == e {
				t.Fatal("Pick returned an ejected endpoint while others are usable")
			}
		}

		// The first ejection lasts base: 10s.
		advance(10*time.Second - 1)
		if !e.Ejected() {
			t.Fatal("ejection ended before base_ejection_time")
		}
		advance(1)
		if e.Ejected() || !e.Probation() {
			t.Fatalf("at 10s: Ejected(), Probation() = %v, %v; want false, true", e.Ejected(), e.Probation())
		}
		// On probation one failure ejects again, for 2 x base.
		fail(e, 1)
		if !e.Ejected() {
			t.Fatal("failure on probation did not eject")
		}
		advance(20*time.Second - 1)
		if !e.Ejected() {
			t.Fatal("second ejection ended before 2 x base")
		}
		advance(1)
		fail(e, 1)
		// Third: 3 x 10s = 30s, capped at max_ejection_time 25s.
		advance(25*time.Second - 1)
		if !e.Ejected() {
			t.Fatal("third ejection ended before max_ejection_time")
		}
		advance(1)
		if e.Ejected() {
			t.Fatal("third ejection outlasted max_ejection_time")
		}
		// A success clears probation.
		succeed(e, 1, time.Millisecond)
		if e.Probation() {
			t.Error("Probation() = true after a success; want false")
		}
		fail(e, 1)
		if e.Ejected() {
			t.Error("one failure ejected an endpoint off probation; want 3 needed")
		}
		want := []string{
			"endpoint_ejected " + a + " consecutive_failures",
			"endpoint_probation " + a + " ejection_ended",
			"endpoint_ejected " + a + " probation_failure",
			"endpoint_probation " + a + " ejection_ended",
			"endpoint_ejected " + a + " probation_failure",
			"endpoint_probation " + a + " ejection_ended",
			"endpoint_restored " + a + " probation_passed",
		}
		if diff := cmp.Diff(want, log.take()); diff != "" {
			t.Errorf("changes (-want +got):\n%s", diff)
		}
		if got := u.Status().Endpoints[0].Ejections; got != 3 {
			t.Errorf("ejections = %d; want 3", got)
		}
	})
}

func TestEjectionOnDeadlineMisses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log changeLog
		u := newTest(t, Config{
			Endpoints:        addrs(2),
			OutlierDetection: OutlierConfig{Deadline: 250 * time.Millisecond, ConsecutiveDeadlineMisses: 3, BaseEjectionTime: 30 * time.Second},
			OnChange:         log.add,
		}, seeded(1))
		e := u.eps[1]
		succeed(e, 2, 300*time.Millisecond)
		succeed(e, 1, 250*time.Millisecond) // exactly at the deadline is on time
		succeed(e, 2, 300*time.Millisecond)
		fail(e, 1) // a fast failure is on time: breaks the late streak
		succeed(e, 2, 251*time.Millisecond)
		if e.Ejected() {
			t.Fatal("ejected without 3 late answers in a row")
		}
		succeed(e, 1, time.Second) // successful, but late
		if !e.Ejected() {
			t.Fatal("not ejected after 3 late answers in a row")
		}
		advance(30 * time.Second)
		// Late on probation: ejected again.
		succeed(e, 1, 300*time.Millisecond)
		if !e.Ejected() {
			t.Fatal("late answer on probation did not eject")
		}
		a := e.String()
		want := []string{
			"endpoint_ejected " + a + " deadline_misses",
			"endpoint_probation " + a + " ejection_ended",
			"endpoint_ejected " + a + " probation_failure",
		}
		if diff := cmp.Diff(want, log.take()); diff != "" {
			t.Errorf("changes (-want +got):\n%s", diff)
		}
	})
}

func TestNoDeadlineNoMisses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newTest(t, Config{Endpoints: addrs(2)}, seeded(1))
		succeed(u.eps[0], 100, time.Hour)
		if u.eps[0].Ejected() {
			t.Error("slow answers ejected an endpoint with no deadline set")
		}
	})
}

func TestEjectionLevelIsForgotten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newTest(t, Config{
			Endpoints:        addrs(2),
			OutlierDetection: OutlierConfig{ConsecutiveFailures: 1, BaseEjectionTime: 10 * time.Second, MaxEjectionTime: 40 * time.Second},
		}, seeded(1))
		e := u.eps[0]
		until := func() time.Duration { return time.Until(u.Status().Endpoints[0].EjectedUntil) }
		fail(e, 1)
		advance(10 * time.Second)
		succeed(e, 1, time.Millisecond)
		fail(e, 1)
		if got := until(); got != 20*time.Second {
			t.Fatalf("second ejection: %v; want 20s", got)
		}
		advance(20 * time.Second)
		succeed(e, 1, time.Millisecond)
		// 41s in service (one max_ejection_time) forgets one of the two
		// ejections so far.
		advance(41 * time.Second)
		fail(e, 1)
		if got := until(); got != 20*time.Second {
			t.Errorf("after 41s in service: ejection of %v; want 20s (level 2 - 1 + 1)", got)
		}
		advance(20 * time.Second)
		succeed(e, 1, time.Millisecond)
		advance(time.Hour)
		fail(e, 1)
		if got := until(); got != 10*time.Second {
			t.Errorf("after an hour in service: ejection of %v; want base 10s", got)
		}
	})
}

func TestMaxEjectionPercent(t *testing.T) {
	tests := []struct {
		endpoints, percent, want int
	}{
		{1, 50, 0},
		{1, 99, 0},
		{1, 100, 1},
		{2, 50, 1},
		{3, 50, 1},
		{4, 50, 2},
		{10, 10, 1},
		{9, 10, 0},
		{5, 100, 5},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d_at_%d%%", tt.endpoints, tt.percent), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				u := newTest(t, Config{
					Endpoints:        addrs(tt.endpoints),
					OutlierDetection: OutlierConfig{ConsecutiveFailures: 1, MaxEjectionPercent: tt.percent},
				}, seeded(1))
				for _, e := range u.eps {
					fail(e, 3)
				}
				s := u.Status()
				if s.Ejected != tt.want {
					t.Errorf("ejected %d of %d at %d%%; want %d", s.Ejected, tt.endpoints, tt.percent, tt.want)
				}
				// Failures of an ejected endpoint are not refusals; every
				// failure of the others is.
				if refused := int64(3 * (tt.endpoints - tt.want)); s.EjectionsRefused != refused {
					t.Errorf("ejections_refused = %d; want %d", s.EjectionsRefused, refused)
				}
			})
		})
	}
}

// TestMaxEjectionPercentProperty drives upstreams of random sizes and
// settings with random outcomes, latencies and clock moves, and checks after
// every step that ejections never pass max_ejection_percent and that Pick
// always returns an endpoint.
func TestMaxEjectionPercentProperty(t *testing.T) {
	for seed := range uint64(60) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := rand.New(rand.NewPCG(seed, 99))
				n := 1 + r.IntN(20)
				pct := 1 + r.IntN(100)
				u := newTest(t, Config{
					Endpoints: addrs(n),
					OutlierDetection: OutlierConfig{
						ConsecutiveFailures:       1 + r.IntN(3),
						Deadline:                  100 * time.Millisecond,
						ConsecutiveDeadlineMisses: 1 + r.IntN(3),
						BaseEjectionTime:          time.Duration(1+r.IntN(10)) * time.Second,
						MaxEjectionPercent:        pct,
					},
				}, seeded(seed))
				limit := pct * n / 100
				maxSeen := 0
				for step := range 2000 {
					e, err := u.Pick(Mask{})
					if err != nil {
						t.Fatalf("step %d: Pick: %v", step, err)
					}
					e.Start()
					o := Success
					if r.IntN(3) == 0 {
						o = Failure
					}
					e.Done(time.Duration(r.IntN(200))*time.Millisecond, o)
					if r.IntN(20) == 0 {
						advance(time.Duration(r.IntN(5000)) * time.Millisecond)
					}
					ejected := 0
					for _, e := range u.eps {
						if e.Ejected() {
							ejected++
						}
					}
					if ejected*100 > pct*n {
						t.Fatalf("step %d: %d of %d endpoints ejected; max_ejection_percent %d allows %d", step, ejected, n, pct, limit)
					}
					maxSeen = max(maxSeen, ejected)
				}
				if limit > 0 && maxSeen == 0 {
					t.Errorf("no endpoint was ever ejected (limit %d); the property was not exercised", limit)
				}
			})
		})
	}
}

func TestOutlierDetectionDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newTest(t, Config{Endpoints: addrs(2), OutlierDetection: OutlierConfig{Disabled: true, Deadline: time.Millisecond}}, seeded(1))
		fail(u.eps[0], 100)
		succeed(u.eps[0], 100, time.Second)
		if u.eps[0].Ejected() {
			t.Error("endpoint ejected with outlier detection disabled")
		}
	})
}

func TestCanceledIsIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newTest(t, Config{Endpoints: addrs(2), OutlierDetection: OutlierConfig{ConsecutiveFailures: 2, Deadline: time.Millisecond, ConsecutiveDeadlineMisses: 2}}, seeded(1))
		e := u.eps[0]
		fail(e, 1)
		for range 10 {
			e.Start()
			e.Done(time.Hour, Canceled)
		}
		if e.Ejected() || e.InFlight() != 0 || e.EWMA() != defaultRTT {
			t.Errorf("after cancels: Ejected() = %v, InFlight() = %d, EWMA() = %v; want false, 0, %v", e.Ejected(), e.InFlight(), e.EWMA(), defaultRTT)
		}
		fail(e, 1) // the streak survived the cancels
		if !e.Ejected() {
			t.Error("cancels broke the failure streak")
		}
	})
}

func TestCloseFreezesEjections(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log changeLog
		u := newTest(t, Config{Endpoints: addrs(2), OnChange: log.add, OutlierDetection: OutlierConfig{ConsecutiveFailures: 1}}, seeded(1))
		fail(u.eps[0], 1)
		u.Close()
		u.Close() // idempotent
		advance(time.Hour)
		fail(u.eps[1], 1)
		if !u.eps[0].Ejected() || u.eps[1].Ejected() {
			t.Errorf("after Close: ejected = %v, %v; want true, false (frozen)", u.eps[0].Ejected(), u.eps[1].Ejected())
		}
		if got := len(log.take()); got != 1 {
			t.Errorf("%d changes; want 1, the ejection before Close", got)
		}
	})
}

// record records outcomes on e, one a millisecond long each.
func record(e *Endpoint, outcomes ...Outcome) {
	for _, o := range outcomes {
		e.Start()
		e.Done(time.Millisecond, o)
	}
}

// TestEjectionOnInvariantViolations feeds sequences of outcomes to one
// endpoint of four: invalid answers have their own streak, which only a
// valid answer ends, and which neither ends nor is ended by failures.
func TestEjectionOnInvariantViolations(t *testing.T) {
	for _, tc := range []struct {
		name       string
		violations int // consecutive_invariant_violations; 0 is the default, 3
		outcomes   []Outcome
		want       string // the ejection's reason; "" for none
	}{
		{"three in a row by default", 0, []Outcome{Invalid, Invalid, Invalid}, ReasonConsecutiveInvariantViolations},
		{"two are not enough", 0, []Outcome{Invalid, Invalid}, ""},
		{"a valid answer ends the streak", 0, []Outcome{Invalid, Invalid, Valid, Invalid, Invalid}, ""},
		{"an unchecked success does not", 0, []Outcome{Invalid, Invalid, Success, Invalid}, ReasonConsecutiveInvariantViolations},
		{"failures do not end it", 0, []Outcome{Invalid, Failure, Invalid, Failure, Invalid}, ReasonConsecutiveInvariantViolations},
		{"nor count toward it", 0, []Outcome{Invalid, Invalid, Failure}, ""},
		{"invalid answers do not end a failure streak", 0, []Outcome{Failure, Failure, Invalid, Failure, Failure, Invalid, Failure}, ReasonConsecutiveFailures},
		{"a valid answer ends the failure streak too", 0, []Outcome{Failure, Failure, Failure, Failure, Valid, Failure}, ""},
		{"canceled is nothing", 0, []Outcome{Invalid, Invalid, Canceled, Invalid}, ReasonConsecutiveInvariantViolations},
		{"configured 5", 5, []Outcome{Invalid, Invalid, Invalid, Invalid}, ""},
		{"configured 5, reached", 5, []Outcome{Invalid, Invalid, Invalid, Invalid, Invalid}, ReasonConsecutiveInvariantViolations},
		{"configured 1", 1, []Outcome{Valid, Invalid}, ReasonConsecutiveInvariantViolations},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var log changeLog
				u := newTest(t, Config{
					Endpoints:        addrs(4),
					OutlierDetection: OutlierConfig{ConsecutiveInvariantViolations: tc.violations},
					OnChange:         log.add,
				}, seeded(1))
				e := u.eps[0]
				record(e, tc.outcomes...)
				var got []string
				if tc.want != "" {
					got = []string{"endpoint_ejected " + e.String() + " " + tc.want}
				}
				if diff := cmp.Diff(got, log.take()); diff != "" {
					t.Errorf("changes (-want +got):\n%s", diff)
				}
				if e.Ejected() != (tc.want != "") {
					t.Errorf("Ejected() = %v; want %v", e.Ejected(), tc.want != "")
				}
			})
		})
	}
}

// TestInvariantEjectionProbation: an endpoint ejected for invalid answers
// comes back on probation like a failing one: one invalid answer ejects it
// again, for twice as long; a valid one restores it; and the event says
// why it went.
func TestInvariantEjectionProbation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log changeLog
		var mu sync.Mutex
		var events []holdfast.Event
		u := newTest(t, Config{
			Endpoints:        addrs(2),
			OutlierDetection: OutlierConfig{BaseEjectionTime: 10 * time.Second},
			OnChange:         log.add,
			Listener: holdfast.ListenerFunc(func(e holdfast.Event) {
				mu.Lock()
				defer mu.Unlock()
				events = append(events, e)
			}),
		}, seeded(1))
		e := u.eps[0]
		a := e.String()
		record(e, Invalid, Invalid, Invalid)
		advance(10 * time.Second)
		record(e, Invalid) // on probation: out again, for 20s
		advance(20*time.Second - 1)
		if !e.Ejected() {
			t.Fatal("the second ejection ended before 20s")
		}
		advance(1)
		record(e, Valid)
		want := []string{
			"endpoint_ejected " + a + " " + ReasonConsecutiveInvariantViolations,
			"endpoint_probation " + a + " " + ReasonEjectionEnded,
			"endpoint_ejected " + a + " " + ReasonProbationFailure,
			"endpoint_probation " + a + " " + ReasonEjectionEnded,
			"endpoint_restored " + a + " " + ReasonProbationPassed,
		}
		if diff := cmp.Diff(want, log.take()); diff != "" {
			t.Errorf("changes (-want +got):\n%s", diff)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(events) == 0 || events[0].From != "active" || events[0].To != "ejected" || events[0].Reason != ReasonConsecutiveInvariantViolations {
			t.Errorf("first event = %+v; want active -> ejected for %s", events, ReasonConsecutiveInvariantViolations)
		}
		if e.Ejected() || e.Probation() {
			t.Errorf("Ejected(), Probation() = %v, %v after a valid answer on probation; want false, false", e.Ejected(), e.Probation())
		}
	})
}
