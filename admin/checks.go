package admin

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Response checks' series, read from the watched proxy at scrape time (as
// the vote routes' are): every check of every route of the running config
// has its series, at 0 before its first violation.
var (
	descCheckViolations = prometheus.NewDesc("holdfast_route_check_violations_total",
		"Responses a route withheld because they broke one of its checks, by check (checks[i], as listed in the route).",
		[]string{"route", "check"}, nil)
	descCheckOversize = prometheus.NewDesc("holdfast_route_check_oversize_total",
		"Response bodies over a route's checks_max_body_bytes: failed or, with checks_on_oversize: pass, relayed unjudged.",
		[]string{"route"}, nil)
)

// checksCollector exports the response checks' series of [Metrics].
type checksCollector struct{ m *Metrics }

func (c *checksCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCheckViolations
	ch <- descCheckOversize
}

func (c *checksCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.m.proxy.Load()
	if p == nil {
		return
	}
	s := series(ch)
	for _, r := range p.ResponseChecks() {
		for _, cs := range r.Checks {
			s.counter(descCheckViolations, float64(cs.Violations), r.Route, cs.Check)
		}
		s.counter(descCheckOversize, float64(r.Oversize), r.Route)
	}
}
