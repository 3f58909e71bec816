package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/guard"
)

// switchable is an accounts backend that answers liarBody while bad is
// set, honestBody otherwise.
func switchable(t *testing.T, bad *atomic.Bool) *handlerBackend {
	return startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if bad.Load() {
			io.WriteString(w, liarBody)
			return
		}
		io.WriteString(w, honestBody)
	})
}

// webhook is a receiver of quiesce webhooks.
func webhook(t *testing.T) (*handlerBackend, chan QuiesceWebhookBody) {
	got := make(chan QuiesceWebhookBody, 16)
	hb := startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		var b QuiesceWebhookBody
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&b) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got <- b
	})
	return hb, got
}

func nextHook(t *testing.T, hooks chan QuiesceWebhookBody) QuiesceWebhookBody {
	t.Helper()
	select {
	case b := <-hooks:
		return b
	case <-time.After(waitLimit):
		t.Fatal("no webhook came")
		return QuiesceWebhookBody{}
	}
}

func (e *env) quiesceStatus() *QuiesceStatus {
	e.t.Helper()
	for _, rs := range e.p.Status().Routes {
		if rs.Quiesce != nil {
			return rs.Quiesce
		}
	}
	e.t.Fatal("no route with quiesce in the status")
	return nil
}

// TestQuiesceAndResume is the test: every endpoint starts giving
// invalid answers; after quiesce.min_requests of them the route quiesces
// (503 quiesced at once, no upstream asked), the report names the check
// broken and the endpoints, the webhook gets it; a trial while they are
// still wrong keeps it quiesced; once they recover, trials resume it.
func TestQuiesceAndResume(t *testing.T) {
	var bad atomic.Bool
	a, b := switchable(t, &bad), switchable(t, &bad)
	hook, hooks := webhook(t)
	cfg := checksConfig(contractChecks+"    quiesce: {after: 1ns, min_requests: 3, probe_interval: 100ms, recovery_probes: 2, webhook: '"+hook.URL+"'}\n", a.URL, b.URL)
	e := startProxy(t, withUpstreamKeys(cfg, "outlier_detection: {disabled: true}"))

	mustOK(t, e.get("/accounts/1"))
	bad.Store(true)
	for range 3 {
		checkLocal(t, e.get("/accounts/1"), http.StatusBadGateway, ReasonInvariantViolation)
	}
	asked := a.requests.Load() + b.requests.Load()
	got := e.get("/accounts/1")
	checkLocal(t, got, http.StatusServiceUnavailable, ReasonQuiesced)
	if !strings.Contains(got.body, "checks[2] (json /balance min 0)") || strings.Contains(got.body, "-5") {
		t.Errorf("quiesced reply %q; want it to name the check, never the upstream's value", got.body)
	}
	if n := a.requests.Load() + b.requests.Load(); n != asked {
		t.Errorf("a quiesced request reached the upstream (%d requests, then %d)", asked, n)
	}

	qs := e.quiesceStatus()
	rep := qs.Report
	if !qs.Quiesced || qs.Quiesces != 1 || rep == nil {
		t.Fatalf("quiesce status %+v; want quiesced once, with a report", qs)
	}
	if rep.Route != "accounts" || rep.Kind != "checks" || rep.Invariant != "checks[2] (json /balance min 0)" || rep.Requests != 3 || len(rep.Samples) != 3 || rep.ResumedAt != nil {
		t.Errorf("report %+v; want route accounts, checks, checks[2], 3 requests and samples, not resumed", rep)
	}
	if s := rep.Samples[2]; s.Check != rep.Invariant || s.Why != "the value -5" || s.Endpoint == "" {
		t.Errorf("last sample %+v; want checks[2], the value, an endpoint", s)
	}
	if rep.Since.After(rep.QuiescedAt) || len(rep.Endpoints) == 0 {
		t.Errorf("report since %s, quiesced at %s, endpoints %v; want since first, and endpoints", rep.Since, rep.QuiescedAt, rep.Endpoints)
	}
	if h := nextHook(t, hooks); h.Event != "quiesced" || h.Report == nil || h.Report.Invariant != rep.Invariant {
		t.Errorf("webhook %+v; want the quiesced report", h)
	}

	// A trial while the answers are still wrong: it reaches the upstream,
	// its answer is withheld, and the route stays quiesced.
	time.Sleep(150 * time.Millisecond)
	checkLocal(t, e.get("/accounts/1"), http.StatusBadGateway, ReasonInvariantViolation)
	if !e.quiesceStatus().Quiesced {
		t.Fatal("a failed trial resumed the route")
	}

	bad.Store(false)
	deadline := time.Now().Add(waitLimit)
	for e.quiesceStatus().Quiesced {
		if time.Now().After(deadline) {
			t.Fatal("the route did not resume once the endpoints recovered")
		}
		got := e.get("/accounts/1")
		if got.status != http.StatusOK && got.header.Get(HeaderReason) != ReasonQuiesced {
			t.Fatalf("while resuming got %d %q; want 200 or 503 quiesced", got.status, got.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mustOK(t, e.get("/accounts/1"))
	qs = e.quiesceStatus()
	if qs.Resumes != 1 || qs.Report == nil || qs.Report.ResumedAt == nil {
		t.Errorf("after resuming %+v; want 1 resume and the report's resumed_at", qs)
	}
	if h := nextHook(t, hooks); h.Event != "resumed" || h.Report == nil || h.Report.ResumedAt == nil {
		t.Errorf("webhook %+v; want the resumed report", h)
	}
	if qs.WebhooksSent != 2 || qs.WebhooksFailed != 0 {
		t.Errorf("webhooks sent %d, failed %d; want 2, 0", qs.WebhooksSent, qs.WebhooksFailed)
	}
}

// TestQuiesceStreakNeedsNoCorrectAnswer: a correct answer between wrong
// ones ends the streak, so a route with correct answers somewhere never
// quiesces; min_requests wrong ones in a row do.
func TestQuiesceStreakNeedsNoCorrectAnswer(t *testing.T) {
	var bad atomic.Bool
	a := switchable(t, &bad)
	e := startProxy(t, checksConfig(contractChecks+"    retry: {attempts: 1}\n    quiesce: {after: 1ns, min_requests: 3}\n", a.URL))
	for i, wrong := range []bool{true, true, false, true, true, false, true, true} {
		bad.Store(wrong)
		got := e.get("/accounts/1")
		if want := map[bool]int{true: 502, false: 200}[wrong]; got.status != want {
			t.Fatalf("request %d: got %d; want %d", i, got.status, want)
		}
		if e.quiesceStatus().Quiesced {
			t.Fatalf("quiesced after request %d; a correct answer came every 3", i)
		}
	}
	bad.Store(true)
	checkLocal(t, e.get("/accounts/1"), http.StatusBadGateway, ReasonInvariantViolation)
	if !e.quiesceStatus().Quiesced {
		t.Error("not quiesced after 3 wrong answers in a row")
	}
}

// TestQuiesceVote: a vote route that keeps losing its quorum quiesces; the
// report says no quorum and names the voters; with a fallback on
// quiesced, the fallback answers in place of the 503.
func TestQuiesceVote(t *testing.T) {
	a := jsonVoter(t, fixed(`{"price":10}`))
	b := jsonVoter(t, fixed(`{"price":11}`))
	for _, fallback := range []bool{false, true} {
		cfg := voteConfig([]string{"a", "b"}, []string{a.URL, b.URL}, "      compare: json\n") +
			"    quiesce: {after: 1ns, min_requests: 2, probe_interval: 1h}\n"
		if fallback {
			cfg += "    fallback: {status: 200, body: 'later', on: [quiesced]}\n"
		}
		e := startProxy(t, cfg)
		for range 2 {
			if got := e.vote("/quote"); got.status != http.StatusBadGateway {
				t.Fatalf("got %d; want 502 no_quorum", got.status)
			}
		}
		got := e.get("/quote")
		if fallback {
			if got.status != 200 || got.body != "later" || got.header.Get(HeaderReason) != ReasonQuiesced {
				t.Errorf("with a fallback got %d %q %q; want the fallback, reason quiesced", got.status, got.body, got.header.Get(HeaderReason))
			}
		} else {
			checkLocal(t, got, http.StatusServiceUnavailable, ReasonQuiesced)
		}
		rep := e.quiesceStatus().Report
		if rep == nil || rep.Kind != "vote" || rep.Invariant != "no quorum" || rep.Samples[1].Vote == nil ||
			!slices.Contains(rep.Endpoints, "a") || !slices.Contains(rep.Endpoints, "b") {
			t.Errorf("report %+v; want no quorum, a vote sample, voters a and b", rep)
		}
	}
}

// TestQuiesceWebhookNeverBlocks: a webhook that never answers delays no
// request: the route quiesces and answers at once while the POST hangs.
func TestQuiesceWebhookNeverBlocks(t *testing.T) {
	liar := accountsBackend(t, 200, "application/json", liarBody)
	hook, started := stuckVoter(t)
	e := startProxy(t, checksConfig(contractChecks+"    retry: {attempts: 1}\n    quiesce: {after: 1ns, min_requests: 2, probe_interval: 1h, webhook: '"+hook.URL+"', webhook_timeout: 60s}\n", liar.URL))
	for i, want := range []string{ReasonInvariantViolation, ReasonInvariantViolation, ReasonQuiesced, ReasonQuiesced} {
		begin := time.Now()
		got := e.get("/accounts/1")
		if r := got.header.Get(HeaderReason); r != want {
			t.Fatalf("request %d: reason %q; want %q", i, r, want)
		}
		if took := time.Since(begin); took > 5*time.Second {
			t.Fatalf("request %d took %s; want no wait for the webhook", i, took)
		}
	}
	select {
	case <-started:
	case <-time.After(waitLimit):
		t.Fatal("the webhook was never called")
	}
	if qs := e.quiesceStatus(); qs.WebhooksSent != 0 || !qs.Quiesced {
		t.Errorf("status %+v; want quiesced with the webhook still in flight", qs)
	}
}

// TestQuiesceStreakTimes: the streak quiesces the route once it spans
// after and holds min_requests, counted at explicit times; the report and
// the log say what broke and since when.
func TestQuiesceStreakTimes(t *testing.T) {
	c, err := config.Parse([]byte(checksConfig(contractChecks+"    quiesce: {after: 10s, min_requests: 3}\n", "http://127.0.0.1:1")))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	bg := newBackground()
	defer bg.close()
	q, err := newQuiesceRoute(c.Routes[0], nil, slog.New(slog.NewTextHandler(&logs, nil)), bg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	ctx := context.Background()
	s := QuiesceSample{Check: "checks[2] (json /balance min 0)", Why: "the value -5", Endpoint: "10.0.0.7:80"}
	steps := []struct {
		at       time.Duration
		quiesced bool
	}{{0, false}, {5 * time.Second, false}, {9 * time.Second, false}, {10 * time.Second, true}}
	for _, st := range steps {
		s.At = t0.Add(st.at)
		q.observeBad(ctx, s.At, s)
		if got := q.guard.State() == guard.StateSilenced; got != st.quiesced {
			t.Fatalf("after a wrong answer at +%s: quiesced %v; want %v", st.at, got, st.quiesced)
		}
	}
	rep, ok := q.report()
	if !ok || !rep.Since.Equal(t0) || !rep.QuiescedAt.Equal(t0.Add(10*time.Second)) || rep.For != "10s" || rep.Requests != 4 ||
		rep.Invariant != s.Check || !slices.Equal(rep.Endpoints, []string{"10.0.0.7:80"}) {
		t.Errorf("report %+v, %v; want since t0, for 10s, 4 requests, checks[2], one endpoint", rep, ok)
	}
	if l := logs.String(); !strings.Contains(l, "route quiesced") || !strings.Contains(l, "checks[2] (json /balance min 0)") || !strings.Contains(l, "route=accounts") {
		t.Errorf("log %q; want the quiesce with its route and invariant", l)
	}
}

// TestQuiesceWebhookFailureHidesTheURL: a webhook that cannot be reached is
// counted as failed, and the log does not quote its URL, whose path may be
// its secret.
func TestQuiesceWebhookFailureHidesTheURL(t *testing.T) {
	c, err := config.Parse([]byte(checksConfig(contractChecks+"    quiesce: {after: 1ns, min_requests: 1, webhook: '"+downVoter(t)+"/s3cr3tpath'}\n", "http://127.0.0.1:1")))
	if err != nil {
		t.Fatal(err)
	}
	var logs syncLog
	bg := newBackground()
	q, err := newQuiesceRoute(c.Routes[0], nil, slog.New(slog.NewTextHandler(&logs, nil)), bg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	q.observeBad(context.Background(), t0, QuiesceSample{At: t0, Check: "checks[0]"})
	q.observeBad(context.Background(), t0.Add(time.Second), QuiesceSample{At: t0.Add(time.Second), Check: "checks[0]"})
	bg.close() // waits for the webhook's POST
	if q.webhooksFailed.Load() != 1 || q.webhooksSent.Load() != 0 {
		t.Errorf("webhooks failed %d, sent %d; want 1, 0", q.webhooksFailed.Load(), q.webhooksSent.Load())
	}
	if l := logs.String(); !strings.Contains(l, "quiesce webhook failed") || strings.Contains(l, "s3cr3tpath") {
		t.Errorf("log %q; want the failure, without the URL", l)
	}
}

// syncLog is a log buffer safe for the webhook's goroutine.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestQuiesceProbePath: with probe_path, a quiesced route sends no client
// request to the upstreams (no trials); the proxy's own probes of the path
// find the endpoints recovered and resume the route without any traffic.
func TestQuiesceProbePath(t *testing.T) {
	var bad atomic.Bool
	var probes, clients atomic.Int64
	a := startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/accounts/probe" && r.URL.RawQuery == "id=7" && r.Header.Get("User-Agent") == "holdfast-quiesce-probe" {
			probes.Add(1)
		} else {
			clients.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		if bad.Load() {
			io.WriteString(w, liarBody)
			return
		}
		io.WriteString(w, honestBody)
	})
	e := startProxy(t, checksConfig(contractChecks+"    retry: {attempts: 1}\n    quiesce: {after: 1ns, min_requests: 2, probe_interval: 20ms, recovery_probes: 2, probe_path: '/accounts/probe?id=7'}\n", a.URL))
	bad.Store(true)
	for range 2 {
		checkLocal(t, e.get("/accounts/1"), http.StatusBadGateway, ReasonInvariantViolation)
	}
	waitFor(t, "a failed probe", func() bool { return probes.Load() > 0 })
	// No trial: every client request is refused while quiesced.
	for range 5 {
		checkLocal(t, e.get("/accounts/1"), http.StatusServiceUnavailable, ReasonQuiesced)
		time.Sleep(25 * time.Millisecond)
	}
	if !e.quiesceStatus().Quiesced {
		t.Fatal("failing probes resumed the route")
	}
	if n := clients.Load(); n != 2 {
		t.Errorf("%d client requests reached the upstream; want the 2 before the quiesce", n)
	}
	bad.Store(false)
	waitFor(t, "the probes to resume the route", func() bool { return !e.quiesceStatus().Quiesced })
	if n := clients.Load(); n != 2 {
		t.Errorf("%d client requests reached the upstream; want none while quiesced", n)
	}
	mustOK(t, e.get("/accounts/1"))
}
