package breaker

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// inflight tracks how many probes run at once and the most ever seen.
type inflight struct {
	now, max atomic.Int64
}

func (f *inflight) enter() int64 {
	n := f.now.Add(1)
	for m := f.max.Load(); n > m && !f.max.CompareAndSwap(m, n); m = f.max.Load() {
	}
	return n
}

func (f *inflight) leave() { f.now.Add(-1) }

// TestHalfOpenAdmitsExactlyN releases many goroutines at once on a breaker
// whose open time is over. The first one half-opens it; exactly
// half_open_requests of them get a probe slot, and the admitted probes hold
// their slots until every goroutine has asked, so a breaker that admitted too
// many could not hide it.
func TestHalfOpenAdmitsExactlyN(t *testing.T) {
	const goroutines, rounds = 64, 30
	for _, n := range []int{1, 3, 8} {
		t.Run(fmt.Sprintf("N=%d", n), func(t *testing.T) {
			for round := range rounds {
				b, rec := newTest(t, Config{ConsecutiveFailures: 1, HalfOpenRequests: n, OpenDuration: time.Second})
				rec.concurrent()
				now := t0
				run(t, b, &now, "fail +1s")

				var admitted atomic.Int64
				var flight inflight
				start := make(chan struct{})
				var asked, done sync.WaitGroup
				asked.Add(goroutines)
				for range goroutines {
					done.Go(func() {
						<-start
						p, err := b.AllowAt(now)
						asked.Done()
						if err != nil {
							return
						}
						admitted.Add(1)
						flight.enter()
						asked.Wait() // hold the slot until everyone has asked
						flight.leave()
						p.DoneAt(now, nil)
					})
				}
				close(start)
				done.Wait()

				if got := admitted.Load(); got != int64(n) {
					t.Fatalf("round %d: %d probes admitted; want exactly %d", round, got, n)
				}
				if got := flight.max.Load(); got > int64(n) {
					t.Fatalf("round %d: %d probes in flight at once; want at most %d", round, got, n)
				}
				if got := b.StateAt(now); got != Closed {
					t.Fatalf("round %d: StateAt() = %v after %d successful probes; want closed", round, got, n)
				}
				want := []string{"closed->open:consecutive_failures", "open->half_open:open_duration_elapsed", "half_open->closed:probes_succeeded"}
				if got := rec.changes(); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("round %d: state changes %q; want %q (one transition however many racers)", round, got, want)
				}
			}
		})
	}
}

// TestHalfOpenChurn hammers a half-open breaker whose probes give their slots
// back (released or cancelled) as soon as they finish, so slots are reused
// all the time; the probes in flight must never exceed half_open_requests.
func TestHalfOpenChurn(t *testing.T) {
	const n, goroutines, calls = 3, 16, 2000
	b, rec := newTest(t, Config{ConsecutiveFailures: 1, HalfOpenRequests: n, OpenDuration: time.Second})
	rec.concurrent()
	now := t0
	run(t, b, &now, "fail +1s")

	var admitted atomic.Int64
	var flight inflight
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for i := range calls {
				p, err := b.AllowAt(now)
				if err != nil {
					continue
				}
				admitted.Add(1)
				if got := flight.enter(); got > n {
					t.Errorf("%d probes in flight; want at most %d", got, n)
				}
				flight.leave()
				if (g+i)%2 == 0 {
					p.Release()
				} else {
					p.DoneAt(now, context.Canceled)
				}
			}
		})
	}
	close(start)
	wg.Wait()

	if got := flight.max.Load(); got > n {
		t.Errorf("at most %d probes in flight; want at most %d", got, n)
	}
	if got := admitted.Load(); got <= n {
		t.Errorf("%d probes admitted in all; want more than %d, as released slots are reused", got, n)
	}
	if c := b.CountsAt(now); c.State != HalfOpen || c.Probes != 0 || c.ProbeSuccesses != 0 {
		t.Errorf("CountsAt() = %+v; want half_open with every slot given back", c)
	}
}
