package adaptive

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// server simulates a dependency with a fixed capacity: workers workers each
// serve one request in exactly service time, and requests beyond that wait
// in an unbounded FIFO queue inside the server, so that their latency grows
// with the queue. It runs in virtual time inside a synctest bubble.
type server struct {
	queue chan chan struct{}
}

func startServer(ctx context.Context, workers int, service func() time.Duration) *server {
	s := &server{queue: make(chan chan struct{}, 1<<17)}
	for range workers {
		go func() {
			for {
				select {
				case done := <-s.queue:
					time.Sleep(service())
					close(done)
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	return s
}

func fixed(d time.Duration) func() time.Duration {
	return func() time.Duration { return d }
}

// call sends one request and waits for its answer.
func (s *server) call() {
	done := make(chan struct{})
	s.queue <- done
	<-done
}

// sample is one admitted request: when it was sent and how long it took.
type sample struct {
	sent    time.Duration // since the start of the run
	latency time.Duration
}

// result is what an open-loop run measured.
type result struct {
	offered, admitted, completed int
	samples                      []sample // in order of completion
}

// runOpenLoop offers a request every interval for duration, regardless of
// how earlier ones fare (an open-loop client, like independent users), to a
// server, through lim when it is not nil. It waits for every admitted
// request to finish, and returns with the server stopped.
func runOpenLoop(workers int, service func() time.Duration, interval, duration time.Duration, lim *Limiter) result {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	srv := startServer(ctx, workers, service)
	var (
		mu  sync.Mutex
		res result
		wg  sync.WaitGroup
	)
	begin := time.Now()
	for time.Since(begin) < duration {
		res.offered++
		var tok Token
		if lim != nil {
			var err error
			if tok, err = lim.Acquire(); err != nil {
				time.Sleep(interval)
				continue
			}
		}
		res.admitted++
		wg.Go(func() {
			sent := time.Now()
			srv.call()
			latency := time.Since(sent)
			tok.Done()
			mu.Lock()
			res.completed++
			res.samples = append(res.samples, sample{sent: sent.Sub(begin), latency: latency})
			mu.Unlock()
		})
		time.Sleep(interval)
	}
	wg.Wait()
	return res
}

// percentile returns the p-th percentile (0 < p <= 1) of ds, which it sorts.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(float64(len(ds))*p+0.5) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

func latencies(ss []sample, from, to time.Duration) []time.Duration {
	var ds []time.Duration
	for _, s := range ss {
		if s.sent >= from && s.sent < to {
			ds = append(ds, s.latency)
		}
	}
	return ds
}

const (
	simWorkers  = 20
	simService  = 10 * time.Millisecond
	simCapacity = float64(simWorkers) / 0.010 // requests per second
	// The client offers three times what the server can serve.
	simInterval = time.Second / (3 * simWorkers * 100)
)

// TestUnlimitedOverloadLatencyGrowsWithoutBound is the control experiment:
// with no limit in front of it, a server under 3× overload queues ever more
// requests, and each second's requests wait longer than the last's.
func TestUnlimitedOverloadLatencyGrowsWithoutBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const duration = 3 * time.Second
		res := runOpenLoop(simWorkers, fixed(simService), simInterval, duration, nil)
		const step = 100 * time.Millisecond
		var p99s []time.Duration
		for from := time.Duration(0); from < duration; from += step {
			p99s = append(p99s, percentile(latencies(res.samples, from, from+step), 0.99))
		}
		t.Logf("p99 latency per %v of sending: %v", step, p99s)
		for i := 1; i < len(p99s); i++ {
			if p99s[i] <= p99s[i-1] {
				t.Errorf("p99 latency fell from %v to %v between windows %d and %d; want it rising throughout",
					p99s[i-1], p99s[i], i-1, i)
			}
		}
		first, last := p99s[0], p99s[len(p99s)-1]
		if last < 50*simService || last < 10*first {
			t.Errorf("p99 latency went from %v to %v; want at least 10× the first and 50× no-load (%v)", first, last, simService)
		}
	})
}

// TestAdaptiveLimitUnderOverload puts each algorithm in front of the same
// server under the same 3× overload, with a probe for the no-load latency
// every 2s, and checks what the issue asks for: goodput of at least 90% of
// capacity, and a p99 latency of admitted requests of at most twice the
// no-load latency.
func TestAdaptiveLimitUnderOverload(t *testing.T) {
	for _, alg := range []Algorithm{Gradient, Vegas, AIMD} {
		t.Run(string(alg), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const duration = 10 * time.Second
				var (
					mu     sync.Mutex
					limits []float64
					probes int
				)
				lim := MustNew(Config{
					Algorithm:     alg,
					ProbeInterval: 2 * time.Second,
					Listener: holdfast.ListenerFunc(func(e holdfast.Event) {
						mu.Lock()
						defer mu.Unlock()
						switch {
						case e.Kind == holdfast.EventLimitChanged:
							limits = append(limits, e.Value)
						case e.Kind == holdfast.EventStateChange && e.To == StateProbing:
							probes++
						}
					}),
				})
				start := time.Now()
				res := runOpenLoop(simWorkers, fixed(simService), simInterval, duration, lim)

				ds := latencies(res.samples, 0, duration)
				p50, p99, worst := percentile(ds, 0.5), percentile(ds, 0.99), percentile(ds, 1)
				var inTime int
				for _, s := range res.samples {
					if s.sent+s.latency <= duration {
						inTime++
					}
				}
				goodput := float64(inTime) / duration.Seconds()
				t.Logf("offered %d, admitted %d; goodput %.0f/s of capacity %.0f/s (%.1f%%); latency p50 %v p99 %v max %v; min RTT %v; %d probes; final limit %d; %d limit changes, last ones %v",
					res.offered, res.admitted, goodput, simCapacity, 100*goodput/simCapacity, p50, p99, worst,
					lim.MinRTT(), probes, lim.Limit(), len(limits), limits[max(0, len(limits)-8):])

				if goodput < 0.9*simCapacity {
					t.Errorf("goodput = %.0f/s; want at least 90%% of capacity %.0f/s", goodput, simCapacity)
				}
				if p99 > 2*simService {
					t.Errorf("p99 latency of admitted requests = %v; want at most 2× no-load latency = %v", p99, 2*simService)
				}
				if got := lim.MinRTT(); got != simService {
					t.Errorf("MinRTT() = %v; want the no-load latency %v", got, simService)
				}
				// Each cycle is at most 2.3s of interval, the probe itself and a
				// window: 3s is a safe bound.
				if wantProbes := int(time.Since(start) / (3 * time.Second)); probes < wantProbes {
					t.Errorf("%d probes in %v; want at least %d, one per 2s probe interval", probes, time.Since(start), wantProbes)
				}
				if got := lim.InFlight(); got != 0 {
					t.Errorf("InFlight() after the run = %d; want 0", got)
				}
			})
		})
	}
}

// TestAdaptiveLimitFollowsSlowerDependency slows the server down for good
// halfway through a 3× overload (its service time doubles, so its capacity
// halves). With the no-load latency it knew, every answer now looks
// congested, so the limit sinks to Min; there the latency stays high, which
// makes the limiter measure the no-load latency again at once instead of
// waiting out the probe interval (1m by default, longer than the run). It
// then serves the slower server as well as it did the fast one.
func TestAdaptiveLimitFollowsSlowerDependency(t *testing.T) {
	for _, alg := range []Algorithm{Gradient, Vegas, AIMD} {
		t.Run(string(alg), func(t *testing.T) { testFollowsSlowerDependency(t, alg) })
	}
}

func testFollowsSlowerDependency(t *testing.T, alg Algorithm) {
	synctest.Test(t, func(t *testing.T) {
		const (
			slowAt   = 3 * time.Second
			duration = 8 * time.Second
			slow     = 2 * simService
		)
		slowCapacity := simCapacity / 2
		var probes atomic.Int32
		lim := MustNew(Config{Algorithm: alg, Listener: holdfast.ListenerFunc(func(e holdfast.Event) {
			if e.Kind == holdfast.EventStateChange && e.To == StateProbing {
				probes.Add(1)
			}
		})})
		begin := time.Now()
		service := func() time.Duration {
			if time.Since(begin) >= slowAt {
				return slow
			}
			return simService
		}
		res := runOpenLoop(simWorkers, service, simInterval, duration, lim)

		// Judge the second after the slowdown plus a second to settle.
		from := slowAt + time.Second
		var served int
		var ds []time.Duration
		for _, s := range res.samples {
			if s.sent >= from && s.sent+s.latency <= duration {
				served++
			}
			if s.sent >= from {
				ds = append(ds, s.latency)
			}
		}
		goodput := float64(served) / (duration - from).Seconds()
		p99 := percentile(ds, 0.99)
		t.Logf("after the slowdown: goodput %.0f/s of capacity %.0f/s (%.1f%%), p99 %v; min RTT %v; %d probes; final limit %d",
			goodput, slowCapacity, 100*goodput/slowCapacity, p99, lim.MinRTT(), probes.Load(), lim.Limit())
		if got := lim.MinRTT(); got != slow {
			t.Errorf("MinRTT() = %v; want the new no-load latency %v", got, slow)
		}
		if got := probes.Load(); got != 1 {
			t.Errorf("%d probes after the first; want 1, forced by the slowdown", got)
		}
		if goodput < 0.9*slowCapacity {
			t.Errorf("goodput after the slowdown = %.0f/s; want at least 90%% of capacity %.0f/s", goodput, slowCapacity)
		}
		if p99 > 2*slow {
			t.Errorf("p99 latency after the slowdown = %v; want at most 2× the new no-load latency = %v", p99, 2*slow)
		}
	})
}
