package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/upstream"
)

// step is one scripted answer of a backend: after a wait (or, with hang,
// once the proxy gives up on the request), a status with an optional
// Retry-After and a body, whose second half comes a pause after the first.
type step struct {
	after      time.Duration
	hang       bool
	status     int
	retryAfter string
	body       []byte
	pause      time.Duration
}

// script answers the n-th request with steps[n]; a request past the script
// gets 599, which no test expects.
func script(steps ...step) memHandler {
	return func(b *memBackend, w http.ResponseWriter, r *http.Request, n int) {
		if n >= len(steps) {
			w.WriteHeader(599)
			return
		}
		s := steps[n]
		if s.hang {
			b.hold(r, 24*time.Hour)
			return
		}
		if !b.hold(r, s.after) {
			return
		}
		if s.retryAfter != "" {
			w.Header().Set("Retry-After", s.retryAfter)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(s.body)))
		w.WriteHeader(s.status)
		half := len(s.body) / 2
		w.Write(s.body[:half])
		if s.pause > 0 {
			http.NewResponseController(w).Flush()
			if !b.hold(r, s.pause) {
				return
			}
		}
		w.Write(s.body[half:])
	}
}

// bigBody is larger than every buffer between a backend and the client (the
// transport's 8 KiB reader, the relay's 32 KiB copy buffer), with bytes that
// show a piece lost or repeated.
var bigBody = func() []byte {
	b := make([]byte, 1<<20+7)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}()

const ms = time.Millisecond

// TestRetrySynctest: the proxy's retries, timed exactly. Attempts go to
// backend a (in one row, first to an endpoint nobody listens on), which
// answers by its script; the arrivals are the virtual times the attempts
// reached it, so the waits between them are the
// retry policy's: the jitter-none backoff, a Retry-After hint, nothing when
// the wait would reach the route deadline (reaching it exactly gives up, as
// retry.DecideAt rules), and a per-try timeout that ends an attempt at
// exactly that time. The upstream's retry budget is charged once per retry
// made, never for one not made, and a retry it refuses is not made.
func TestRetrySynctest(t *testing.T) {
	tests := []struct {
		name      string
		endpoints string // the upstream's; default [{address: http://a}]
		timeout   string // the route's
		retry     string // the route's retry block
		budget    string // the upstream's retry_budget block, if any
		steps     []step
		arrivals  []time.Duration
		ended     []time.Duration // attempts the proxy gave up on, by the backend's clock
		took      time.Duration   // when the client got its answer
		attempts  int             // when not one per arrival
		status    int
		reason    string // of a local reply
		body      string
		retries   int64 // charged to the upstream's budget
	}{
		{
			name:     "503 then 200: one backoff",
			retry:    "{attempts: 3, backoff: {base: 100ms, jitter: none}}",
			steps:    []step{{status: 503}, {status: 200, body: []byte("ok")}},
			arrivals: []time.Duration{0, 100 * ms},
			status:   200, body: "ok", retries: 1, took: 100 * ms,
		},
		{
			name:     "503, 503, 200: the backoff doubles",
			retry:    "{attempts: 3, backoff: {base: 100ms, jitter: none}}",
			steps:    []step{{status: 503}, {status: 503}, {status: 200, body: []byte("ok")}},
			arrivals: []time.Duration{0, 100 * ms, 300 * ms},
			status:   200, body: "ok", retries: 2, took: 300 * ms,
		},
		{
			name:     "multiplier 3, capped by max",
			retry:    "{attempts: 4, backoff: {base: 100ms, max: 250ms, multiplier: 3, jitter: none}}",
			steps:    []step{{status: 502}, {status: 503}, {status: 504}, {status: 200, body: []byte("ok")}},
			arrivals: []time.Duration{0, 100 * ms, 350 * ms, 600 * ms},
			status:   200, body: "ok", retries: 3, took: 600 * ms,
		},
		{
			name:     "attempts spent: the last answer is relayed",
			retry:    "{attempts: 2, backoff: {base: 100ms, jitter: none}}",
			steps:    []step{{status: 503}, {status: 503, body: []byte("last")}},
			arrivals: []time.Duration{0, 100 * ms},
			status:   503, body: "last", retries: 1, took: 100 * ms,
		},
		{
			name:     "500 is not retried by default",
			retry:    "{attempts: 3, backoff: {base: 100ms, jitter: none}}",
			steps:    []step{{status: 500, body: []byte("boom")}},
			arrivals: []time.Duration{0},
			status:   500, body: "boom",
		},
		{
			name:      "a connect failure is retried on the next endpoint after the backoff",
			endpoints: "[{address: http://gone}, {address: http://a, priority: 1}]",
			retry:     "{attempts: 3, backoff: {base: 100ms, jitter: none}}",
			steps:     []step{{status: 200, body: []byte("ok")}},
			arrivals:  []time.Duration{100 * ms}, attempts: 2,
			status: 200, body: "ok", retries: 1, took: 100 * ms,
		},
		{
			// ratio 0.5 of 1 request plus 0.05/s over 10s: room for one.
			name:     "the budget grants one retry and refuses the next",
			retry:    "{attempts: 3, backoff: {base: 100ms, jitter: none}}",
			budget:   "{ratio: 0.5, min_per_second: 0.05}",
			steps:    []step{{status: 503}, {status: 503, body: []byte("refused")}},
			arrivals: []time.Duration{0, 100 * ms},
			status:   503, body: "refused", retries: 1, took: 100 * ms,
		},
		{
			name:     "Retry-After: 2 is waited exactly",
			retry:    "{attempts: 3, backoff: {base: 100ms, jitter: none}}",
			steps:    []step{{status: 503, retryAfter: "2"}, {status: 200, body: []byte("ok")}},
			arrivals: []time.Duration{0, 2 * time.Second},
			status:   200, body: "ok", retries: 1, took: 2 * time.Second,
		},
		{
			name:     "Retry-After equal to max_retry_after is waited",
			retry:    "{attempts: 3, max_retry_after: 2s, backoff: {base: 100ms, jitter: none}}",
			steps:    []step{{status: 503, retryAfter: "2"}, {status: 200, body: []byte("ok")}},
			arrivals: []time.Duration{0, 2 * time.Second},
			status:   200, body: "ok", retries: 1, took: 2 * time.Second,
		},
		{
			name:     "Retry-After above max_retry_after: no retry, no budget",
			retry:    "{attempts: 3, max_retry_after: 1s, backoff: {base: 100ms, jitter: none}}",
			steps:    []step{{status: 503, retryAfter: "2", body: []byte("later")}},
			arrivals: []time.Duration{0},
			status:   503, body: "later",
		},
		{
			name:     "the backoff would reach the deadline exactly: no retry",
			timeout:  "1s",
			retry:    "{attempts: 3, backoff: {base: 100ms, jitter: none}}",
			steps:    []step{{after: 900 * ms, status: 503, body: []byte("slow")}},
			arrivals: []time.Duration{0},
			status:   503, body: "slow", took: 900 * ms,
		},
		{
			name:     "the backoff ends just before the deadline: a retry",
			timeout:  "1s",
			retry:    "{attempts: 3, backoff: {base: 100ms, jitter: none}}",
			steps:    []step{{after: 899 * ms, status: 503}, {status: 200, body: []byte("ok")}},
			arrivals: []time.Duration{0, 999 * ms},
			status:   200, body: "ok", retries: 1, took: 999 * ms,
		},
		{
			name:     "Retry-After would reach the deadline exactly: no retry",
			timeout:  "2s",
			retry:    "{attempts: 3}",
			steps:    []step{{status: 503, retryAfter: "2", body: []byte("later")}},
			arrivals: []time.Duration{0},
			status:   503, body: "later",
		},
		{
			name:     "per_try_timeout ends an attempt, the next starts after the backoff",
			retry:    "{attempts: 3, per_try_timeout: 300ms, backoff: {base: 100ms, jitter: none}}",
			steps:    []step{{hang: true}, {status: 200, body: []byte("ok")}},
			arrivals: []time.Duration{0, 400 * ms},
			ended:    []time.Duration{300 * ms},
			status:   200, body: "ok", retries: 1, took: 400 * ms,
		},
		{
			name:     "per_try_timeout on the last attempt: 504",
			retry:    "{attempts: 2, per_try_timeout: 300ms, backoff: {base: 100ms, jitter: none}}",
			steps:    []step{{hang: true}, {hang: true}},
			arrivals: []time.Duration{0, 400 * ms},
			ended:    []time.Duration{300 * ms, 700 * ms},
			status:   504, reason: ReasonTimeout, retries: 1, took: 700 * ms,
		},
		{
			name:     "the route timeout ends a hanging attempt: 504, no retry",
			timeout:  "2s",
			retry:    "{attempts: 3, backoff: {base: 100ms, jitter: none}}",
			steps:    []step{{hang: true}},
			arrivals: []time.Duration{0},
			ended:    []time.Duration{2 * time.Second},
			status:   504, reason: ReasonTimeout, took: 2 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				endpoints, timeout, attempts := tt.endpoints, tt.timeout, tt.attempts
				if endpoints == "" {
					endpoints = "[{address: http://a}]"
				}
				if timeout == "" {
					timeout = "15s"
				}
				if attempts == 0 {
					attempts = len(tt.arrivals)
				}
				budget := ""
				if tt.budget != "" {
					budget = "retry_budget: " + tt.budget
				}
				m := newMemProxy(t, yamlf(`
upstreams:
	u:
		endpoints: %s
		outlier_detection: {disabled: true}
		%s
routes:
	- name: r
		upstream: u
		timeout: %s
		retry: %s
`, endpoints, budget, timeout, tt.retry), map[string]memHandler{"a": script(tt.steps...)})

				res := m.do("GET", "/x", nil)
				arrivals, ended, _ := m.backend("a").record()
				if !slices.Equal(arrivals, tt.arrivals) {
					t.Errorf("attempts reached the backend at %v; want %v", arrivals, tt.arrivals)
				}
				if !slices.Equal(ended, tt.ended) {
					t.Errorf("the proxy gave up on attempts at %v; want %v", ended, tt.ended)
				}
				if res.took != tt.took {
					t.Errorf("answered at %v; want %v", res.took, tt.took)
				}
				if res.status != tt.status {
					t.Errorf("got status %d; want %d", res.status, tt.status)
				}
				if got := res.header.Get(HeaderReason); got != tt.reason {
					t.Errorf("got %s %q; want %q", HeaderReason, got, tt.reason)
				}
				if tt.reason == "" && string(res.body) != tt.body {
					t.Errorf("got body %q; want %q", res.body, tt.body)
				}
				if got, want := res.header.Get(HeaderAttempts), strconv.Itoa(attempts); got != want {
					t.Errorf("got %s %q; want %q", HeaderAttempts, got, want)
				}
				if got := m.lastInfo().Retries; got != attempts-1 {
					t.Errorf("RequestInfo.Retries = %d; want %d", got, attempts-1)
				}
				b := m.p.Status().Upstreams[0].RetryBudget
				if b.Retries != tt.retries || b.Requests != 1 {
					t.Errorf("the upstream's budget counted %d requests, %d retries; want 1, %d", b.Requests, b.Retries, tt.retries)
				}
			})
		})
	}
}

// TestHedgeSynctest: a hedged route, timed exactly. The first attempt goes
// to a (priority 0), the hedge to b, the endpoint not tried yet. A hedge
// starts exactly `delay` after the first attempt, or at once when that
// fails; the first good answer wins, the loser's request is cancelled and
// its connection closed at that instant, and the winner's body, larger than
// any buffer, is relayed whole while the winner's connection goes back to
// the pool.
func TestHedgeSynctest(t *testing.T) {
	tests := []struct {
		name      string
		a, b      step
		arrivalsA []time.Duration
		arrivalsB []time.Duration
		endedA    []time.Duration // the loser's request cancelled
		endedB    []time.Duration
		closedA   []time.Duration // the loser's connection closed
		closedB   []time.Duration
		took      time.Duration
		body      []byte
		hedges    int
	}{
		{
			name:      "slow first attempt: the hedge wins",
			a:         step{after: time.Second, status: 200, body: []byte("slow")},
			b:         step{status: 200, body: bigBody},
			arrivalsA: []time.Duration{0}, arrivalsB: []time.Duration{50 * ms},
			endedA: []time.Duration{50 * ms}, closedA: []time.Duration{50 * ms},
			took: 50 * ms, body: bigBody, hedges: 1,
		},
		{
			// The loser goes when the winner's head comes, not when the
			// winner's body has been relayed.
			name:      "the hedge wins, its body pauses",
			a:         step{after: time.Second, status: 200, body: []byte("slow")},
			b:         step{status: 200, body: bigBody, pause: 100 * ms},
			arrivalsA: []time.Duration{0}, arrivalsB: []time.Duration{50 * ms},
			endedA: []time.Duration{50 * ms}, closedA: []time.Duration{50 * ms},
			took: 150 * ms, body: bigBody, hedges: 1,
		},
		{
			name:      "both slow: the first answer wins",
			a:         step{after: 80 * ms, status: 200, body: bigBody, pause: 20 * ms},
			b:         step{after: 100 * ms, status: 200, body: []byte("late")},
			arrivalsA: []time.Duration{0}, arrivalsB: []time.Duration{50 * ms},
			endedB: []time.Duration{80 * ms}, closedB: []time.Duration{80 * ms},
			took: 100 * ms, body: bigBody, hedges: 1,
		},
		{
			name:      "an answer within the delay: no hedge",
			a:         step{after: 30 * ms, status: 200, body: bigBody},
			b:         step{status: 200, body: []byte("unused")},
			arrivalsA: []time.Duration{0},
			took:      30 * ms, body: bigBody,
		},
		{
			name:      "a failed first attempt: the hedge starts at once",
			a:         step{after: 10 * ms, status: 503, body: []byte("down")},
			b:         step{status: 200, body: bigBody},
			arrivalsA: []time.Duration{0}, arrivalsB: []time.Duration{10 * ms},
			closedA: []time.Duration{10 * ms}, // its 503 was discarded unread
			took:    10 * ms, body: bigBody, hedges: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newMemProxy(t, yamlf(`
upstreams:
	u:
		endpoints: [{address: http://a}, {address: http://b, priority: 1}]
		outlier_detection: {disabled: true}
routes:
	- name: r
		upstream: u
		retry: {attempts: 1}
		hedge: {delay: 50ms, max_extra: 1}
`), map[string]memHandler{"a": script(tt.a), "b": script(tt.b)})

				res := m.do("GET", "/x", nil)
				if res.status != 200 || res.aborted {
					t.Fatalf("got status %d (aborted %v); want 200", res.status, res.aborted)
				}
				if !bytes.Equal(res.body, tt.body) {
					t.Errorf("got a body of %d bytes; want the winner's %d bytes", len(res.body), len(tt.body))
				}
				if res.took != tt.took {
					t.Errorf("answered at %v; want %v", res.took, tt.took)
				}
				if got, want := res.header.Get(HeaderAttempts), strconv.Itoa(1+tt.hedges); got != want {
					t.Errorf("got %s %q; want %q", HeaderAttempts, got, want)
				}
				if got := m.lastInfo().Hedges; got != tt.hedges {
					t.Errorf("RequestInfo.Hedges = %d; want %d", got, tt.hedges)
				}
				for _, c := range []struct {
					name                    string
					arrivals, ended, closed []time.Duration
				}{{"a", tt.arrivalsA, tt.endedA, tt.closedA}, {"b", tt.arrivalsB, tt.endedB, tt.closedB}} {
					arrivals, ended, closed := m.backend(c.name).record()
					if !slices.Equal(arrivals, c.arrivals) {
						t.Errorf("%s: attempts arrived at %v; want %v", c.name, arrivals, c.arrivals)
					}
					if !slices.Equal(ended, c.ended) {
						t.Errorf("%s: requests cancelled at %v; want %v", c.name, ended, c.ended)
					}
					if !slices.Equal(closed, c.closed) {
						t.Errorf("%s: connections closed at %v; want %v", c.name, closed, c.closed)
					}
				}
			})
		})
	}
}

// TestBreakerSynctest: consecutive failures open the upstream's breaker
// after exactly the configured count, and an open breaker answers 503
// breaker_open, without reaching the backend, with a Retry-After of the
// open time left, rounded up to whole seconds.
func TestBreakerSynctest(t *testing.T) {
	tests := []struct {
		failures   int
		wait       time.Duration // from the tripping failure to the refused request
		retryAfter string
	}{
		{1, 0, "10"},
		{3, 0, "10"},
		{3, 4 * time.Second, "6"},
		{3, 3500 * ms, "7"},
		{2, 9999 * ms, "1"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.failures)+" after "+tt.wait.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newMemProxy(t, yamlf(`
upstreams:
	u:
		endpoints: [{address: http://a}]
		outlier_detection: {disabled: true}
		circuit_breaker: {consecutive_failures: %d, open_duration: 10s}
routes:
	- name: r
		upstream: u
		retry: {attempts: 1}
`, tt.failures), map[string]memHandler{"a": func(_ *memBackend, w http.ResponseWriter, _ *http.Request, _ int) {
					w.WriteHeader(500)
				}})
				breakerState := func() breaker.State { return m.p.Status().Upstreams[0].Breaker.State }
				for i := range tt.failures {
					if got := breakerState(); got != breaker.Closed {
						t.Fatalf("after %d failures the breaker is %v; want closed", i, got)
					}
					if res := m.do("GET", "/x", nil); res.status != 500 {
						t.Fatalf("request %d: got status %d; want the backend's 500", i, res.status)
					}
				}
				if got := breakerState(); got != breaker.Open {
					t.Fatalf("after %d failures the breaker is %v; want open", tt.failures, got)
				}
				time.Sleep(tt.wait) // virtual time
				if got, want := m.p.Status().Upstreams[0].Breaker.Remaining, 10*time.Second-tt.wait; got != want {
					t.Errorf("the breaker's remaining open time is %v; want %v", got, want)
				}
				res := m.do("GET", "/x", nil)
				if res.status != 503 || res.header.Get(HeaderReason) != ReasonBreakerOpen {
					t.Errorf("got %d %q; want 503 %s", res.status, res.header.Get(HeaderReason), ReasonBreakerOpen)
				}
				if got := res.header.Get("Retry-After"); got != tt.retryAfter {
					t.Errorf("got Retry-After %q; want %q", got, tt.retryAfter)
				}
				if arrivals, _, _ := m.backend("a").record(); len(arrivals) != tt.failures {
					t.Errorf("the backend got %d requests; want %d, none past the open breaker", len(arrivals), tt.failures)
				}
			})
		})
	}
}

// failingBody is a client's request body that breaks after some bytes, as a
// malformed chunked upload does.
type failingBody struct{ left int }

var errBrokenBody = errors.New("the client's body broke")

func (f *failingBody) Read(p []byte) (int, error) {
	if f.left == 0 {
		return 0, errBrokenBody
	}
	n := min(len(p), f.left)
	clear(p[:n])
	f.left -= n
	return n, nil
}

// TestClientFaultSynctest: a request body that fails to read is the
// client's fault, 400 invalid_request, whether it was buffered for replay
// (the upstream never sees the request) or streamed to the attempt (the
// upstream saw its head); the breaker, which a single counted failure would
// open, counts nothing, and the next request goes through.
func TestClientFaultSynctest(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		arrivals int // requests that reached the backend
	}{
		{"buffered for replay (GET)", "GET", 0},
		{"streamed, not idempotent (POST)", "POST", 1},
		{"streamed, larger than max_body_bytes (PUT)", "PUT", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newMemProxy(t, yamlf(`
upstreams:
	u:
		endpoints: [{address: http://a}]
		outlier_detection: {disabled: true}
		circuit_breaker: {consecutive_failures: 1, open_duration: 10s}
routes:
	- name: r
		upstream: u
		retry: {max_body_bytes: 4}
`), map[string]memHandler{"a": func(_ *memBackend, w http.ResponseWriter, r *http.Request, _ int) {
					if _, err := io.Copy(io.Discard, r.Body); err != nil {
						return
					}
					io.WriteString(w, "ok")
				}})
				body := &failingBody{left: 10}
				if tt.method == "GET" {
					body.left = 3 // within max_body_bytes: buffered
				}
				res := m.do(tt.method, "/x", body)
				if res.status != 400 || res.header.Get(HeaderReason) != ReasonInvalidRequest {
					t.Errorf("got %d %q; want 400 %s", res.status, res.header.Get(HeaderReason), ReasonInvalidRequest)
				}
				if got := res.header.Get("Connection"); got != "close" {
					t.Errorf("got Connection %q; want close", got)
				}
				if arrivals, _, _ := m.backend("a").record(); len(arrivals) != tt.arrivals {
					t.Errorf("the backend got %d requests; want %d", len(arrivals), tt.arrivals)
				}
				c := m.p.Status().Upstreams[0].Breaker.Counts
				if c.State != breaker.Closed || c.Calls != 0 || c.Failures != 0 || c.ConsecutiveFailures != 0 {
					t.Errorf("the breaker is %v with %d calls, %d failures (%d in a row); want closed with none", c.State, c.Calls, c.Failures, c.ConsecutiveFailures)
				}
				if res := m.do("GET", "/x", nil); res.status != 200 || string(res.body) != "ok" {
					t.Errorf("the next request got %d %q; want 200 ok", res.status, res.body)
				}
			})
		})
	}
}

// TestOnAttemptSynctest: Options.OnAttempt hears every attempt sent, with
// its endpoint, number, outcome, status and exact duration.
func TestOnAttemptSynctest(t *testing.T) {
	tests := []struct {
		name      string
		endpoints string
		retry     string
		steps     []step
		want      []AttemptInfo
	}{
		{
			name:  "503 then 200",
			retry: "{attempts: 3, backoff: {base: 100ms, jitter: none}}",
			steps: []step{{after: 20 * ms, status: 503}, {after: 30 * ms, status: 200, body: []byte("ok")}},
			want: []AttemptInfo{
				{Endpoint: "a:80", Attempt: 1, Outcome: AttemptResponse, Status: 503, Duration: 20 * ms},
				{Endpoint: "a:80", Attempt: 2, Outcome: AttemptResponse, Status: 200, Duration: 30 * ms},
			},
		},
		{
			name:  "a per-try timeout, then an answer",
			retry: "{attempts: 3, per_try_timeout: 300ms, backoff: {base: 100ms, jitter: none}}",
			steps: []step{{hang: true}, {status: 200, body: []byte("ok")}},
			want: []AttemptInfo{
				{Endpoint: "a:80", Attempt: 1, Outcome: AttemptTryTimeout, Duration: 300 * ms},
				{Endpoint: "a:80", Attempt: 2, Outcome: AttemptResponse, Status: 200},
			},
		},
		{
			name:      "a refused connection, then the next endpoint",
			endpoints: "[{address: http://gone}, {address: http://a, priority: 1}]",
			retry:     "{attempts: 3, backoff: {base: 100ms, jitter: none}}",
			steps:     []step{{status: 200, body: []byte("ok")}},
			want: []AttemptInfo{
				{Endpoint: "gone:80", Attempt: 1, Outcome: AttemptConnectFailure},
				{Endpoint: "a:80", Attempt: 2, Outcome: AttemptResponse, Status: 200},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				endpoints := tt.endpoints
				if endpoints == "" {
					endpoints = "[{address: http://a}]"
				}
				m := newMemProxy(t, yamlf(`
upstreams:
	u:
		endpoints: %s
		outlier_detection: {disabled: true}
routes:
	- name: r
		upstream: u
		retry: %s
`, endpoints, tt.retry), map[string]memHandler{"a": script(tt.steps...)})
				m.do("GET", "/x", nil)
				got := m.attemptInfos()
				for i := range tt.want {
					tt.want[i].Route, tt.want[i].Upstream = "r", "u"
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("OnAttempt heard\n%+v\nwant\n%+v", got, tt.want)
				}
			})
		})
	}
}

// TestRetryAvoidsEjectedSynctest: once every usable endpoint has been tried,
// the next retry goes back to a usable one, not to the ejected endpoint
// (which Pick would choose, as it does for a first attempt in panic mode).
// Here a and b each 503 once, then answer; c refuses connections and was
// ejected for it.
func TestRetryAvoidsEjectedSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMemProxy(t, yamlf(`
upstreams:
	u:
		endpoints: [{address: http://a}, {address: http://b}, {address: http://c}]
		outlier_detection: {consecutive_failures: 1, base_ejection_time: 1h, max_ejection_percent: 50}
routes:
	- name: r
		upstream: u
		retry: {attempts: 3, retry_on: [5xx, connect_failure], backoff: {base: 10ms, jitter: none}}
`), map[string]memHandler{
			"a": script(step{status: 503}, step{status: 200, body: []byte("a")}),
			"b": script(step{status: 503}, step{status: 200, body: []byte("b")}),
		})
		c := m.p.state.Load().clusters["u"].up.Endpoints()[2]
		c.Start()
		c.Done(time.Millisecond, upstream.Failure) // one connect failure ejects it
		if !c.Ejected() {
			t.Fatal("c is not ejected; the test needs it to be")
		}
		res := m.do("GET", "/x", nil)
		var got []string
		for _, a := range m.attemptInfos() {
			got = append(got, a.Endpoint)
		}
		if res.status != 200 || len(got) != 3 || got[2] == "c:80" || got[2] == got[1] {
			t.Errorf("got status %d after attempts at %v; want 200, the third attempt back at the usable endpoint not tried last", res.status, got)
		}
	})
}
