package admin

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/holdfast-dev/holdfast/proxy"
)

// voteRoute is a vote route over the env's two upstreams: ledger fails
// every request, so no request has a quorum of two.
const voteRoute = `  - name: quote
    match: {path_prefix: /quote}
    retry: {attempts: 1}
    vote: {upstreams: [shop, ledger]}
`

func TestVoteMetricsAndAPI(t *testing.T) {
	e := startEnv(t, envOptions{extra: voteRoute})
	fams := families(t, e.metrics)
	// Every series is there at 0 before the first request.
	for _, s := range []struct {
		name   string
		labels l
	}{
		{"holdfast_route_vote_total", l{"route": "quote", "verdict": "agreed"}},
		{"holdfast_route_vote_total", l{"route": "quote", "verdict": "no_quorum"}},
		{"holdfast_vote_voter_total", l{"route": "quote", "voter": "ledger", "outcome": "failed"}},
		{"holdfast_vote_voter_total", l{"route": "quote", "voter": "shop", "outcome": "dissented"}},
		{"holdfast_vote_voter_quarantined", l{"route": "quote", "voter": "shop"}},
		{"holdfast_route_local_replies_total", l{"route": "quote", "reason": "no_quorum"}},
	} {
		if v, ok := sample(fams, s.name, s.labels); !ok || v != 0 {
			t.Errorf("%s%v = %v, %v before any request; want 0, present", s.name, s.labels, v, ok)
		}
	}

	if got := e.send("/quote/1"); got != http.StatusBadGateway {
		t.Fatalf("GET /quote/1: got %d; want 502 no_quorum", got)
	}
	fams = families(t, e.metrics)
	for _, s := range []struct {
		name   string
		labels l
		want   float64
	}{
		{"holdfast_route_vote_total", l{"route": "quote", "verdict": "no_quorum"}, 1},
		{"holdfast_route_vote_total", l{"route": "quote", "verdict": "agreed"}, 0},
		{"holdfast_vote_voter_total", l{"route": "quote", "voter": "ledger", "outcome": "failed"}, 1},
		{"holdfast_route_local_replies_total", l{"route": "quote", "reason": "no_quorum"}, 1},
	} {
		if v, _ := sample(fams, s.name, s.labels); v != s.want {
			t.Errorf("%s%v = %v; want %v", s.name, s.labels, v, s.want)
		}
	}

	status, body, _ := e.do("GET", "/status", nil, nil)
	var st struct {
		Routes []proxy.RouteStatus `json:"routes"`
	}
	if err := json.Unmarshal([]byte(body), &st); status != 200 || err != nil {
		t.Fatalf("GET /status: %d %v", status, err)
	}
	var vs *proxy.VoteStatus
	for _, r := range st.Routes {
		if r.Name == "quote" {
			vs = r.Vote
		}
	}
	if vs == nil || len(vs.Voters) != 2 || vs.NoQuorum != 1 || vs.Voters[1].Upstream != "ledger" || vs.Voters[1].Failed != 1 || vs.Voters[1].AgreementRate != 1 {
		t.Errorf("/status vote = %+v; want 2 voters, 1 no_quorum, ledger failed once", vs)
	}

	status, body, _ = e.do("GET", "/vote/disagreements", nil, nil)
	var ds voteDisagreements
	if err := json.Unmarshal([]byte(body), &ds); status != 200 || err != nil || ds.Disagreements == nil {
		t.Errorf("GET /vote/disagreements: %d %q %v; want 200 and a list", status, body, err)
	}
}
