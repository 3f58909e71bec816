package proxy

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/holdfast-dev/holdfast/config"
)

// accountsBackend answers every request with status, content type ct and
// body.
func accountsBackend(t *testing.T, status int, ct, body string) *handlerBackend {
	return startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
}

// contractChecks are the checks of the config contract.
const contractChecks = `    checks:
      - status: [200, 404]
      - header: {name: content-type, regex: "^application/json"}
      - json: {pointer: /balance, min: 0}
      - json: {pointer: /currency, in: [USD, EUR, GBP]}
`

// checksConfig is one upstream accounts over urls (round robin, so that
// each endpoint is tried in turn) and a route /accounts with extra keys.
func checksConfig(extra string, urls ...string) string {
	var b strings.Builder
	b.WriteString("upstreams:\n  accounts:\n    balancer: round_robin\n    endpoints:\n")
	for _, u := range urls {
		b.WriteString("      - address: " + u + "\n")
	}
	b.WriteString("routes:\n  - name: accounts\n    match: {path_prefix: /accounts}\n    upstream: accounts\n    timeout: 10s\n")
	b.WriteString(extra)
	return b.String()
}

// withUpstreamKeys adds a line of keys to the accounts upstream of cfg.
func withUpstreamKeys(cfg, keys string) string {
	return strings.Replace(cfg, "    balancer: round_robin\n", "    balancer: round_robin\n    "+keys+"\n", 1)
}

const (
	honestBody = `{"balance": 10.5, "currency": "EUR"}`
	liarBody   = `{"balance": -5, "currency": "EUR"}`
)

func TestChecksWithholdLiarAndRetryHonest(t *testing.T) {
	liar := accountsBackend(t, 200, "application/json", liarBody)
	honest := accountsBackend(t, 200, "application/json", honestBody)
	// The liar is never ejected here: every request that starts on it must
	// be retried.
	e := startProxy(t, withUpstreamKeys(checksConfig(contractChecks, liar.URL, honest.URL), "outlier_detection: {disabled: true}"))
	retried := 0
	for range 20 {
		r := e.get("/accounts/1")
		mustOK(t, r)
		if r.body != honestBody {
			t.Fatalf("body = %q; want the honest %q", r.body, honestBody)
		}
		if r.attempts() == "2" {
			retried++
		}
	}
	if liar.requests.Load() == 0 || retried == 0 {
		t.Errorf("liar asked %d times, %d replies retried; want the liar asked and its answers retried", liar.requests.Load(), retried)
	}
	if got := e.p.state.Load().routes[0].checks.violations[2].Load(); got != uint64(liar.requests.Load()) {
		t.Errorf("checks[2] violations = %d; want %d, one per liar answer", got, liar.requests.Load())
	}
}

func TestChecksEveryEndpointViolating(t *testing.T) {
	a := accountsBackend(t, 200, "application/json", liarBody)
	b := accountsBackend(t, 200, "application/json", `{"balance": 1, "currency": "XXX"}`)
	e := startProxy(t, checksConfig(contractChecks, a.URL, b.URL))
	r := e.get("/accounts/1")
	checkLocal(t, r, http.StatusBadGateway, ReasonInvariantViolation)
	if strings.Contains(r.body, "-5") || strings.Contains(r.body, "XXX") {
		t.Errorf("reply %q quotes an upstream's wrong answer", r.body)
	}
	if n := a.requests.Load() + b.requests.Load(); n < 2 {
		t.Errorf("upstream asked %d times; want a retry", n)
	}
}

func TestChecksStatusAndHeader(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		ct, body   string
		checks     string
		wantStatus int // 0: a 502 invariant_violation
	}{
		{"status in the set", 200, "application/json", honestBody, contractChecks, 200},
		{"404 passes without json checks", 404, "application/json", `{"error": "no such account"}`, contractChecks, 404},
		{"status not in the set", 418, "application/json", honestBody, contractChecks, 0},
		{"5xx not in the set", 500, "application/json", honestBody, contractChecks, 0},
		{"header does not match", 200, "text/plain", honestBody, contractChecks, 0},
		{"header missing", 200, "", honestBody, contractChecks, 0},
		{"header present", 200, "text/plain", "x", "    checks: [{header: {name: Content-Type}}]\n", 200},
		{"header absent", 200, "", "x", "    checks: [{header: {name: x-version}}]\n", 0},
		{"not JSON", 200, "application/json", "{", contractChecks, 0},
		{"pointer missing", 200, "application/json", `{"currency": "EUR"}`, contractChecks, 0},
		{"balance a string", 200, "application/json", `{"balance": "10", "currency": "EUR"}`, contractChecks, 0},
		{"balance exactly min", 200, "application/json", `{"balance": 0, "currency": "GBP"}`, contractChecks, 200},
		{"tiny negative", 200, "application/json", `{"balance": -1e-400, "currency": "GBP"}`, contractChecks, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := accountsBackend(t, tt.status, tt.ct, tt.body)
			e := startProxy(t, checksConfig(tt.checks, up.URL))
			r := e.get("/accounts/1")
			if tt.wantStatus == 0 {
				checkLocal(t, r, http.StatusBadGateway, ReasonInvariantViolation)
				return
			}
			if r.err != nil || r.status != tt.wantStatus || r.body != tt.body {
				t.Errorf("got %d %q (err %v); want %d %q relayed", r.status, r.body, r.err, tt.wantStatus, tt.body)
			}
		})
	}
}

func TestChecksOversize(t *testing.T) {
	big := `{"balance": 1, "currency": "USD", "pad": "` + strings.Repeat("x", 100) + `"}`
	for _, tt := range []struct {
		on   string
		want int
	}{{"fail", 0}, {"pass", 200}, {"", 0}} {
		t.Run("on_oversize "+tt.on, func(t *testing.T) {
			up := accountsBackend(t, 200, "application/json", big)
			extra := contractChecks + "    checks_max_body_bytes: 64\n"
			if tt.on != "" {
				extra += "    checks_on_oversize: " + tt.on + "\n"
			}
			e := startProxy(t, checksConfig(extra, up.URL))
			r := e.get("/accounts/1")
			if tt.want == 0 {
				checkLocal(t, r, http.StatusBadGateway, ReasonInvariantViolation)
			} else if r.err != nil || r.status != 200 || r.body != big {
				t.Errorf("got %d %q (err %v); want the whole body relayed", r.status, short(r.body), r.err)
			}
			if got := e.p.state.Load().routes[0].checks.oversize.Load(); got == 0 {
				t.Errorf("oversize = %d; want it counted", got)
			}
		})
	}
}

func TestChecksEjectViolatingEndpoint(t *testing.T) {
	liar := accountsBackend(t, 200, "application/json", liarBody)
	honest := accountsBackend(t, 200, "application/json", honestBody)
	e := startProxy(t, withUpstreamKeys(checksConfig(contractChecks, liar.URL, honest.URL),
		"outlier_detection: {consecutive_invariant_violations: 3, base_ejection_time: 1h}"))
	ep := e.endpoint("accounts", liar.URL)
	for i := 0; !ep.Ejected(); i++ {
		if i == 50 {
			t.Fatalf("liar not ejected after 50 requests (%d reached it)", liar.requests.Load())
		}
		r := e.get("/accounts/1")
		mustOK(t, r)
		if r.body != honestBody {
			t.Fatalf("body = %q; want the honest one", r.body)
		}
	}
	before := liar.requests.Load()
	for range 10 {
		mustOK(t, e.get("/accounts/1"))
	}
	if got := liar.requests.Load(); got != before {
		t.Errorf("the ejected liar was asked %d more times; want 0", got-before)
	}
}

func TestNoChecksUnchanged(t *testing.T) {
	liar := accountsBackend(t, 200, "application/json", liarBody)
	e := startProxy(t, checksConfig("", liar.URL))
	if c := e.p.state.Load().routes[0].checks; c != nil {
		t.Fatalf("a route without checks has %+v; want nil", c)
	}
	r := e.get("/accounts/1")
	mustOK(t, r)
	if r.body != liarBody || r.attempts() != "1" {
		t.Errorf("got %q after %s attempts; want the answer relayed as it came, once", r.body, r.attempts())
	}
}

// judgeTests are bodies against one json condition each.
var judgeTests = []struct {
	name  string
	check config.JSONCheck
	body  string
	ok    bool
}{
	{"exists", config.JSONCheck{Pointer: "/a"}, `{"a": null}`, true},
	{"exists missing", config.JSONCheck{Pointer: "/a"}, `{"b": 1}`, false},
	{"exists false", config.JSONCheck{Pointer: "/a", Exists: ptr(false)}, `{"b": 1}`, true},
	{"exists false there", config.JSONCheck{Pointer: "/a", Exists: ptr(false)}, `{"a": 1}`, false},
	{"escaped pointer", config.JSONCheck{Pointer: "/a~1b/~0c", Type: config.JSONNumber}, `{"a/b": {"~c": 1}}`, true},
	{"array index", config.JSONCheck{Pointer: "/items/1", Equals: "y"}, `{"items": ["x", "y"]}`, true},
	{"leading zero index", config.JSONCheck{Pointer: "/items/01"}, `{"items": ["x", "y"]}`, false},
	{"dash index", config.JSONCheck{Pointer: "/items/-"}, `{"items": ["x"]}`, false},
	{"index past the end", config.JSONCheck{Pointer: "/items/2"}, `{"items": ["x"]}`, false},
	{"through a scalar", config.JSONCheck{Pointer: "/a/b"}, `{"a": 1}`, false},
	{"equals number by value", config.JSONCheck{Pointer: "/n", Equals: 1}, `{"n": 1.0e0}`, true},
	{"equals object", config.JSONCheck{Pointer: "/o", Equals: map[string]any{"x": []any{1, "y"}}}, `{"o": {"x": [1, "y"]}}`, true},
	{"equals differs", config.JSONCheck{Pointer: "/o", Equals: "a"}, `{"o": "b"}`, false},
	{"in", config.JSONCheck{Pointer: "/c", In: []any{"USD", "EUR"}}, `{"c": "EUR"}`, true},
	{"not in", config.JSONCheck{Pointer: "/c", In: []any{"USD", "EUR"}}, `{"c": "usd"}`, false},
	{"max", config.JSONCheck{Pointer: "/n", Max: ptr(10.0)}, `{"n": 10}`, true},
	{"over max", config.JSONCheck{Pointer: "/n", Max: ptr(10.0)}, `{"n": 10.000000000000000001}`, false},
	{"huge", config.JSONCheck{Pointer: "/n", Max: ptr(10.0)}, `{"n": 1e400}`, false},
	{"regex", config.JSONCheck{Pointer: "/s", Regex: "^[a-z]+$"}, `{"s": "abc"}`, true},
	{"regex no match", config.JSONCheck{Pointer: "/s", Regex: "^[a-z]+$"}, `{"s": "ab1"}`, false},
	{"regex on a number", config.JSONCheck{Pointer: "/s", Regex: "1"}, `{"s": 1}`, false},
	{"type array", config.JSONCheck{Pointer: "/a", Type: config.JSONArray}, `{"a": []}`, true},
	{"type object", config.JSONCheck{Type: config.JSONObject}, `{}`, true},
	{"type null", config.JSONCheck{Pointer: "/a", Type: config.JSONNull}, `{"a": false}`, false},
	{"type boolean", config.JSONCheck{Pointer: "/a", Type: config.JSONBoolean}, `{"a": false}`, true},
	{"trailing data", config.JSONCheck{}, `{} {}`, false},
	{"empty body", config.JSONCheck{}, ``, false},
}

func ptr[T any](v T) *T { return &v }

func judgeBody(t testing.TB, jc config.JSONCheck, body string) error {
	iv, err := newInvariants(&config.ResponseChecks{Checks: []config.Check{{JSON: &jc}}, ChecksMaxBodyBytes: 1 << 20, ChecksOnOversize: config.OnOversizeFail})
	if err != nil {
		t.Fatal(err)
	}
	resp := &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body))}
	return iv.judge(http.MethodGet, resp)
}

func TestJudgeJSON(t *testing.T) {
	for _, tt := range judgeTests {
		t.Run(tt.name, func(t *testing.T) {
			err := judgeBody(t, tt.check, tt.body)
			if got := err == nil; got != tt.ok {
				t.Errorf("judge(%s) = %v; want ok %v", tt.body, err, tt.ok)
			}
		})
	}
}

// FuzzJudgeJSON: no body makes a check panic, and whatever passes a type
// check has that type.
func FuzzJudgeJSON(f *testing.F) {
	for _, tt := range judgeTests {
		data, _ := json.Marshal(tt.check)
		f.Add(data, tt.body)
	}
	f.Fuzz(func(t *testing.T, check []byte, body string) {
		var jc config.JSONCheck
		if json.Unmarshal(check, &jc) != nil {
			return
		}
		if _, err := newInvariants(&config.ResponseChecks{Checks: []config.Check{{JSON: &jc}}, ChecksMaxBodyBytes: 1 << 20}); err != nil {
			return
		}
		judgeBody(t, jc, body)
	})
}

// gzipBackend answers body gzipped, with Content-Encoding enc.
func gzipBackend(t *testing.T, enc, body string) *handlerBackend {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	io.WriteString(zw, body)
	zw.Close()
	return startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", enc)
		w.Write(buf.Bytes())
	})
}

func TestChecksCompressedBodies(t *testing.T) {
	tests := []struct {
		name, enc, body string
		ok              bool
	}{
		{"gzip honest", "gzip", honestBody, true},
		{"gzip liar", "gzip", liarBody, false},
		{"another encoding", "br", honestBody, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := gzipBackend(t, tt.enc, tt.body)
			e := startProxy(t, checksConfig(contractChecks, up.URL))
			r := e.get("/accounts/1", "Accept-Encoding", "gzip")
			if !tt.ok {
				checkLocal(t, r, http.StatusBadGateway, ReasonInvariantViolation)
				return
			}
			mustOK(t, r)
			zr, err := gzip.NewReader(strings.NewReader(r.body))
			if err != nil {
				t.Fatalf("relayed body is not gzip: %v", err)
			}
			got, _ := io.ReadAll(zr)
			if string(got) != tt.body || r.header.Get("Content-Encoding") != "gzip" {
				t.Errorf("got %q (Content-Encoding %q); want %q relayed compressed", got, r.header.Get("Content-Encoding"), tt.body)
			}
		})
	}
}

// TestChecksOversizePassStillJudgesOthers: a body passed unjudged for its
// size skips only the json checks; a status check listed after them still
// decides.
func TestChecksOversizePassStillJudgesOthers(t *testing.T) {
	up := accountsBackend(t, 200, "application/json", `{"balance": 1, "currency": "USD", "pad": "`+strings.Repeat("x", 100)+`"}`)
	e := startProxy(t, checksConfig("    checks: [{json: {pointer: /balance, min: 0}}, {status: [201]}]\n    checks_max_body_bytes: 16\n    checks_on_oversize: pass\n", up.URL))
	checkLocal(t, e.get("/accounts/1"), http.StatusBadGateway, ReasonInvariantViolation)
}

func TestChecksViolationsOpenTheBreaker(t *testing.T) {
	liar := accountsBackend(t, 200, "application/json", liarBody)
	e := startProxy(t, withUpstreamKeys(checksConfig(contractChecks+"    retry: {attempts: 1}\n", liar.URL),
		"circuit_breaker: {consecutive_failures: 2, open_duration: 1h}\n    outlier_detection: {disabled: true}"))
	for range 2 {
		checkLocal(t, e.get("/accounts/1"), http.StatusBadGateway, ReasonInvariantViolation)
	}
	checkLocal(t, e.get("/accounts/1"), http.StatusServiceUnavailable, ReasonBreakerOpen)
	if n := liar.requests.Load(); n != 2 {
		t.Errorf("liar asked %d times; want 2, then the breaker open", n)
	}
}

func TestChecksRetriedOnlyWhenAllowed(t *testing.T) {
	tests := []struct {
		name, method, retry string
		wantAttempts        string
	}{
		{"default retry_on", "GET", "", "3"},
		{"retry_on 5xx", "GET", "    retry: {retry_on: [5xx]}\n", "3"},
		{"retry_on without gateway_error or 5xx", "GET", "    retry: {retry_on: [connect_failure, reset]}\n", "1"},
		{"not idempotent", "POST", "", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			liar := accountsBackend(t, 200, "application/json", liarBody)
			other := accountsBackend(t, 200, "application/json", liarBody)
			e := startProxy(t, withUpstreamKeys(checksConfig(contractChecks+tt.retry, liar.URL, other.URL), "outlier_detection: {disabled: true}"))
			r := e.send(e.h1, tt.method, "/accounts/1", "")
			checkLocal(t, r, http.StatusBadGateway, ReasonInvariantViolation)
			if got := r.attempts(); got != tt.wantAttempts {
				t.Errorf("attempts = %s; want %s", got, tt.wantAttempts)
			}
		})
	}
}

// TestChecksHedgeAtOnce: a hedged round whose first answer breaks a check
// hedges at once, without waiting out the hedge delay, and the honest
// hedge's answer is the one relayed.
func TestChecksHedgeAtOnce(t *testing.T) {
	liar := accountsBackend(t, 200, "application/json", liarBody)
	honest := accountsBackend(t, 200, "application/json", honestBody)
	e := startProxy(t, withUpstreamKeys(checksConfig(contractChecks+"    retry: {attempts: 1}\n    hedge: {delay: 1h, max_extra: 1}\n", liar.URL, honest.URL),
		"outlier_detection: {disabled: true}"))
	for range 4 {
		r := e.get("/accounts/1")
		mustOK(t, r)
		if r.body != honestBody {
			t.Fatalf("body = %q; want the honest one", r.body)
		}
	}
	if liar.requests.Load() == 0 {
		t.Error("the liar was never asked; want rounds that start on it")
	}
}

// TestChecksPartLiar is the scenario, made deterministic: one of
// three endpoints returns a negative balance on 3 of every 10 of its
// requests, in a row. No wrong answer reaches the client, every request
// succeeds through the others, and the liar is ejected.
func TestChecksPartLiar(t *testing.T) {
	var n atomic.Int64
	liar := startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if n.Add(1)%10 < 3 {
			io.WriteString(w, liarBody)
			return
		}
		io.WriteString(w, honestBody)
	})
	b := accountsBackend(t, 200, "application/json", honestBody)
	c := accountsBackend(t, 200, "application/json", honestBody)
	e := startProxy(t, withUpstreamKeys(checksConfig(contractChecks, liar.URL, b.URL, c.URL),
		"outlier_detection: {consecutive_invariant_violations: 3, base_ejection_time: 1h}"))
	for i := range 300 {
		r := e.get("/accounts/1")
		if r.err != nil || r.status != 200 || r.body != honestBody {
			t.Fatalf("request %d: got %d %q (err %v); want the honest 200", i, r.status, r.body, r.err)
		}
	}
	if !e.endpoint("accounts", liar.URL).Ejected() {
		t.Errorf("liar not ejected after %d of its requests", n.Load())
	}
}
