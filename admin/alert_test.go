package admin

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/internal/alert"
	"github.com/holdfast-dev/holdfast/proxy"
	"github.com/holdfast-dev/holdfast/upstream"
)

func TestRootCause(t *testing.T) {
	until := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := proxy.Status{
		Routes: []proxy.RouteStatus{
			{Name: "other", Targets: []proxy.RouteTarget{{Upstream: "b", Weight: 1}}},
			{Name: "checkout", Targets: []proxy.RouteTarget{{Upstream: "v1", Weight: 90}, {Upstream: "v2", Weight: 10}},
				Vote: &proxy.VoteStatus{Voters: []proxy.VoterStatus{{Upstream: "v1"}, {Upstream: "v2", Quarantined: true}}}},
		},
		Upstreams: []proxy.UpstreamStatus{
			{Status: upstream.Status{Name: "b", Usable: 1, Endpoints: []upstream.EndpointStatus{{Address: "b:1", Ejected: true}}}},
			{Status: upstream.Status{Name: "v1", Usable: 1, Endpoints: []upstream.EndpointStatus{
				{Address: "a:1", Healthy: true}, {Address: "a:2", Healthy: true, Ejected: true, EjectedUntil: until}, {Address: "a:3", Healthy: true, Probation: true}}},
				Breaker: &proxy.BreakerStatus{Counts: breaker.Counts{State: breaker.Open}}},
			{Status: upstream.Status{Name: "v2", Usable: 0, Panic: true, Endpoints: []upstream.EndpointStatus{{Address: "c:1"}}}},
		},
	}
	replies := map[string]int64{"breaker_open": 40, "timeout": 3, "no_route": 0, "overloaded": 40, "upstream_reset": 1,
		"upstream_error": 2, "fault_injected": 1}
	t1 := until.Add(-time.Hour)
	tl := TimelineSnapshot{Events: []TimelineEvent{
		{Kind: TimelineReload, Time: t1, To: "ok"},
		{Kind: TimelineBreaker, Time: t1.Add(time.Minute), To: "open"},
		{Kind: TimelineReload, Time: t1.Add(2 * time.Minute), To: "failed", Error: "bad key"},
		{Kind: TimelineReload, Time: t1.Add(3 * time.Minute), To: "ok"},
		{Kind: TimelineReload, Time: t1.Add(4 * time.Minute), To: "ok"},
	}}
	want := alert.Context{
		Route: "checkout",
		Upstreams: []alert.Upstream{
			{Name: "v1", Weight: 90, Breaker: "open", Usable: 1, Endpoints: 3},
			{Name: "v2", Weight: 10, Usable: 0, Endpoints: 1, Panic: true},
		},
		Endpoints: []alert.Endpoint{
			{Upstream: "v1", Address: "a:2", State: "ejected", Until: until},
			{Upstream: "v1", Address: "a:3", State: "probation"},
			{Upstream: "v2", Address: "c:1", State: "unhealthy"},
		},
		Quarantined: []string{"v2"},
		LocalReplies: []alert.ReasonCount{{Reason: "breaker_open", Count: 40}, {Reason: "overloaded", Count: 40},
			{Reason: "timeout", Count: 3}, {Reason: "upstream_error", Count: 2}, {Reason: "fault_injected", Count: 1}},
		Reloads: []alert.Reload{{Time: t1.Add(4 * time.Minute), OK: true}, {Time: t1.Add(3 * time.Minute), OK: true},
			{Time: t1.Add(2 * time.Minute), Error: "bad key"}},
	}
	if diff := cmp.Diff(want, rootCause("checkout", st, replies, tl)); diff != "" {
		t.Errorf("rootCause (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(alert.Context{Route: "gone"}, rootCause("gone", st, nil, TimelineSnapshot{})); diff != "" {
		t.Errorf("unknown route (-want +got):\n%s", diff)
	}
}

func TestAlertContextReadsTheServer(t *testing.T) {
	e := startEnv(t, envOptions{})
	e.breakThings()
	e.send("/ledger/x") // refused by the open breaker
	c := e.srv.AlertContext("ledger")
	if len(c.Upstreams) != 1 || c.Upstreams[0].Breaker != "open" {
		t.Errorf("upstreams: got %+v; want ledger's with its breaker open", c.Upstreams)
	}
	if len(c.LocalReplies) == 0 || c.LocalReplies[0].Reason != "breaker_open" {
		t.Errorf("local replies: got %+v; want breaker_open first", c.LocalReplies)
	}
}
