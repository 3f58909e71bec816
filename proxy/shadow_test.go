package proxy

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/vote"
)

// shadowConfig is a route /accounts on the primary at primaryURL with a
// shadow block to the candidate at candURL, with extra keys for the shadow
// block (indented for it).
func shadowConfig(primaryURL, candURL, extra string) string {
	return "upstreams:\n  accounts:\n    endpoints: [{address: " + primaryURL + "}]\n" +
		"  accounts-v2:\n    endpoints: [{address: " + candURL + "}]\n" +
		"routes:\n  - name: accounts\n    match: {path_prefix: /accounts}\n    upstream: accounts\n    timeout: 60s\n" +
		"    shadow:\n      upstream: accounts-v2\n      secondary: accounts\n      percent: 100\n" + extra
}

// generated is an answer whose generated_at is random, as a clock's or a
// request id's would be, with balance bal.
func generated(bal string) func() string {
	return func() string {
		return `{"id":"a1","balance":` + bal + `,"generated_at":` + strconv.FormatInt(rand.Int64(), 10) + `,"items":[1,2]}`
	}
}

func (e *env) shadowStatus() ShadowStatus {
	e.t.Helper()
	ss := e.p.ShadowDifferences()
	if len(ss) != 1 {
		e.t.Fatalf("ShadowDifferences has %d routes; want 1", len(ss))
	}
	return ss[0]
}

// TestShadowNamesTheRealField is the test: a candidate that differs
// in one field (balance), and a primary with a random generated_at. The
// report names exactly the one real field, never generated_at, which is
// noise; the client always gets the primary's answer.
func TestShadowNamesTheRealField(t *testing.T) {
	primary := jsonVoter(t, generated("10"))
	cand := jsonVoter(t, generated("11"))
	e := startProxy(t, shadowConfig(primary.URL, cand.URL, ""))
	const n = 20
	for range n {
		got := e.get("/accounts/a1")
		mustOK(t, got)
		if !strings.Contains(got.body, `"balance":10`) {
			t.Fatalf("body %q; want the primary's", got.body)
		}
	}
	waitFor(t, "20 comparisons", func() bool {
		s := e.shadowStatus()
		return s.Compared+s.CandidateFailed+s.SecondaryFailed == n
	})
	s := e.shadowStatus()
	if s.Compared != n || s.Differing != n || s.Dropped != 0 {
		t.Errorf("compared %d, differing %d, dropped %d; want %d, %d, 0", s.Compared, s.Differing, s.Dropped, n, n)
	}
	want := []ShadowDifference{{Field: "/balance", Count: n, Sample: ShadowSample{Primary: "10", Candidate: "11"}}}
	if diff := cmp.Diff(want, s.Differences, cmpopts.IgnoreFields(ShadowSample{}, "At")); diff != "" {
		t.Errorf("differences (-want +got):\n%s", diff)
	}
	if wantNoise := []ShadowNoise{{Field: "/generated_at", Count: n}}; !cmp.Equal(wantNoise, s.Noise) {
		t.Errorf("noise = %+v; want %+v", s.Noise, wantNoise)
	}
	if got := cand.requests.Load(); got != n {
		t.Errorf("candidate asked %d times; want %d", got, n)
	}
	if got := primary.requests.Load(); got != 2*n {
		t.Errorf("primary asked %d times; want %d (the client's and the secondary's)", got, 2*n)
	}
}

// TestShadowNeverDelaysTheClient: a candidate that never answers does not
// delay the client's answers, and with its comparisons holding both slots
// (max_concurrent: 2), the other requests are not shadowed but dropped and
// counted. Had the client waited for the shadow, each request would take
// the shadow's 60s timeout, past the client's waitLimit.
func TestShadowNeverDelaysTheClient(t *testing.T) {
	primary := jsonVoter(t, fixed(`{"balance":1}`))
	cand, started := stuckVoter(t)
	e := startProxy(t, shadowConfig(primary.URL, cand.URL, "      max_concurrent: 2\n      timeout: 60s\n"))
	for i := range 10 {
		begin := time.Now()
		got := e.get("/accounts/a1")
		mustOK(t, got)
		if took := time.Since(begin); took > 5*time.Second {
			t.Fatalf("request %d took %s; want the primary's answer without waiting for the candidate", i, took)
		}
	}
	select {
	case <-started:
	case <-time.After(waitLimit):
		t.Fatal("the candidate was never asked")
	}
	s := e.shadowStatus()
	if s.Shadowed != 2 || s.Dropped != 8 || s.Compared != 0 {
		t.Errorf("shadowed %d, dropped %d, compared %d; want 2, 8, 0", s.Shadowed, s.Dropped, s.Compared)
	}
}

// TestShadowOnlyIdempotent: a POST is never sent to the candidate, nor
// asked twice of the primary.
func TestShadowOnlyIdempotent(t *testing.T) {
	primary := jsonVoter(t, fixed(`{"ok":true}`))
	cand := jsonVoter(t, fixed(`{"ok":true}`))
	e := startProxy(t, shadowConfig(primary.URL, cand.URL, ""))
	got := e.send(e.h1, http.MethodPost, "/accounts", `{"n":1}`)
	mustOK(t, got)
	// A GET after it is shadowed; once it has been compared, the POST
	// would have been too.
	mustOK(t, e.get("/accounts"))
	waitFor(t, "the GET's comparison", func() bool { return e.shadowStatus().Compared == 1 })
	if s := e.shadowStatus(); s.Shadowed != 1 || cand.requests.Load() != 1 || primary.requests.Load() != 3 {
		t.Errorf("shadowed %d, candidate asked %d, primary %d; want 1, 1, 3", s.Shadowed, cand.requests.Load(), primary.requests.Load())
	}
	if s := e.shadowStatus(); len(s.Differences) != 0 || len(s.Noise) != 0 {
		t.Errorf("equal answers found different: %+v", s)
	}
}

// TestShadowOversize: a primary answer over shadow.max_body_bytes is
// relayed whole and not compared; a candidate's is a failed call.
func TestShadowOversize(t *testing.T) {
	big := `{"v":"` + strings.Repeat("x", 200) + `"}`
	tests := []struct {
		name, primary, cand string
		check               func(s ShadowStatus) bool
	}{
		{"primary", big, `{"v":1}`, func(s ShadowStatus) bool { return s.Oversize == 1 && s.Compared == 0 }},
		{"candidate", `{"v":1}`, big, func(s ShadowStatus) bool { return s.CandidateFailed == 1 && s.Compared == 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			primary := jsonVoter(t, fixed(tt.primary))
			cand := jsonVoter(t, fixed(tt.cand))
			e := startProxy(t, shadowConfig(primary.URL, cand.URL, "      max_body_bytes: 100\n"))
			got := e.get("/accounts")
			if got.status != 200 || got.body != tt.primary {
				t.Fatalf("got %d %q; want the primary's whole answer", got.status, short(got.body))
			}
			waitFor(t, "the shadow's verdict", func() bool { return tt.check(e.shadowStatus()) })
		})
	}
}

var shadowDiffTests = []struct {
	name               string
	primary, cand, sec shadowAnswer
	opts               vote.JSONOptions
	real               []string
	noise              []string
}{
	{"equal", ans(200, `{"a":1}`), ans(200, `{"a":1}`), ans(200, `{"a":1}`), vote.JSONOptions{}, nil, nil},
	{"one real field", ans(200, `{"a":1,"b":2}`), ans(200, `{"a":1,"b":3}`), ans(200, `{"b":2,"a":1}`), vote.JSONOptions{}, []string{"/b"}, nil},
	{"noise hides its field", ans(200, `{"t":1,"b":2}`), ans(200, `{"t":3,"b":2}`), ans(200, `{"t":2,"b":2}`), vote.JSONOptions{}, nil, []string{"/t"}},
	{"noise covers what is under it", ans(200, `{"o":{"x":1},"b":2}`), ans(200, `{"o":{"x":2},"b":2}`), ans(200, `{"o":{"y":1},"b":2}`), vote.JSONOptions{},
		nil, []string{"/o/x", "/o/y"}},
	{"ignored field", ans(200, `{"t":1,"b":2}`), ans(200, `{"t":3,"b":2}`), ans(200, `{"t":1,"b":2}`), vote.JSONOptions{Ignore: []string{"/t"}}, nil, nil},
	{"unordered array", ans(200, `{"i":[1,2]}`), ans(200, `{"i":[2,1]}`), ans(200, `{"i":[1,2]}`), vote.JSONOptions{Unordered: []string{"/i"}}, nil, nil},
	{"status", ans(200, `{}`), ans(404, `{}`), ans(200, `{}`), vote.JSONOptions{}, []string{ShadowFieldStatus}, nil},
	{"status noise", ans(200, `{}`), ans(404, `{}`), ans(503, `{}`), vote.JSONOptions{}, nil, []string{ShadowFieldStatus}},
	{"text bodies", ans(200, "ok"), ans(200, "nok"), ans(200, "ok"), vote.JSONOptions{}, []string{ShadowFieldBody}, nil},
	{"text noise", ans(200, "ok 1"), ans(200, "ok 3"), ans(200, "ok 2"), vote.JSONOptions{}, nil, []string{ShadowFieldBody}},
	{"JSON against text", ans(200, `{"a":1}`), ans(200, "<html>"), ans(200, `{"a":1}`), vote.JSONOptions{}, []string{ShadowFieldBody}, nil},
	{"root type", ans(200, `{"a":1}`), ans(200, `[1]`), ans(200, `{"a":1}`), vote.JSONOptions{}, []string{""}, nil},
}

func ans(status int, body string) shadowAnswer {
	return shadowAnswer{status: status, body: []byte(body)}
}

func TestShadowDiff(t *testing.T) {
	for _, tt := range shadowDiffTests {
		t.Run(tt.name, func(t *testing.T) {
			real, noise := shadowDiff(tt.primary, tt.cand, tt.sec, tt.opts)
			var got []string
			for _, d := range real {
				got = append(got, d.Pointer)
			}
			if !cmp.Equal(got, tt.real, cmpopts.EquateEmpty()) || !cmp.Equal(noise, tt.noise, cmpopts.EquateEmpty()) {
				t.Errorf("got real %q, noise %q; want %q, %q", got, noise, tt.real, tt.noise)
			}
		})
	}
}

// FuzzShadowDiff: any three answers compare without a panic, and no real
// difference is at, under or over a field that is noise.
func FuzzShadowDiff(f *testing.F) {
	for _, tt := range shadowDiffTests {
		f.Add(tt.primary.status, string(tt.primary.body), tt.cand.status, string(tt.cand.body), tt.sec.status, string(tt.sec.body))
	}
	f.Fuzz(func(t *testing.T, ps int, pb string, cs int, cb string, ss int, sb string) {
		real, noise := shadowDiff(shadowAnswer{status: ps, body: []byte(pb)}, shadowAnswer{status: cs, body: []byte(cb)}, shadowAnswer{status: ss, body: []byte(sb)}, vote.JSONOptions{})
		for _, d := range real {
			for _, n := range noise {
				if related(n, d.Pointer) {
					t.Errorf("real difference %q is related to noise %q", d.Pointer, n)
				}
			}
		}
	})
}

// TestShadowFollowsAReloadedCandidate: a reload that replaces only the
// candidate upstream (the route's config unchanged) sends the shadow calls
// to the new candidate, not the closed old one.
func TestShadowFollowsAReloadedCandidate(t *testing.T) {
	primary := jsonVoter(t, fixed(`{"v":1}`))
	oldCand := jsonVoter(t, fixed(`{"v":1}`))
	newCand := jsonVoter(t, fixed(`{"v":2}`))
	e := startProxy(t, shadowConfig(primary.URL, oldCand.URL, ""))
	mustOK(t, e.get("/accounts"))
	waitFor(t, "the first comparison", func() bool { return e.shadowStatus().Compared == 1 })

	c, err := config.Parse([]byte("listen: 127.0.0.1:0\n" + shadowConfig(primary.URL, newCand.URL, "")))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.p.Reload(c); err != nil {
		t.Fatal(err)
	}
	mustOK(t, e.get("/accounts"))
	waitFor(t, "the new candidate's comparison", func() bool { return newCand.requests.Load() == 1 })
	if n := oldCand.requests.Load(); n != 1 {
		t.Errorf("the old candidate was asked %d times; want 1, before the reload", n)
	}
}
