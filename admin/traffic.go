package admin

import (
	"math"
	"sort"
	"sync"
	"time"
)

// TrafficWindow is how far back [Traffic] looks.
const TrafficWindow = 10 * time.Second

// Traffic is a route's recent traffic, for the status page: it answers "is
// this route well right now?", which counters since start cannot.
type Traffic struct {
	// Requests counts the requests answered in the window.
	Requests int64 `json:"requests"`
	// RPS is Requests per second over the window.
	RPS float64 `json:"rps"`
	// SuccessRate is the share of requests answered with a status below
	// 500, in [0, 1]; 1 when there were no requests.
	SuccessRate float64 `json:"success_rate"`
	// P50Seconds and P99Seconds estimate the median and 99th-percentile
	// request durations from a log-spaced histogram (high by at most 20%);
	// 0 when there were no requests.
	P50Seconds float64 `json:"p50_seconds"`
	P99Seconds float64 `json:"p99_seconds"`
}

const (
	trafficSlots = int(TrafficWindow / time.Second)
	// Latency bins grow by latencyGrowth from latencyMin; the last bin
	// takes everything longer.
	latencyBins   = 80
	latencyMin    = 100 * time.Microsecond
	latencyGrowth = 1.2
)

// latencyBounds[i] is the upper bound, in seconds, of latency bin i.
var latencyBounds = func() [latencyBins]float64 {
	var b [latencyBins]float64
	v := latencyMin.Seconds()
	for i := range b {
		b[i] = v
		v *= latencyGrowth
	}
	b[latencyBins-1] = math.Inf(1)
	return b
}()

// slot is one second of a route's traffic.
type slot struct {
	sec      int64 // the Unix second it holds; stale when older than the window
	requests int64
	failures int64
	bins     [latencyBins]int64
}

// trafficWindows keeps a ring of one-second slots per route.
type trafficWindows struct {
	// mu guards routes and every ring's slots.
	mu     sync.Mutex
	routes map[string]*[trafficSlots]slot
}

func newTrafficWindows() *trafficWindows {
	return &trafficWindows{routes: map[string]*[trafficSlots]slot{}}
}

func (t *trafficWindows) record(route string, status int, d time.Duration, now time.Time) {
	sec := now.Unix()
	bin := latencyBin(d.Seconds())
	t.mu.Lock()
	defer t.mu.Unlock()
	ring := t.routes[route]
	if ring == nil {
		ring = new([trafficSlots]slot)
		t.routes[route] = ring
	}
	s := &ring[mod(sec, trafficSlots)]
	if s.sec != sec {
		*s = slot{sec: sec}
	}
	s.requests++
	if status >= 500 || status < 100 {
		s.failures++
	}
	s.bins[bin]++
}

// snapshot sums each route's slots of the last TrafficWindow, the current
// second included.
func (t *trafficWindows) snapshot(now time.Time) map[string]Traffic {
	sec := now.Unix()
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]Traffic, len(t.routes))
	for route, ring := range t.routes {
		var requests, failures int64
		var bins [latencyBins]int64
		for i := range ring {
			s := &ring[i]
			if s.sec <= sec-int64(trafficSlots) || s.sec > sec {
				continue
			}
			requests += s.requests
			failures += s.failures
			for j, n := range s.bins {
				bins[j] += n
			}
		}
		tr := Traffic{Requests: requests, RPS: float64(requests) / TrafficWindow.Seconds(), SuccessRate: 1}
		if requests > 0 {
			tr.SuccessRate = float64(requests-failures) / float64(requests)
			tr.P50Seconds = quantile(&bins, requests, 0.5)
			tr.P99Seconds = quantile(&bins, requests, 0.99)
		}
		out[route] = tr
	}
	return out
}

// latencyBin returns the bin whose bounds hold v seconds: the first whose
// upper bound is v or more. NaN and negatives go to the first bin.
func latencyBin(v float64) int {
	if math.IsNaN(v) {
		return 0
	}
	return min(sort.SearchFloat64s(latencyBounds[:], v), latencyBins-1)
}

// quantile estimates the q-quantile of n samples spread over bins: the upper
// bound of the bin holding the rank, or the bound below it for the open last
// bin.
func quantile(bins *[latencyBins]int64, n int64, q float64) float64 {
	rank := int64(math.Ceil(q * float64(n)))
	var seen int64
	for i, c := range bins {
		seen += c
		if seen >= rank {
			if i == latencyBins-1 {
				return latencyBounds[latencyBins-2]
			}
			return latencyBounds[i]
		}
	}
	return latencyBounds[latencyBins-2]
}

func mod(a int64, n int) int {
	m := int(a % int64(n))
	if m < 0 {
		m += n
	}
	return m
}
