package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/upstream"
)

// answerAfter is a backend that answers body as JSON after d (virtual
// time).
func answerAfter(d time.Duration, body string) memHandler {
	return func(b *memBackend, w http.ResponseWriter, r *http.Request, n int) {
		if !b.hold(r, d) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
}

const memVoteConfig = `
upstreams:
	a: {endpoints: [{address: http://a}]}
	b: {endpoints: [{address: http://b}]}
	c: {endpoints: [{address: http://c}]}
routes:
	- name: quote
		vote: {upstreams: [a, b, c], timeout: 1s, compare: json}
`

// TestVoteVerdictInRequestInfo: a vote route's RequestInfo carries the
// verdict (who agreed, dissented, failed), names the voter whose answer
// was relayed as the upstream, and counts each voter's attempts.
func TestVoteVerdictInRequestInfo(t *testing.T) {
	tests := []struct {
		name     string
		backends map[string]memHandler
		status   int
		upstream string
		endpoint string
		want     VoteVerdict
	}{{
		// c answers first, before a quorum is possible: a dissent.
		name: "agreed, one dissenter",
		backends: map[string]memHandler{
			"a": answerAfter(10*time.Millisecond, `{"p":1}`),
			"b": answerAfter(20*time.Millisecond, `{"p":1}`),
			"c": answerAfter(5*time.Millisecond, `{"p":2}`),
		},
		status: 200, upstream: "a", endpoint: "a:80",
		want: VoteVerdict{Verdict: VerdictAgreed, Quorum: 2, Voters: 3, Agreed: []string{"a", "b"}, Dissenting: []string{"c"},
			Missing: []string{}, Cancelled: []string{}, Failed: []string{}, Quarantined: []string{}},
	}, {
		// c is still running when a and b agree: cancelled, not missing.
		name: "agreed, one cancelled",
		backends: map[string]memHandler{
			"a": answerAfter(10*time.Millisecond, `{"p":1}`),
			"b": answerAfter(20*time.Millisecond, `{"p":1}`),
			"c": answerAfter(500*time.Millisecond, `{"p":1}`),
		},
		status: 200, upstream: "a", endpoint: "a:80",
		want: VoteVerdict{Verdict: VerdictAgreed, Quorum: 2, Voters: 3, Agreed: []string{"a", "b"}, Dissenting: []string{},
			Missing: []string{}, Cancelled: []string{"c"}, Failed: []string{}, Quarantined: []string{}},
	}, {
		// b is relayed when a is the one wrong.
		name: "the relayed voter is the first that agreed",
		backends: map[string]memHandler{
			"a": answerAfter(1*time.Millisecond, `{"p":9}`),
			"b": answerAfter(10*time.Millisecond, `{"p":1}`),
			"c": answerAfter(20*time.Millisecond, `{"p":1}`),
		},
		status: 200, upstream: "b", endpoint: "b:80",
		want: VoteVerdict{Verdict: VerdictAgreed, Quorum: 2, Voters: 3, Agreed: []string{"b", "c"}, Dissenting: []string{"a"},
			Missing: []string{}, Cancelled: []string{}, Failed: []string{}, Quarantined: []string{}},
	}, {
		// c has no backend: its connection is refused.
		name: "no quorum",
		backends: map[string]memHandler{
			"a": answerAfter(10*time.Millisecond, `{"p":1}`),
			"b": answerAfter(10*time.Millisecond, `{"p":2}`),
		},
		status: http.StatusBadGateway,
		want: VoteVerdict{Verdict: VerdictNoQuorum, Quorum: 2, Voters: 3, Agreed: []string{}, Dissenting: []string{"a", "b"},
			Missing: []string{}, Cancelled: []string{}, Failed: []string{"c"}, Quarantined: []string{}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newMemProxy(t, yamlf(memVoteConfig), tt.backends)
				if res := m.do("GET", "/quote", nil); res.status != tt.status {
					t.Fatalf("got %d %q; want %d", res.status, res.body, tt.status)
				}
				info := m.lastInfo()
				if info.Upstream != tt.upstream || info.Endpoint != tt.endpoint {
					t.Errorf("upstream, endpoint = %q, %q; want %q, %q", info.Upstream, info.Endpoint, tt.upstream, tt.endpoint)
				}
				if info.Vote == nil {
					t.Fatal("no verdict in RequestInfo")
				}
				got := *info.Vote
				wantAttempts := []VoterAttempts{{"a", 1}, {"b", 1}, {"c", 1}}
				if tt.status != 200 {
					wantAttempts[2].Attempts = 3 // the default retry's three, each refused at the dial
				}
				if diff := cmp.Diff(wantAttempts, got.Attempts); diff != "" {
					t.Errorf("attempts (-want +got):\n%s", diff)
				}
				got.Attempts = nil
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("verdict (-want +got):\n%s", diff)
				}
				if n := 0; info.Attempts != func() int {
					for _, va := range info.Vote.Attempts {
						n += va.Attempts
					}
					return n
				}() {
					t.Errorf("attempts = %d; want the sum over the voters, %d", info.Attempts, n)
				}
			})
		})
	}
}

// TestVoteVerdictQuarantined: a quarantined voter, asked as a probe, is
// named in the verdict and not counted among its voters.
func TestVoteVerdictQuarantined(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMemProxy(t, yamlf(`
upstreams:
	a: {endpoints: [{address: http://a}]}
	b: {endpoints: [{address: http://b}]}
	c: {endpoints: [{address: http://c}]}
routes:
	- name: quote
		vote: {upstreams: [a, b, c], timeout: 1s, compare: json, quarantine: {disagreements: 1, window: 1h, readmit_after: 5}}
`), map[string]memHandler{
			"a": answerAfter(10*time.Millisecond, `{"p":1}`),
			"b": answerAfter(20*time.Millisecond, `{"p":1}`),
			"c": answerAfter(5*time.Millisecond, `{"p":2}`),
		})
		m.do("GET", "/quote", nil) // c dissents once: quarantined
		if res := m.do("GET", "/quote", nil); res.status != 200 {
			t.Fatalf("got %d; want 200", res.status)
		}
		v := m.lastInfo().Vote
		if v == nil || v.Voters != 2 || !slices.Equal(v.Quarantined, []string{"c"}) || !slices.Equal(v.Agreed, []string{"a", "b"}) {
			t.Errorf("verdict %+v; want a and b agreed of 2 voters, c quarantined", v)
		}
	})
}

// TestVoteAttemptSpans: with tracing on, every voter's attempt is a
// client span under the request's, like a normal route's attempts, and
// the request's span names the voter whose answer was relayed.
func TestVoteAttemptSpans(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		m := newMemProxy(t, yamlf(memVoteConfig), map[string]memHandler{
			"a": answerAfter(10*time.Millisecond, `{"p":1}`),
			"b": answerAfter(20*time.Millisecond, `{"p":1}`),
			"c": answerAfter(5*time.Millisecond, `{"p":2}`),
		}, func(o *Options) { o.Tracer = tp.Tracer("holdfast") })
		if res := m.do("GET", "/quote", nil); res.status != 200 {
			t.Fatalf("got %d; want 200", res.status)
		}
		spans := rec.Ended()
		if len(spans) != 4 {
			t.Fatalf("got %d spans; want 4 (the request, three voters)", len(spans))
		}
		server := spans[len(spans)-1]
		if server.SpanKind() != trace.SpanKindServer {
			t.Fatalf("last span is %v; want the request's server span", server.SpanKind())
		}
		wantAttr(t, server, "holdfast.upstream", attribute.StringValue("a"))
		wantAttr(t, server, "holdfast.attempts", attribute.IntValue(3))
		var voters []string
		for _, s := range spans[:3] {
			if s.SpanKind() != trace.SpanKindClient || s.Parent().SpanID() != server.SpanContext().SpanID() {
				t.Errorf("voter span %q: kind %v parent %s; want a client span under the request's", s.Name(), s.SpanKind(), s.Parent().SpanID())
			}
			wantAttr(t, s, "holdfast.outcome", attribute.StringValue(AttemptResponse))
			for _, kv := range s.Attributes() {
				if kv.Key == "holdfast.upstream" {
					voters = append(voters, kv.Value.AsString())
				}
			}
		}
		slices.Sort(voters)
		if !slices.Equal(voters, []string{"a", "b", "c"}) {
			t.Errorf("voter spans for %q; want a, b and c", voters)
		}
	})
}

// TestChecksWithheldInfo: an attempt the route's checks withheld is marked
// withheld in OnAttempt, in its span, and in RequestInfo with the check it
// broke; the retry's answer is an ordinary response.
func TestChecksWithheldInfo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		m := newMemProxy(t, yamlf(`
upstreams:
	accounts:
		balancer: round_robin
		endpoints: [{address: http://liar}, {address: http://honest}]
		outlier_detection: {disabled: true}
routes:
	- name: accounts
		upstream: accounts
		retry: {attempts: 2, retry_on: [5xx], backoff: {base: 1ms, jitter: none}}
		checks:
			- status: [200]
			- json: {pointer: /balance, min: 0}
`), map[string]memHandler{
			"liar":   answerAfter(0, liarBody),
			"honest": answerAfter(0, honestBody),
		}, func(o *Options) { o.Tracer = tp.Tracer("holdfast") })
		// Round robin: one of the first two requests starts on the liar.
		var info RequestInfo
		for range 2 {
			res := m.do("GET", "/accounts/1", nil)
			if res.status != 200 || string(res.body) != honestBody {
				t.Fatalf("got %d %q; want the honest answer", res.status, res.body)
			}
			if info = m.lastInfo(); info.Withheld != nil {
				break
			}
		}
		want := []Withheld{{Upstream: "accounts", Endpoint: "liar:80", Attempt: 1, Status: 200, Check: "checks[1]"}}
		if diff := cmp.Diff(want, info.Withheld); diff != "" {
			t.Fatalf("withheld (-want +got):\n%s\nattempts %+v", diff, m.attemptInfos())
		}
		var outcomes []string
		for _, a := range m.attemptInfos() {
			outcomes = append(outcomes, a.Endpoint+" "+a.Outcome)
		}
		if !slices.Contains(outcomes, "liar:80 "+AttemptWithheld) || slices.Contains(outcomes, "liar:80 "+AttemptResponse) {
			t.Errorf("attempts %q; want the liar's withheld, never a response", outcomes)
		}
		for _, s := range rec.Ended() {
			if s.SpanKind() != trace.SpanKindClient {
				continue
			}
			for _, kv := range s.Attributes() {
				if kv.Key == "holdfast.endpoint" && kv.Value.AsString() == "liar:80" {
					wantAttr(t, s, "holdfast.outcome", attribute.StringValue(AttemptWithheld))
					if s.Status().Code != codes.Error || !strings.Contains(s.Status().Description, "checks[1]") || strings.Contains(s.Status().Description, "-5") {
						t.Errorf("the withheld attempt's span status %v; want an error naming checks[1], never the upstream's value", s.Status())
					}
				}
			}
		}
	})
}

// TestAccessLogVerdicts: the access log line carries a vote route's
// verdict and the attempts the checks withheld, and neither field when
// there is none.
func TestAccessLogVerdicts(t *testing.T) {
	tests := []struct {
		name string
		info RequestInfo
		want map[string]any // the fields beside the usual ones
	}{
		{"plain", RequestInfo{Route: "r"}, map[string]any{}},
		{"withheld", RequestInfo{Route: "r", Withheld: []Withheld{{Upstream: "u", Endpoint: "h:1", Attempt: 1, Status: 200, Check: "checks[2]"}}},
			map[string]any{"withheld": []any{map[string]any{"upstream": "u", "endpoint": "h:1", "attempt": 1.0, "status": 200.0, "check": "checks[2]"}}}},
		{"vote", RequestInfo{Route: "q", Vote: &VoteVerdict{Verdict: VerdictNoQuorum, Quorum: 2, Voters: 3,
			Agreed: []string{}, Dissenting: []string{"a", "b"}, Missing: []string{"c"}, Cancelled: []string{}, Failed: []string{}, Quarantined: []string{},
			Attempts: []VoterAttempts{{"a", 1}}}},
			map[string]any{"vote": map[string]any{"verdict": "no_quorum", "quorum": 2.0, "voters": 3.0, "agreed": []any{},
				"dissenting": []any{"a", "b"}, "missing": []any{"c"}, "cancelled": []any{}, "failed": []any{}, "quarantined": []any{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			a, err := NewAccessLog(config.AccessLog{Enabled: true}, &out)
			if err != nil {
				t.Fatal(err)
			}
			a.Log(tt.info)
			var got map[string]any
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatalf("line %q: %v", out.String(), err)
			}
			for _, k := range []string{"time", "level", "msg", "route", "upstream", "endpoint", "method", "status", "attempts", "retries", "hedges", "duration_ms", "reason", "fallback"} {
				delete(got, k)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("extra fields (-want +got):\n%s\nline %s", diff, strings.TrimSpace(out.String()))
			}
		})
	}
}

// TestChecksEjectForInvariantViolations is the scenario: one of
// three endpoints returns a negative balance on 3 of every 10 of its
// requests. None is relayed, clients succeed through the others (at least
// 99.9%), and outlier detection ejects the liar for its invalid answers in
// a row, with their own reason: consecutive_failures (set out of reach)
// does not hear of them. Back on probation after base_ejection_time, one
// valid answer restores it.
func TestChecksEjectForInvariantViolations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var ejections []string // the reasons of the liar's upstream's ejections
		var n atomic.Int64
		lying := atomic.Bool{}
		lying.Store(true)
		m := newMemProxy(t, yamlf(`
upstreams:
	accounts:
		balancer: round_robin
		endpoints: [{address: http://liar}, {address: http://b}, {address: http://c}]
		outlier_detection: {consecutive_failures: 1000, consecutive_invariant_violations: 3, base_ejection_time: 1m}
routes:
	- name: accounts
		upstream: accounts
		checks:
			- json: {pointer: /balance, min: 0}
`), map[string]memHandler{
			"liar": func(b *memBackend, w http.ResponseWriter, r *http.Request, _ int) {
				w.Header().Set("Content-Type", "application/json")
				if lying.Load() && n.Add(1)%10 < 3 {
					io.WriteString(w, liarBody)
					return
				}
				io.WriteString(w, honestBody)
			},
			"b": answerAfter(0, honestBody),
			"c": answerAfter(0, honestBody),
		}, func(o *Options) {
			o.Listener = holdfast.ListenerFunc(func(e holdfast.Event) {
				if e.Source == holdfast.KindUpstream && e.To == "ejected" {
					mu.Lock()
					ejections = append(ejections, e.Reason)
					mu.Unlock()
				}
			})
		})
		const requests = 3000
		ok, wrong := 0, 0
		for range requests {
			res := m.do("GET", "/accounts/1", nil)
			switch {
			case bytes.Contains(res.body, []byte("-5")):
				wrong++
			case res.status == 200 && string(res.body) == honestBody:
				ok++
			}
		}
		if wrong != 0 {
			t.Errorf("%d wrong answers relayed; want 0", wrong)
		}
		if rate := float64(ok) / requests; rate < 0.999 {
			t.Errorf("success %d of %d (%.4f); want at least 99.9%%", ok, requests, rate)
		}
		ep := m.p.state.Load().clusters["accounts"].up.Endpoints()[0]
		mu.Lock()
		got := slices.Clone(ejections)
		mu.Unlock()
		if len(got) == 0 || got[0] != upstream.ReasonConsecutiveInvariantViolations || !ep.Ejected() {
			t.Fatalf("ejections %q, ejected %v; want the liar ejected for %s", got, ep.Ejected(), upstream.ReasonConsecutiveInvariantViolations)
		}
		// Fixed, it comes back on probation and one valid answer restores it.
		lying.Store(false)
		time.Sleep(time.Minute)
		synctest.Wait()
		if !ep.Probation() {
			t.Fatalf("after base_ejection_time: ejected %v, probation %v; want on probation", ep.Ejected(), ep.Probation())
		}
		for range 3 {
			m.do("GET", "/accounts/1", nil)
		}
		if ep.Ejected() || ep.Probation() {
			t.Errorf("after valid answers: ejected %v, probation %v; want restored", ep.Ejected(), ep.Probation())
		}
	})
}
