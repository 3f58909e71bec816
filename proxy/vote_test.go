package proxy

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/holdfast-dev/holdfast/vote"
)

// jsonVoter is a voter that answers body as JSON.
func jsonVoter(t *testing.T, body func() string) *handlerBackend {
	return startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body())
	})
}

// fixed returns body every time.
func fixed(body string) func() string { return func() string { return body } }

// stuckVoter is a voter that never answers: its handler blocks until the
// test ends (or the proxy cancels the request). started is closed when the
// first request has reached it.
func stuckVoter(t *testing.T) (hb *handlerBackend, started chan struct{}) {
	release := make(chan struct{})
	started = make(chan struct{})
	var once atomic.Bool
	hb = startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		if once.CompareAndSwap(false, true) {
			close(started)
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	return hb, started
}

// downVoter is the address of a port nothing listens on.
func downVoter(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	ln.Close()
	return addr
}

// voteConfig is a config of one vote route /quote over the named voters at
// urls, with extra keys for the vote block (indented for it).
func voteConfig(names, urls []string, vote string) string {
	var b strings.Builder
	b.WriteString("upstreams:\n")
	for i, n := range names {
		b.WriteString("  " + n + ":\n    endpoints: [{address: " + urls[i] + "}]\n")
	}
	b.WriteString("routes:\n  - name: quote\n    match: {path_prefix: /quote}\n    timeout: 60s\n    vote:\n")
	b.WriteString("      upstreams: [" + strings.Join(names, ", ") + "]\n")
	b.WriteString(vote)
	return b.String()
}

// vote sends a GET for path and waits until the proxy has finished with
// it: a vote route answers first and tallies after.
func (e *env) vote(path string) reply {
	e.t.Helper()
	got := e.get(path)
	select {
	case <-e.infos:
	case <-time.After(waitLimit):
		e.t.Fatal("the request did not finish")
	}
	return got
}

func (e *env) voteStatus() *VoteStatus {
	e.t.Helper()
	for _, rs := range e.p.Status().Routes {
		if rs.Vote != nil {
			return rs.Vote
		}
	}
	e.t.Fatal("no vote route in the status")
	return nil
}

// TestVoteAnswersOnceAQuorumAgrees: two diverse voters agree (members in
// another order, a different generated_at that is ignored), one never
// answers and one is down. The client gets the agreed answer while the
// stuck voter still holds its request: had the proxy waited for it, the
// vote timeout (60s) would outlast the client's (15s) and the request fail.
func TestVoteAnswersOnceAQuorumAgrees(t *testing.T) {
	a := jsonVoter(t, fixed(`{"price":10,"currency":"USD","generated_at":1}`))
	b := jsonVoter(t, fixed(`{"currency":"USD","generated_at":2,"price":10.0}`))
	slow, started := stuckVoter(t)
	e := startProxy(t, voteConfig(
		[]string{"a", "b", "slow", "down"}, []string{a.URL, b.URL, slow.URL, downVoter(t)},
		"      quorum: 2\n      timeout: 60s\n      compare: json\n      ignore: [/generated_at]\n"))

	got := e.vote("/quote/1")
	if got.err != nil {
		t.Fatalf("GET: %v (did the vote wait for the stuck voter?)", got.err)
	}
	if got.status != 200 || got.body != `{"price":10,"currency":"USD","generated_at":1}` {
		t.Errorf("got %d %q; want 200 and a's answer", got.status, got.body)
	}
	if v := got.header.Get(HeaderVote); v != "2/4" {
		t.Errorf("%s = %q; want 2/4", HeaderVote, v)
	}
	select {
	case <-started:
	default:
		t.Error("the stuck voter was never asked")
	}
	vs := e.voteStatus()
	if vs.Agreed != 1 || vs.NoQuorum != 0 {
		t.Errorf("agreed %d, no_quorum %d; want 1, 0", vs.Agreed, vs.NoQuorum)
	}
	if f := vs.Voters[3]; f.Upstream != "down" || f.Failed != 1 {
		t.Errorf("down voter = %+v; want 1 failed", f)
	}
}

// TestVoteOutvotesALiar: the liar's answer never reaches the client, its
// dissent is counted, and the admin API's disagreement names the field.
func TestVoteOutvotesALiar(t *testing.T) {
	a := jsonVoter(t, fixed(`{"price":10,"items":[1,2]}`))
	b := jsonVoter(t, fixed(`{"items":[2,1],"price":10}`))
	liar := jsonVoter(t, fixed(`{"price":-3,"items":[1,2]}`))
	e := startProxy(t, voteConfig([]string{"a", "b", "liar"}, []string{a.URL, b.URL, liar.URL},
		"      timeout: 60s\n      compare: json\n      unordered: [/items]\n"))

	got := e.vote("/quote")
	if got.status != 200 || !strings.Contains(got.body, `"price":10`) {
		t.Fatalf("got %d %q; want 200 with price 10", got.status, got.body)
	}
	// The liar may have been cancelled once a and b agreed; ask until it
	// has answered and dissented once.
	for i := 0; e.voteStatus().Voters[2].Dissented == 0; i++ {
		if i == 100 {
			t.Fatal("the liar never dissented in 100 requests")
		}
		if got := e.vote("/quote"); got.status != 200 || strings.Contains(got.body, "-3") {
			t.Fatalf("got %d %q; want 200 and never the liar's answer", got.status, got.body)
		}
	}
	ds := e.p.VoteDisagreements()
	if len(ds) == 0 {
		t.Fatal("no disagreement kept")
	}
	d := ds[len(ds)-1]
	want := []VoterDiff{{Voter: "liar", Against: d.Agreed[0], Status: 200, WantStatus: 200,
		Fields: []vote.Difference{{Pointer: "/price", A: "-3", B: "10"}}}}
	if diff := cmp.Diff(want, d.Diffs); diff != "" || d.Verdict != "agreed" || d.Route != "quote" {
		t.Errorf("disagreement %+v; diffs (-want +got):\n%s", d, diff)
	}
}

// TestVoteNoQuorum: two voters wrong in different ways and one down: 502
// no_quorum, never an answer, and a body naming the dissenters and the
// failed voter.
func TestVoteNoQuorum(t *testing.T) {
	a := jsonVoter(t, fixed(`{"price":10}`))
	b := jsonVoter(t, fixed(`{"price":11}`))
	e := startProxy(t, voteConfig([]string{"a", "b", "down"}, []string{a.URL, b.URL, downVoter(t)},
		"      timeout: 60s\n      compare: json\n"))
	got := e.vote("/quote")
	if got.status != http.StatusBadGateway || got.header.Get(HeaderReason) != ReasonNoQuorum {
		t.Fatalf("got %d reason %q; want 502 no_quorum", got.status, got.header.Get(HeaderReason))
	}
	var nb NoQuorumBody
	if err := json.Unmarshal([]byte(got.body), &nb); err != nil {
		t.Fatalf("body %q: %v", got.body, err)
	}
	want := NoQuorumBody{
		Error: "the voters of route quote did not agree", Reason: ReasonNoQuorum, Quorum: 2, Voters: 3,
		Dissenting: []string{"a", "b"}, Missing: []string{}, Failed: []string{"down"}, Groups: [][]string{{"a"}, {"b"}},
	}
	if diff := cmp.Diff(want, nb); diff != "" {
		t.Errorf("no-quorum body (-want +got):\n%s", diff)
	}
	if vs := e.voteStatus(); vs.NoQuorum != 1 || vs.Agreed != 0 {
		t.Errorf("agreed %d, no_quorum %d; want 0, 1", vs.Agreed, vs.NoQuorum)
	}
	ds := e.p.VoteDisagreements()
	if len(ds) != 1 || ds[0].Verdict != ReasonNoQuorum || len(ds[0].Diffs) != 1 || ds[0].Diffs[0].Fields[0].Pointer != "/price" {
		t.Errorf("disagreements %+v; want one no_quorum with b's /price against a", ds)
	}
}

// TestVoteQuarantine: a voter that dissents twice is quarantined (its
// answers stop counting, it is still asked), and re-admitted after two
// agreements in a row once it is fixed.
func TestVoteQuarantine(t *testing.T) {
	var lying atomic.Bool
	lying.Store(true)
	a := jsonVoter(t, fixed(`{"v":1}`))
	b := jsonVoter(t, fixed(`{"v":1}`))
	c := jsonVoter(t, func() string {
		if lying.Load() {
			return `{"v":2}`
		}
		return `{"v":1}`
	})
	e := startProxy(t, voteConfig([]string{"a", "b", "c"}, []string{a.URL, b.URL, c.URL},
		"      timeout: 60s\n      quarantine: {disagreements: 2, window: 1h, readmit_after: 2}\n"))

	quarantined := func() bool { return e.voteStatus().Voters[2].Quarantined }
	// Dissents count only when seen: ask until two have been.
	for i := 0; e.voteStatus().Voters[2].Dissented < 2; i++ {
		if i == 200 {
			t.Fatal("c did not dissent twice in 200 requests")
		}
		if got := e.vote("/quote"); got.status != 200 || got.body != `{"v":1}` {
			t.Fatalf("got %d %q; want 200 {\"v\":1}", got.status, got.body)
		}
	}
	if !quarantined() {
		t.Fatalf("c after two dissents: %+v; want quarantined", e.voteStatus().Voters[2])
	}
	before := c.requests.Load()
	if got := e.vote("/quote"); got.status != 200 || got.header.Get(HeaderVote) != "2/2" {
		t.Errorf("with c quarantined got %d, %s %q; want 200, 2/2", got.status, HeaderVote, got.header.Get(HeaderVote))
	}
	if c.requests.Load() == before {
		t.Error("quarantined c was not asked as a probe")
	}
	if !quarantined() {
		t.Error("c re-admitted while still lying")
	}

	lying.Store(false)
	for i := 0; i < 2; i++ {
		if got := e.vote("/quote"); got.status != 200 {
			t.Fatalf("got %d; want 200", got.status)
		}
	}
	if quarantined() {
		t.Errorf("c after two agreements: %+v; want re-admitted", e.voteStatus().Voters[2])
	}
	if got := e.vote("/quote"); !strings.HasSuffix(got.header.Get(HeaderVote), "/3") {
		t.Errorf("after re-admission %s = %q; want three voters", HeaderVote, got.header.Get(HeaderVote))
	}
	st := e.voteStatus().Voters[2]
	if st.AgreementRate <= 0 || st.AgreementRate >= 1 {
		t.Errorf("c's agreement rate %v; want in (0, 1)", st.AgreementRate)
	}
}

// TestVoteRefusesUnsafeMethods: a POST does not vote (no voter is asked)
// unless it carries an Idempotency-Key or vote.methods lists POST.
func TestVoteRefusesUnsafeMethods(t *testing.T) {
	tests := []struct {
		name, methods, key string
		want               int
	}{
		{name: "POST refused", want: http.StatusMethodNotAllowed},
		{name: "POST with an Idempotency-Key", key: "k1", want: http.StatusOK},
		{name: "POST opted in", methods: "      methods: [POST]\n", want: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := jsonVoter(t, fixed(`{"ok":true}`))
			b := jsonVoter(t, fixed(`{"ok":true}`))
			e := startProxy(t, voteConfig([]string{"a", "b"}, []string{a.URL, b.URL}, tt.methods))
			req, _ := http.NewRequest(http.MethodPost, e.url+"/quote", strings.NewReader(`{"n":1}`))
			if tt.key != "" {
				req.Header.Set("Idempotency-Key", tt.key)
			}
			got := do(e.h1, req)
			if got.status != tt.want {
				t.Errorf("got %d %q; want %d", got.status, got.body, tt.want)
			}
			wantAsked := int64(0)
			if tt.want == http.StatusOK {
				wantAsked = 1
			}
			if n := a.requests.Load() + b.requests.Load(); n != 2*wantAsked {
				t.Errorf("voters asked %d times; want %d", n, 2*wantAsked)
			}
		})
	}
}

// TestVoteBodyCap: a voter whose body is over vote.max_body_bytes fails
// (it is not compared); with two voters that is no quorum.
func TestVoteBodyCap(t *testing.T) {
	a := jsonVoter(t, fixed(`{"v":"`+strings.Repeat("x", 100)+`"}`))
	b := jsonVoter(t, fixed(`{"v":"`+strings.Repeat("x", 100)+`"}`))
	e := startProxy(t, voteConfig([]string{"a", "b"}, []string{a.URL, b.URL}, "      max_body_bytes: 50\n"))
	got := e.vote("/quote")
	if got.status != http.StatusBadGateway || strings.Contains(got.body, "xxx") || !strings.Contains(got.body, `"dissenting":[]`) {
		t.Errorf("got %d %q; want 502 no_quorum with no voter compared", got.status, got.body)
	}
	if vs := e.voteStatus(); vs.Voters[0].Failed+vs.Voters[1].Failed == 0 {
		t.Errorf("voters %+v; want a failed one", vs.Voters)
	}
}
