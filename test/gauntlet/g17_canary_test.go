//go:build !race

package gauntlet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// release is a version of a service on loopback: an answer takes delay,
// every 25th ten times that (a tail, so that the p99 the canary judges is
// the version's and not the scheduling noise of a shared machine, which
// adds tens of milliseconds to the slowest 1% of any answers), and one
// in errEvery is a 500 (0: none), never a slow one, which would still be
// in flight when a step is judged and so undercount the errors. The slow answers and the errors are
// spread evenly, not drawn, so that a step judged on a few hundred
// requests sees the latency and error rate the version has.
type release struct {
	srv      *httptest.Server
	requests atomic.Int64
}

func startRelease(t *testing.T, delay time.Duration, errEvery int64) *release {
	t.Helper()
	v := &release{}
	v.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := v.requests.Add(1)
		d := delay
		if n%25 == 0 {
			d *= 10
		}
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
		if errEvery > 0 && (n+13)%errEvery == 0 { // never a slow one
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(v.srv.Close)
	return v
}

// canaryConfig splits the route checkout between v1 (the baseline) and v2
// (the candidate) through the steps 10, 25, 50 and 100 (the 1 and
// 5 would need 100× min_requests requests for the first step alone). A
// step needs 200 requests of each side and lasts at least 1s, so at the
// 10% step the judgment waits for the candidate's 200th request, about
// 2,000 in all: min_requests, not the interval, says when a step is
// judged, which is judged once.
const canaryGauntletConfig = `
listen: {{.Listen}}
admin: {listen: {{.Admin}}}
upstreams:
  checkout-v1: {endpoints: [{address: BASELINE}], outlier_detection: {disabled: true}}
  checkout-v2: {endpoints: [{address: CANDIDATE}], outlier_detection: {disabled: true}}
routes:
  - name: checkout
    timeout: 2s
    retry: {attempts: 1}
    split:
      - {upstream: checkout-v1, weight: 100}
      - {upstream: checkout-v2, weight: 0}
    canary:
      baseline: checkout-v1
      candidate: checkout-v2
      steps: [10, 25, 50, 100]
      interval: 1s
      min_requests: 200
      max_error_rate_increase: 0.5
      max_latency_ratio: 1.2
`

// rollout is GET /canary/{route} (docs/canary.md), as far as G17 reads it.
type rollout struct {
	State   string     `json:"state"`
	Weight  int        `json:"weight"`
	Reason  string     `json:"reason"`
	History []judgment `json:"history"`
}

// judgment is one judged step of a rollout's history.
type judgment struct {
	Weight            int    `json:"weight"`
	Verdict           string `json:"verdict"`
	BaselineRequests  int    `json:"baseline_requests"`
	CandidateRequests int    `json:"candidate_requests"`
}

// canaryRun is what one rollout did, as the admin API showed it.
type canaryRun struct {
	status      rollout
	weights     []int // the distinct weights /canary/checkout showed, in order
	verdictCode int
	verdict     struct {
		Pass   bool   `json:"pass"`
		State  string `json:"state"`
		Weight int    `json:"weight"`
		Reason string `json:"reason"`
	}
	verdictType string
	took        time.Duration
	sent        int64
	p           *proc
}

// rollOut starts a proxy with the canary from baseline to candidate and
// sends GETs from 16 clients until the rollout ends (within limit),
// polling GET /canary/checkout for the weights it moves through; then it
// reads the verdict endpoint.
func rollOut(t *testing.T, baseline, candidate *release, limit time.Duration) *canaryRun {
	t.Helper()
	cfg := strings.NewReplacer("BASELINE", baseline.srv.URL, "CANDIDATE", candidate.srv.URL).Replace(canaryGauntletConfig)
	p := startProxy(t, cfg)
	run := &canaryRun{p: p}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var clients sync.WaitGroup
	var sent atomic.Int64
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for range 16 {
		clients.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", p.URL+"/checkout", nil)
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				sent.Add(1)
			}
		})
	}
	start := time.Now()
	for deadline := start.Add(limit); ; time.Sleep(50 * time.Millisecond) {
		adminJSON(t, p, "/canary/checkout", &run.status)
		if n := len(run.weights); n == 0 || run.weights[n-1] != run.status.Weight {
			run.weights = append(run.weights, run.status.Weight)
		}
		if run.status.State != "running" || time.Now().After(deadline) {
			break
		}
	}
	run.took = time.Since(start)
	stop()
	clients.Wait()
	run.sent = sent.Load()
	resp, err := http.Get(p.Admin + "/canary/checkout/verdict")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	run.verdictCode, run.verdictType = resp.StatusCode, resp.Header.Get("Content-Type")
	if err := json.NewDecoder(resp.Body).Decode(&run.verdict); err != nil {
		t.Errorf("verdict body: %v", err)
	}
	return run
}

// judgedSteps lists the weights of the steps the rollout judged, with
// their verdicts.
func (r *canaryRun) judgedSteps() string {
	var s []string
	for _, j := range r.status.History {
		s = append(s, fmt.Sprintf("%d%% %s", j.Weight, j.Verdict))
	}
	return strings.Join(s, ", ")
}

// G17: canaries that judge themselves. A candidate as good as the
// baseline is promoted through every step; one with 3 points more 5xx
// (4% against 1%) and one 1.5× as slow are rolled
// back at the first step, the first with the data to judge, with the
// reason in /canary/checkout and a 500 from the verdict endpoint. (The
// latencies are 40ms, 4% of them 400ms, against 60ms and 600ms.)
func TestG17Canary(t *testing.T) {
	const base = 40 * time.Millisecond
	for _, tc := range []struct {
		name      string
		delay     time.Duration
		errEvery  int64
		promote   bool
		reason    string
		fault     string
		wantSteps []int
	}{
		{name: "good", delay: base, errEvery: 100, promote: true, fault: "canary: candidate as good as baseline", wantSteps: []int{10, 25, 50, 100}},
		{name: "errors", delay: base, errEvery: 25, reason: "error_rate: ", fault: "canary: candidate 4% 5xx, baseline 1%", wantSteps: []int{10, 0}},
		{name: "latency", delay: base * 3 / 2, errEvery: 100, reason: "latency: ", fault: "canary: candidate 1.5× baseline latency", wantSteps: []int{10, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v1, v2 := startRelease(t, base, 100), startRelease(t, tc.delay, tc.errEvery)
			run := rollOut(t, v1, v2, 45*time.Second)
			st := run.status
			var last judgment
			if n := len(st.History); n > 0 {
				last = st.History[n-1]
			}
			var ok bool
			var seen string
			if tc.promote {
				// Every step below 100 judged and passed, each on its
				// min_requests a side; then the candidate takes it all.
				passed := len(st.History) == 3
				for i, j := range st.History {
					passed = passed && j.Verdict == "pass" && j.Weight == tc.wantSteps[i] &&
						j.BaselineRequests >= 200 && j.CandidateRequests >= 200
				}
				toV1, toV2 := v1.requests.Load(), v2.requests.Load()
				for range 20 {
					resp, err := http.Get(run.p.URL + "/checkout")
					if err != nil {
						t.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				toV1, toV2 = v1.requests.Load()-toV1, v2.requests.Load()-toV2
				ok = st.State == "promoted" && st.Weight == 100 && passed && slices.Equal(run.weights, tc.wantSteps) &&
					run.verdictCode == 200 && run.verdict.Pass && toV1 == 0 && toV2 == 20
				if toV1 != 0 {
					t.Errorf("after the promotion v1 got %d of 20 requests, v2 %d; want 0 and 20", toV1, toV2)
				}
				seen = fmt.Sprintf("promoted through %v in %.1fs (%d requests), verdict %d", run.weights, run.took.Seconds(), run.sent, run.verdictCode)
			} else {
				ok = st.State == "rolled_back" && st.Weight == 0 && len(st.History) == 1 && last.Weight == 10 &&
					last.Verdict == "fail" && last.CandidateRequests >= 200 && strings.HasPrefix(st.Reason, tc.reason) &&
					slices.Equal(run.weights, tc.wantSteps) &&
					run.verdictCode == 500 && !run.verdict.Pass && run.verdict.State == "rolled_back" &&
					run.verdict.Reason == st.Reason && strings.HasPrefix(run.verdictType, "application/json")
				seen = fmt.Sprintf("rolled back at 10%% in %.1fs, verdict %d: %s", run.took.Seconds(), run.verdictCode, shortReason(st.Reason))
			}
			report("G17", tc.fault, seen, ok)
			t.Logf("%s: %s; weights %v; judged %s; reason %q", tc.name, seen, run.weights, run.judgedSteps(), st.Reason)
			if !ok {
				t.Errorf("state %s, weight %d, weights seen %v (want %v), judged [%s] (history %+v), reason %q; verdict %d %s %+v",
					st.State, st.Weight, run.weights, tc.wantSteps, run.judgedSteps(), st.History, st.Reason, run.verdictCode, run.verdictType, run.verdict)
			}
		})
	}
}

// shortReason is a judgment's reason up to its test's numbers.
func shortReason(r string) string {
	if i := strings.Index(r, " ("); i > 0 {
		return r[:i]
	}
	return r
}
