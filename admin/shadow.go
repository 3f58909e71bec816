package admin

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdfast-dev/holdfast/proxy"
)

// Shadow routes' series, read from the watched proxy at scrape time (as
// the vote routes' are): every shadow route of the running config has each
// of them, at 0 before its first request. Fields are not labels: their
// names come from the answers, and GET /shadow/differences lists them.
var (
	descShadowRequests = prometheus.NewDesc("holdfast_route_shadow_requests_total",
		"Requests of a shadow route picked for a comparison, by outcome: compared, dropped (max_concurrent comparisons in flight), oversize (the primary's answer over the cap), candidate_failed or secondary_failed.",
		[]string{"route", "outcome"}, nil)
	descShadowDifferences = prometheus.NewDesc("holdfast_route_shadow_differences_total",
		"Fields of compared answers that differed, by kind: real (the candidate differs from the primary, whose two answers agree) or noise (the primary's two answers differ).",
		[]string{"route", "kind"}, nil)
	descShadowDiffering = prometheus.NewDesc("holdfast_route_shadow_differing_total",
		"Compared requests of a shadow route with at least one real difference.", []string{"route"}, nil)
)

// shadowCollector exports the shadow routes' series of [Metrics].
type shadowCollector struct{ m *Metrics }

func (c *shadowCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descShadowRequests
	ch <- descShadowDifferences
	ch <- descShadowDiffering
}

func (c *shadowCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.m.proxy.Load()
	if p == nil {
		return
	}
	sr := series(ch)
	counter := func(d *prometheus.Desc, v uint64, labels ...string) { sr.counter(d, float64(v), labels...) }
	for _, s := range p.ShadowDifferences() {
		counter(descShadowRequests, s.Compared, s.Route, "compared")
		counter(descShadowRequests, s.Dropped, s.Route, "dropped")
		counter(descShadowRequests, s.Oversize, s.Route, "oversize")
		counter(descShadowRequests, s.CandidateFailed, s.Route, "candidate_failed")
		counter(descShadowRequests, s.SecondaryFailed, s.Route, "secondary_failed")
		counter(descShadowDifferences, s.RealDifferences, s.Route, "real")
		counter(descShadowDifferences, s.NoiseDifferences, s.Route, "noise")
		counter(descShadowDiffering, s.Differing, s.Route)
	}
}

// shadowDifferences is the body of GET /shadow/differences.
type shadowDifferences struct {
	Routes []proxy.ShadowStatus `json:"routes"`
}

// serveShadowDifferences answers GET /shadow/differences: every shadow
// route's comparisons, its real differences by field with a count and a
// sample, and its noise.
func (s *Server) serveShadowDifferences(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, shadowDifferences{Routes: s.cfg.Proxy.ShadowDifferences()})
}
