package admin

import (
	"math"
	"sort"
	"sync"
	"time"
)

// TrafficWindow is how far back [Traffic] looks.
const TrafficWindow = 10 * time.Second

// The status page's history: [RouteSeries] hold SeriesWindow of a route's
// traffic in buckets of SeriesBucket, the current (partial) bucket last.
const (
	SeriesBucket = 10 * time.Second
	SeriesWindow = 15 * time.Minute
)

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

// RouteSeries is a route's traffic over the last [SeriesWindow], one value
// per [SeriesBucket] in each slice, oldest first: the same figures as
// [Traffic], bucket by bucket. The last bucket is the current one, which has
// only partly passed.
type RouteSeries struct {
	Route string `json:"route"`
	// Requests counts the requests answered in each bucket, and Failures
	// those among them answered with a status of 500 or more (or none).
	Requests []int64 `json:"requests"`
	Failures []int64 `json:"failures"`
	// RPS is requests per second over each bucket; the current bucket's is
	// over the part of it that has passed (at least a second).
	RPS []float64 `json:"rps"`
	// SuccessRate is 1 - Failures/Requests, and 1 in a bucket without
	// requests (whose latencies are 0): draw those as gaps.
	SuccessRate []float64 `json:"success_rate"`
	P50Seconds  []float64 `json:"p50_seconds"`
	P99Seconds  []float64 `json:"p99_seconds"`
}

const (
	trafficSlots  = int(TrafficWindow / time.Second)
	seriesBuckets = int(SeriesWindow / SeriesBucket)
	bucketSecs    = int64(SeriesBucket / time.Second)
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

// bucket is SeriesBucket of a route's traffic. Its latency bins are 32-bit
// (a bucket would need 400 million requests a second to overflow one), which
// keeps a route's whole history near 30 KiB.
type bucket struct {
	n        int64 // the bucket's number, its start's Unix second / bucketSecs
	requests int64
	failures int64
	bins     [latencyBins]uint32
}

// routeTraffic is one route's rings: one-second slots for [Traffic] and
// buckets for [RouteSeries].
type routeTraffic struct {
	last    int64 // the Unix second of the latest request
	slots   [trafficSlots]slot
	buckets [seriesBuckets]bucket
}

// trafficWindows keeps each route's recent traffic. A route with no request
// for SeriesWindow is forgotten, so routes a reload removed do not stay.
type trafficWindows struct {
	// mu guards routes and every route's rings.
	mu     sync.Mutex
	routes map[string]*routeTraffic
}

func newTrafficWindows() *trafficWindows {
	return &trafficWindows{routes: map[string]*routeTraffic{}}
}

func (t *trafficWindows) record(route string, status int, d time.Duration, now time.Time) {
	sec := now.Unix()
	n := floorDiv(sec, bucketSecs)
	bin := latencyBin(d.Seconds())
	failed := status >= 500 || status < 100
	t.mu.Lock()
	defer t.mu.Unlock()
	rt := t.routes[route]
	if rt == nil {
		rt = &routeTraffic{last: sec}
		t.routes[route] = rt
	}
	rt.last = max(rt.last, sec)
	// A slot or bucket already holding a later time keeps it: a request
	// stamped a lap earlier (the wall clock stepped back) is outside its
	// window.
	if s := &rt.slots[mod(sec, trafficSlots)]; s.sec <= sec {
		if s.sec != sec {
			*s = slot{sec: sec}
		}
		s.requests++
		if failed {
			s.failures++
		}
		s.bins[bin]++
	}
	if b := &rt.buckets[mod(n, seriesBuckets)]; b.n <= n {
		if b.n != n {
			*b = bucket{n: n}
		}
		b.requests++
		if failed {
			b.failures++
		}
		b.bins[bin]++
	}
}

// snapshot sums each route's slots of the last TrafficWindow, the current
// second included.
func (t *trafficWindows) snapshot(now time.Time) map[string]Traffic {
	sec := now.Unix()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.forgetLocked(sec)
	out := make(map[string]Traffic, len(t.routes))
	for route, rt := range t.routes {
		var requests, failures int64
		var bins [latencyBins]int64
		for i := range rt.slots {
			s := &rt.slots[i]
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

// seriesStart returns the start of the oldest bucket of the series at now.
func seriesStart(now time.Time) time.Time {
	n := floorDiv(now.Unix(), bucketSecs) - int64(seriesBuckets) + 1
	return time.Unix(n*bucketSecs, 0).UTC()
}

// series returns each route's buckets of the SeriesWindow up to now, the
// current bucket last; bucket i starts at seriesStart(now) + i*SeriesBucket.
// Routes without a request in the window are absent: see idleSeries.
func (t *trafficWindows) series(now time.Time) map[string]RouteSeries {
	sec := now.Unix()
	cur := floorDiv(sec, bucketSecs)
	// The current bucket's rate is over what has passed of it, and at least
	// a second, so that its first requests do not read as a burst.
	passed := max(now.Sub(time.Unix(cur*bucketSecs, 0)), time.Second).Seconds()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.forgetLocked(sec)
	out := make(map[string]RouteSeries, len(t.routes))
	for route, rt := range t.routes {
		rs := newSeries(route)
		for i := range seriesBuckets {
			n := cur - int64(seriesBuckets) + 1 + int64(i)
			b := &rt.buckets[mod(n, seriesBuckets)]
			if b.n != n || b.requests == 0 {
				continue
			}
			secs := SeriesBucket.Seconds()
			if n == cur {
				secs = passed
			}
			rs.Requests[i] = b.requests
			rs.Failures[i] = b.failures
			rs.RPS[i] = float64(b.requests) / secs
			rs.SuccessRate[i] = float64(b.requests-b.failures) / float64(b.requests)
			rs.P50Seconds[i] = quantile(&b.bins, b.requests, 0.5)
			rs.P99Seconds[i] = quantile(&b.bins, b.requests, 0.99)
		}
		out[route] = rs
	}
	return out
}

// newSeries returns the series of a route without requests.
func newSeries(route string) RouteSeries {
	rs := RouteSeries{
		Route:       route,
		Requests:    make([]int64, seriesBuckets),
		Failures:    make([]int64, seriesBuckets),
		RPS:         make([]float64, seriesBuckets),
		SuccessRate: make([]float64, seriesBuckets),
		P50Seconds:  make([]float64, seriesBuckets),
		P99Seconds:  make([]float64, seriesBuckets),
	}
	for i := range rs.SuccessRate {
		rs.SuccessRate[i] = 1
	}
	return rs
}

// forgetLocked drops the routes that had no request in the SeriesWindow
// before the Unix second sec. Its caller holds t.mu.
func (t *trafficWindows) forgetLocked(sec int64) {
	for route, rt := range t.routes {
		if rt.last <= sec-int64(SeriesWindow/time.Second) {
			delete(t.routes, route)
		}
	}
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
func quantile[C int64 | uint32](bins *[latencyBins]C, n int64, q float64) float64 {
	rank := int64(math.Ceil(q * float64(n)))
	var seen int64
	for i, c := range bins {
		seen += int64(c)
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

// floorDiv is a/b rounded down, for seconds before 1970 as well.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
