package proxy

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// timedVoter answers {"p":1} after a latency drawn from base plus up to
// jitter (a seeded source, so the test is the same every run), or the
// wrong answer when wrong says so for its n-th request. It records its
// latencies.
type timedVoter struct {
	mu        sync.Mutex
	rnd       *rand.Rand
	latencies []time.Duration
}

func (tv *timedVoter) handler(base, jitter time.Duration, seed uint64, wrong func(n int) bool) memHandler {
	tv.rnd = rand.New(rand.NewPCG(seed, seed))
	return func(b *memBackend, w http.ResponseWriter, r *http.Request, n int) {
		tv.mu.Lock()
		d := base + time.Duration(tv.rnd.Int64N(int64(jitter)))
		tv.mu.Unlock()
		if !b.hold(r, d) {
			return
		}
		tv.mu.Lock()
		tv.latencies = append(tv.latencies, d)
		tv.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if wrong(n) {
			io.WriteString(w, `{"p":2}`)
			return
		}
		io.WriteString(w, `{"p":1}`)
	}
}

func (tv *timedVoter) p99() time.Duration {
	tv.mu.Lock()
	defer tv.mu.Unlock()
	return p99(tv.latencies)
}

func p99(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[(len(s)*99+99)/100-1]
}

// TestVoteFaultyVoter is the first test, in virtual time: three
// diverse voters, the fastest of them (c) wrong on every fifth answer.
// Over 5,000 requests no wrong answer reaches the client; c is
// quarantined, and re-admitted once it is fixed; and the voted route's
// p99 is within 2 ms of the p99 of the second-fastest voter that answers
// correctly (b): a quorum of correct answers needs two, and while c is
// wrong (or quarantined) the second is b's. (The second-fastest of all
// voters, a, is not a bound a vote can keep when the fastest is the one
// that is wrong: its wrong answers make the route wait for b.) Inside the
// bubble the proxy takes no time of its own, so the bound holds exactly.
func TestVoteFaultyVoter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fixed atomic.Bool
		var a, b, c timedVoter
		m := newMemProxy(t, yamlf(`
upstreams:
	a: {endpoints: [{address: http://a}]}
	b: {endpoints: [{address: http://b}]}
	c: {endpoints: [{address: http://c}]}
routes:
	- name: quote
		vote: {upstreams: [a, b, c], timeout: 1s, compare: json, quarantine: {disagreements: 5, window: 1m, readmit_after: 20}}
`), map[string]memHandler{
			"a": a.handler(5*time.Millisecond, 3*time.Millisecond, 1, func(int) bool { return false }),
			"b": b.handler(10*time.Millisecond, 3*time.Millisecond, 2, func(int) bool { return false }),
			"c": c.handler(2*time.Millisecond, time.Millisecond, 3, func(n int) bool { return !fixed.Load() && n%5 == 4 }),
		})
		quarantined := func() bool { return m.p.Status().Routes[0].Vote.Voters[2].Quarantined }
		const requests = 5000
		var took []time.Duration
		wrong, failed, wasQuarantined := 0, 0, false
		for i := range requests {
			if i == requests/2 {
				fixed.Store(true)
			}
			res := m.do("GET", "/quote", nil)
			switch {
			case res.status != 200:
				failed++
			case string(res.body) != `{"p":1}`:
				wrong++
			}
			took = append(took, res.took)
			if i < requests/2 && quarantined() {
				wasQuarantined = true
			}
		}
		if wrong != 0 || failed != 0 {
			t.Errorf("%d wrong answers and %d failures reached the client of %d; want none", wrong, failed, requests)
		}
		if !wasQuarantined {
			t.Error("c was never quarantined while it was wrong")
		}
		if quarantined() {
			t.Errorf("c still quarantined after it was fixed: %+v", m.p.Status().Routes[0].Vote.Voters[2])
		}
		if got, bound := p99(took), b.p99()+2*time.Millisecond; got > bound {
			t.Errorf("voted route p99 %v; want at most b's p99 + 2ms = %v (a %v, c %v)", got, bound, a.p99(), c.p99())
		}
	})
}

// TestVoteTwoWrong is the second test: two of three voters wrong
// at once. Each wrong in its own way is no quorum, every time, and never
// a wrong answer presented as agreed; two wrong in the same way are a
// quorum (what diversity exists to make unlikely), and the report still
// shows the lone dissenter, the one that was right.
func TestVoteTwoWrong(t *testing.T) {
	tests := []struct {
		name           string
		a, b, c        string
		status         int
		wantDissenting []string
	}{
		{"each wrong in its own way", `{"p":1}`, `{"p":2}`, `{"p":3}`, http.StatusBadGateway, []string{"a", "b", "c"}},
		{"both wrong the same way", `{"p":1}`, `{"p":2}`, `{"p":2}`, http.StatusOK, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newMemProxy(t, yamlf(memVoteConfig), map[string]memHandler{
					"a": answerAfter(time.Millisecond, tt.a),
					"b": answerAfter(2*time.Millisecond, tt.b),
					"c": answerAfter(3*time.Millisecond, tt.c),
				})
				for i := range 50 {
					res := m.do("GET", "/quote", nil)
					if res.status != tt.status {
						t.Fatalf("request %d: got %d %q; want %d", i, res.status, res.body, tt.status)
					}
					if tt.status != 200 {
						if res.header.Get(HeaderVote) != "" || res.header.Get(HeaderReason) != ReasonNoQuorum {
							t.Fatalf("request %d: %s %q, reason %q; want no vote header and no_quorum", i, HeaderVote, res.header.Get(HeaderVote), res.header.Get(HeaderReason))
						}
						var nb NoQuorumBody
						if err := json.Unmarshal(res.body, &nb); err != nil || !slices.Equal(nb.Dissenting, tt.wantDissenting) {
							t.Fatalf("request %d: body %q; want dissenting %q", i, res.body, tt.wantDissenting)
						}
					}
					// Once the lone dissenter is quarantined for its
					// dissents (the price of two voters wrong alike), it
					// is asked as a probe and named as such.
					if v := m.lastInfo().Vote; v == nil || !slices.Equal(v.Dissenting, tt.wantDissenting) && !slices.Equal(v.Quarantined, tt.wantDissenting) {
						t.Fatalf("request %d: verdict %+v; want dissenting or quarantined %q", i, v, tt.wantDissenting)
					}
				}
				ds := m.p.VoteDisagreements()
				if len(ds) == 0 {
					t.Fatal("no disagreement kept")
				}
				d := ds[len(ds)-1]
				if diff := cmp.Diff(tt.wantDissenting, d.Dissenting); diff != "" {
					t.Errorf("disagreement's dissenters (-want +got):\n%s", diff)
				}
				vs := m.p.Status().Routes[0].Vote
				if tt.status != 200 && (vs.NoQuorum != 50 || vs.Agreed != 0) {
					t.Errorf("agreed %d, no_quorum %d; want 0, 50", vs.Agreed, vs.NoQuorum)
				}
			})
		})
	}
}
