package admin

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdfast-dev/holdfast/proxy"
)

// Vote routes' series, read from the watched proxy's Status at scrape time
// (statusCollector): every vote route and voter of the
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

// voteSeries exports the vote routes' series (statusCollector).
var voteSeries = statusSeries{descs: []*prometheus.Desc{descVotes, descVoterVotes, descVoterQuarantined}, emit: func(s series, st *proxy.Status) {
	for _, r := range st.Routes {
		vs := r.Vote
		if vs == nil {
			continue
		}
		s.counter(descVotes, float64(vs.Agreed), r.Name, "agreed")
		s.counter(descVotes, float64(vs.NoQuorum), r.Name, "no_quorum")
		for _, v := range vs.Voters {
			s.counter(descVoterVotes, float64(v.Agreed), r.Name, v.Upstream, "agreed")
			s.counter(descVoterVotes, float64(v.Dissented), r.Name, v.Upstream, "dissented")
			s.counter(descVoterVotes, float64(v.Missing), r.Name, v.Upstream, "missing")
			s.counter(descVoterVotes, float64(v.Failed), r.Name, v.Upstream, "failed")
			s.gauge(descVoterQuarantined, bool01(v.Quarantined), r.Name, v.Upstream)
		}
	}
}}

// voteDisagreements is the body of GET /vote/disagreements.
type voteDisagreements struct {
	Disagreements []proxy.VoteDisagreement `json:"disagreements"`
}

// serveVoteDisagreements answers GET /vote/disagreements: the last
// disagreements of every vote route, oldest first, with field-level diffs.
func (s *Server) serveVoteDisagreements(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, voteDisagreements{Disagreements: s.cfg.Proxy.VoteDisagreements()})
}
