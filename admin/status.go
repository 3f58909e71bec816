package admin

import (
	"time"

	"github.com/holdfast-dev/holdfast/internal/alert"
	"github.com/holdfast-dev/holdfast/proxy"
	"github.com/holdfast-dev/holdfast/slo"
)

// Status is what GET /status answers: readiness, the routes with their
// recent traffic, and the upstreams with their endpoints, breaker,
// concurrency limit and retry budget.
type Status struct {
	Time     time.Time `json:"time"`
	Ready    bool      `json:"ready"`
	Draining bool      `json:"draining"`
	Quiesced bool      `json:"quiesced"`
	// TrafficWindowSeconds is how far back each route's Traffic looks.
	TrafficWindowSeconds float64                `json:"traffic_window_seconds"`
	Routes               []RouteStatus          `json:"routes"`
	Unmatched            Traffic                `json:"unmatched"`
	Upstreams            []proxy.UpstreamStatus `json:"upstreams"`
	// SLOs are the objectives' budgets and burn rates (slo.go).
	SLOs []slo.Status `json:"slos"`
	// Alerts are the alerts that fire and the receivers' delivery counts;
	// nil without alerts (alert.go).
	Alerts *alert.Snapshot `json:"alerts,omitempty"`
}

// RouteStatus is a route and its recent traffic.
type RouteStatus struct {
	proxy.RouteStatus
	Traffic Traffic `json:"traffic"`
}

// Status returns the snapshot GET /status serves.
func (s *Server) Status() Status {
	ps := s.cfg.Proxy.Status()
	traffic := s.metrics.traffic.snapshot(time.Now())
	rd := s.readiness()
	st := Status{
		Time:                 time.Now().UTC(),
		Ready:                rd.Ready,
		Draining:             rd.Draining,
		Quiesced:             rd.Quiesced,
		TrafficWindowSeconds: TrafficWindow.Seconds(),
		Routes:               make([]RouteStatus, len(ps.Routes)),
		Unmatched:            orIdle(traffic, UnmatchedRoute),
		Upstreams:            ps.Upstreams,
		SLOs:                 s.sloStatus(),
	}
	for i, r := range ps.Routes {
		st.Routes[i] = RouteStatus{RouteStatus: r, Traffic: orIdle(traffic, r.Name)}
	}
	if s.cfg.Alerts != nil {
		a := s.cfg.Alerts.Snapshot()
		st.Alerts = &a
	}
	return st
}

// orIdle returns route's traffic, or that of a route with none.
func orIdle(t map[string]Traffic, route string) Traffic {
	if tr, ok := t[route]; ok {
		return tr
	}
	return Traffic{SuccessRate: 1}
}

// SeriesStatus is what GET /status/series answers: each route's traffic over
// the last [SeriesWindow], in buckets of [SeriesBucket].
type SeriesStatus struct {
	Time time.Time `json:"time"`
	// Start is when the first bucket starts; bucket i covers
	// [Start + i*BucketSeconds, Start + (i+1)*BucketSeconds), and the last
	// one, which holds Time, has only partly passed.
	Start         time.Time `json:"start"`
	BucketSeconds float64   `json:"bucket_seconds"`
	WindowSeconds float64   `json:"window_seconds"`
	// Routes are the running config's routes in match order, each with a
	// value per bucket in every series (a route without traffic too).
	Routes    []RouteSeries `json:"routes"`
	Unmatched RouteSeries   `json:"unmatched"`
	// SLOs are the objectives' histories (slo.go), in config order: empty
	// without objectives.
	SLOs []SLOSeries `json:"slos"`
}

// Series returns the history GET /status/series serves.
func (s *Server) Series() SeriesStatus {
	return s.seriesAt(time.Now())
}

func (s *Server) seriesAt(now time.Time) SeriesStatus {
	ps := s.cfg.Proxy.Status()
	series := s.metrics.traffic.series(now)
	st := SeriesStatus{
		Time:          now.UTC(),
		Start:         seriesStart(now),
		BucketSeconds: SeriesBucket.Seconds(),
		WindowSeconds: SeriesWindow.Seconds(),
		Routes:        make([]RouteSeries, len(ps.Routes)),
		Unmatched:     orIdleSeries(series, UnmatchedRoute),
	}
	for i, r := range ps.Routes {
		st.Routes[i] = orIdleSeries(series, r.Name)
	}
	st.SLOs = s.sloSeries()
	return st
}

// orIdleSeries returns route's series, or that of a route with no requests.
func orIdleSeries(s map[string]RouteSeries, route string) RouteSeries {
	if rs, ok := s[route]; ok {
		return rs
	}
	return newSeries(route)
}
