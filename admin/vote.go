package admin

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdfast-dev/holdfast/proxy"
)

// Vote routes' series, read from the watched proxy's Status at scrape time
// (as the gauges of collector.go are): every vote route and voter of the
// running config has each of them, at 0 before its first request.
var (
	descVotes = prometheus.NewDesc("holdfast_route_vote_total",
		"Requests of a vote route, by verdict: agreed (a quorum agreed) or no_quorum.", []string{"route", "verdict"}, nil)
	descVoterVotes = prometheus.NewDesc("holdfast_vote_voter_total",
		"A vote route's voter's answers, by outcome: agreed, dissented, missing (no answer in time) or failed (error, 5xx, body over the cap).",
		[]string{"route", "voter", "outcome"}, nil)
	descVoterQuarantined = prometheus.NewDesc("holdfast_vote_voter_quarantined",
		"1 while the voter is quarantined for dissenting: asked as a probe, its answers not counted.", []string{"route", "voter"}, nil)
)

// voteCollector exports the vote routes' series of [Metrics].
type voteCollector struct{ m *Metrics }

func (c *voteCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descVotes
	ch <- descVoterVotes
	ch <- descVoterQuarantined
}

func (c *voteCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.m.proxy.Load()
	if p == nil {
		return
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, r := range p.Status().Routes {
		vs := r.Vote
		if vs == nil {
			continue
		}
		counter(descVotes, vs.Agreed, r.Name, "agreed")
		counter(descVotes, vs.NoQuorum, r.Name, "no_quorum")
		for _, v := range vs.Voters {
			counter(descVoterVotes, v.Agreed, r.Name, v.Upstream, "agreed")
			counter(descVoterVotes, v.Dissented, r.Name, v.Upstream, "dissented")
			counter(descVoterVotes, v.Missing, r.Name, v.Upstream, "missing")
			counter(descVoterVotes, v.Failed, r.Name, v.Upstream, "failed")
			ch <- prometheus.MustNewConstMetric(descVoterQuarantined, prometheus.GaugeValue, bool01(v.Quarantined), r.Name, v.Upstream)
		}
	}
}

// voteDisagreements is the body of GET /vote/disagreements.
type voteDisagreements struct {
	Disagreements []proxy.VoteDisagreement `json:"disagreements"`
}

// serveVoteDisagreements answers GET /vote/disagreements: the last
// disagreements of every vote route, oldest first, with field-level diffs.
func (s *Server) serveVoteDisagreements(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, voteDisagreements{Disagreements: s.cfg.Proxy.VoteDisagreements()})
}
