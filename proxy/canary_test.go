package proxy

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/canary"
)

// version is a backend that answers after delay, with 500 at errRate.
func version(t *testing.T, delay time.Duration, errRate float64) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		if rand.Float64() < errRate {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(s.Close)
	return s
}

// driveCanary sends GETs from 8 clients until the route's rollout ends, or
// waitLimit passes, and returns its status then.
func driveCanary(t *testing.T, e *env) *CanaryStatus {
	t.Helper()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := e.h1.Get(e.url + "/checkout")
				if err == nil {
					resp.Body.Close()
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	deadline := time.Now().Add(4 * waitLimit)
	for time.Now().Before(deadline) {
		s, err := e.p.CanaryStatusOf("checkout")
		if err != nil {
			t.Fatal(err)
		}
		if s.State != canary.Running {
			return s
		}
		time.Sleep(20 * time.Millisecond)
	}
	s, _ := e.p.CanaryStatusOf("checkout")
	t.Fatalf("the rollout did not end in %v: %+v", 4*waitLimit, s)
	return nil
}

func canaryConfig(v1, v2 string) string {
	return yamlf(`
upstreams:
	checkout-v1: {endpoints: [{address: %[1]s}]}
	checkout-v2: {endpoints: [{address: %[2]s}]}
routes:
	- name: checkout
		retry: {attempts: 1}
		split:
			- {upstream: checkout-v1, weight: 100}
			- {upstream: checkout-v2, weight: 0}
		canary:
			baseline: checkout-v1
			candidate: checkout-v2
			steps: [10, 50, 100]
			interval: 300ms
			min_requests: 100
			max_error_rate_increase: 0.5
			max_latency_ratio: 1.2
`, v1, v2)
}

// TestCanaryPromotesAGoodCandidate: a candidate as good as the baseline is
// judged at every step below 100, passes each, and ends with all traffic.
func TestCanaryPromotesAGoodCandidate(t *testing.T) {
	e := startProxy(t, canaryConfig(version(t, 5*time.Millisecond, 0).URL, version(t, 5*time.Millisecond, 0).URL))
	s := driveCanary(t, e)
	if s.State != canary.Promoted || s.Weight != 100 {
		t.Fatalf("state %s, weight %d (%s); want promoted, 100", s.State, s.Weight, s.Reason)
	}
	var steps []int
	for _, j := range s.History {
		steps = append(steps, j.Weight)
		if j.Verdict != canary.VerdictPass || j.CandidateRequests < 100 || j.BaselineRequests < 100 {
			t.Errorf("step %d%%: %s on %d/%d calls (%s); want a pass on at least 100 a side", j.Weight, j.Verdict, j.BaselineRequests, j.CandidateRequests, j.Reason)
		}
	}
	if len(steps) != 2 || steps[0] != 10 || steps[1] != 50 {
		t.Errorf("judged steps %v; want [10 50]", steps)
	}
	// Promoted: every request goes to the candidate now.
	for range 20 {
		resp, err := e.h1.Get(e.url + "/checkout")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	drainInfos(e)
}

func drainInfos(e *env) {
	for {
		select {
		case <-e.infos:
		default:
			return
		}
	}
}

// TestCanaryRollsBackABadCandidate: a candidate with 10 points more 5xx, or
// far slower, is rolled back at the first step, with the reason. (The
// margins are wide for a loaded test machine, whose scheduling noise lands
// in both sides' p99; the canary package's tests judge 3 points and 1.5×
// on exact samples.)
func TestCanaryRollsBackABadCandidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		v2     *httptest.Server
		reason string
	}{
		{"more 5xx", version(t, 2*time.Millisecond, 0.10), canary.ReasonErrorRate},
		{"slower", version(t, 150*time.Millisecond, 0), canary.ReasonLatency},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startProxy(t, canaryConfig(version(t, 2*time.Millisecond, 0).URL, tc.v2.URL))
			s := driveCanary(t, e)
			if s.State != canary.RolledBack || s.Weight != 0 {
				t.Fatalf("state %s, weight %d; want rolled_back, 0", s.State, s.Weight)
			}
			last := s.History[len(s.History)-1]
			if last.Weight != 10 || !strings.HasPrefix(s.Reason, tc.reason) {
				t.Errorf("rolled back at %d%% for %q; want at 10%% for %s", last.Weight, s.Reason, tc.reason)
			}
		})
	}
}

// TestCanarySurvivesAReload: a reload that changes another key of the
// route keeps the rollout where it was.
func TestCanarySurvivesAReload(t *testing.T) {
	v1, v2 := version(t, 0, 0), version(t, 0, 0)
	cfg := canaryConfig(v1.URL, v2.URL)
	e := startProxy(t, cfg)
	if _, err := e.p.Canary("checkout", CanaryPause); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Reload(mustParse(t, strings.Replace(cfg, "retry: {attempts: 1}", "retry: {attempts: 1}\n    timeout: 5s", 1))); err != nil {
		t.Fatal(err)
	}
	s, err := e.p.CanaryStatusOf("checkout")
	if err != nil || s.State != canary.Paused {
		t.Fatalf("after reload: %+v, %v; want the paused rollout", s, err)
	}
	if _, err := e.p.Canary("checkout", CanaryAbort); err != nil {
		t.Fatal(err)
	}
	if code, pass := CanaryVerdict(mustCanary(t, e)); code != http.StatusInternalServerError || pass {
		t.Errorf("verdict after abort: %d, %v; want 500, false", code, pass)
	}
	if _, err := e.p.Canary("nope", CanaryAbort); err != ErrNoCanary {
		t.Errorf("action on a route without a canary: %v; want ErrNoCanary", err)
	}
}

func mustCanary(t *testing.T, e *env) *CanaryStatus {
	t.Helper()
	s, err := e.p.CanaryStatusOf("checkout")
	if err != nil {
		t.Fatal(err)
	}
	return s
}
