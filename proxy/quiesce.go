package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/guard"
	"github.com/holdfast-dev/holdfast/retry"
)

// maxQuiesceSamples bounds the samples a quiesce report carries.
const maxQuiesceSamples = 5

// maxWebhooksInFlight bounds a route's webhook POSTs in flight; a report
// past it is dropped and counted.
const maxWebhooksInFlight = 4

// quiesceRoute is the live state of a route's quiesce block. The decision
// to stop and to resume is the library's guard's: the route feeds it the
// streak of requests without a correct answer (RecordAt, once the streak
// is long enough), asks it to admit each request (Allow: refused while
// quiesced, but for one trial per probe_interval), and tells it how each
// admitted request went (Done). The guard's report hook is what reports.
type quiesceRoute struct {
	cfg    *config.Quiesce
	route  string
	guard  *guard.Guard[struct{}]
	kind   string // what judges the answers: checks or vote
	logger *slog.Logger
	bg     *background
	client *http.Client // the webhook's

	quiesced, resumed                             atomic.Uint64
	webhooksSent, webhooksFailed, webhooksDropped atomic.Uint64
	webhookSlots                                  chan struct{}

	// mu guards the streak (since, requests, samples) and last.
	mu       sync.Mutex
	since    time.Time // the streak's first request without a correct answer; zero without one
	requests int
	samples  []QuiesceSample
	last     *QuiesceReport // the current quiesce's report, or the last one's
}

// quiesceError is the violation a quiesce feeds its guard: the report.
type quiesceError struct{ report *QuiesceReport }

func (e *quiesceError) Error() string {
	return "proxy: route " + e.report.Route + " gave no correct answer for " + e.report.For + ": " + e.report.Invariant
}

// errNoCorrectAnswer is a trial request's outcome when it got no correct
// answer: a failed trial.
var errNoCorrectAnswer = errors.New("proxy: no correct answer")

// newQuiesceRoute builds the quiesce state of the route rc; probe, when not
// nil, is quiesce.probe_path's probe (quiesceProbe), which the guard runs
// while the route is quiesced, in place of trial requests.
func newQuiesceRoute(rc *config.Route, l holdfast.Listener, logger *slog.Logger, bg *background, probe func(context.Context) error) (*quiesceRoute, error) {
	qc := rc.Quiesce
	q := &quiesceRoute{cfg: qc, route: rc.Name, kind: "checks", logger: logger, bg: bg,
		client: &http.Client{Timeout: qc.WebhookTimeout}, webhookSlots: make(chan struct{}, maxWebhooksInFlight)}
	if rc.Vote != nil {
		q.kind = "vote"
	}
	g, err := guard.New(guard.Config[struct{}]{
		Name: rc.Name + "/quiesce",
		// The streak decides (observe); one violation fed is the verdict.
		Violations:     1,
		Window:         qc.After,
		ProbeInterval:  qc.ProbeInterval,
		RecoveryProbes: qc.RecoveryProbes,
		Probe:          probe,
		Listener:       l,
		OnReport:       q.onReport,
	})
	if err != nil {
		return nil, err
	}
	q.guard = g
	return q, nil
}

// QuiesceReport says why a route quiesced: what broke, since when, with
// samples of the answers and the endpoints that gave them. It goes to the
// log, [RouteStatus] and the route's webhook.
type QuiesceReport struct {
	Route string `json:"route"`
	// Kind is what judged the answers: checks (the route's response
	// checks) or vote (a vote route's quorum).
	Kind string `json:"kind"`
	// Invariant is what the last sample broke, such as
	// "checks[2] (json /balance min 0)", or "no quorum".
	Invariant string `json:"invariant"`
	// Since is the first request of the streak without a correct answer;
	// QuiescedAt when the route quiesced, For the time between; ResumedAt
	// when it resumed, nil while it is quiesced.
	Since      time.Time  `json:"since"`
	QuiescedAt time.Time  `json:"quiesced_at"`
	For        string     `json:"for"`
	ResumedAt  *time.Time `json:"resumed_at,omitempty"`
	// Requests is how many requests of the streak got no correct answer.
	Requests int `json:"requests"`
	// Samples are the streak's last requests, up to 5, oldest first;
	// Endpoints the endpoints (or, for a vote, the voters) in them.
	Samples   []QuiesceSample `json:"samples"`
	Endpoints []string        `json:"endpoints"`
}

// QuiesceSample is one request without a correct answer.
type QuiesceSample struct {
	At time.Time `json:"at"`
	// Endpoint is the endpoint that gave the last answer, for checks.
	Endpoint string `json:"endpoint,omitempty"`
	// Check is the check it broke, and Why what the answer had, for
	// checks; Vote is the disagreement, for a vote.
	Check string            `json:"check,omitempty"`
	Why   string            `json:"why,omitempty"`
	Vote  *VoteDisagreement `json:"vote,omitempty"`
}

// quiesceVerdict is what the handler learned of a request of a quiesced
// route besides its RequestInfo: the check the final answer broke.
type quiesceVerdict struct {
	ie       *invariantError
	endpoint string
}

// noteFailure keeps the failed outcome's broken check, if it has one; v may
// be nil (the route has no quiesce).
func (v *quiesceVerdict) noteFailure(o *outcome) {
	if v == nil {
		return
	}
	errors.As(o.err, &v.ie)
	if o.ep != nil {
		v.endpoint = o.ep.Address().Host
	}
}

// admit asks the guard to let a request of the route through; a refusal
// answers it with 503 quiesced, or the route's fallback.
func (p *Proxy) admitQuiesce(ctx context.Context, w http.ResponseWriter, rt *route, info *RequestInfo, local func(status int, reason, msg string, retryAfter time.Duration)) (guard.Admission[struct{}], bool) {
	adm, err := rt.quiesce.guard.Allow(ctx)
	if err == nil {
		return adm, true
	}
	if rt.fallsBackOn(ReasonQuiesced) {
		info.Status, info.Reason, info.Fallback = rt.fallback.Status, ReasonQuiesced, true
		writeFallback(w, rt, ReasonQuiesced)
		return adm, false
	}
	msg := "route " + rt.name + " is quiesced: it gave no correct answer"
	if rep, ok := rt.quiesce.report(); ok {
		msg += " for " + rep.For + " (" + rep.Invariant + ")"
	}
	var wait time.Duration
	if se, ok := errors.AsType[*guard.SilencedError](err); ok {
		wait = se.Wait
	}
	local(http.StatusServiceUnavailable, ReasonQuiesced, msg, wait)
	return adm, false
}

// done judges an admitted request once it is answered, and tells the
// guard: a correct answer (relayed, below 500) ends the streak and passes
// a trial; no correct answer (invariant_violation, no_quorum, even when
// the fallback answered) lengthens it, and quiesces the route once it has
// lasted quiesce.after with quiesce.min_requests; anything else (a
// timeout, an error status) says nothing of correctness, and fails only a
// trial.
func (q *quiesceRoute) done(ctx context.Context, adm guard.Admission[struct{}], v *quiesceVerdict, info *RequestInfo, rt *route) {
	now := time.Now()
	switch {
	case info.Reason == ReasonInvariantViolation || info.Reason == ReasonNoQuorum:
		adm.Done(errNoCorrectAnswer)
		q.observeBad(ctx, now, q.sample(now, v, info, rt))
	case info.Reason == "" && info.Status > 0 && info.Status < 500:
		adm.Done(nil)
		q.mu.Lock()
		q.since, q.requests, q.samples = time.Time{}, 0, nil
		q.mu.Unlock()
	default:
		adm.Done(errNoCorrectAnswer)
	}
}

// sample describes a request without a correct answer.
func (q *quiesceRoute) sample(now time.Time, v *quiesceVerdict, info *RequestInfo, rt *route) QuiesceSample {
	s := QuiesceSample{At: now}
	if info.Reason == ReasonNoQuorum && rt.vote != nil {
		rt.vote.mu.Lock()
		if n := len(rt.vote.recent); n > 0 && rt.vote.recent[n-1].Verdict == ReasonNoQuorum {
			d := rt.vote.recent[n-1]
			s.Vote = &d
		}
		rt.vote.mu.Unlock()
		return s
	}
	if v.ie != nil {
		s.Check, s.Why = v.ie.check, v.ie.why
	}
	s.Endpoint = v.endpoint
	return s
}

// observeBad adds a request without a correct answer to the streak, and
// quiesces the route when the streak is long enough.
func (q *quiesceRoute) observeBad(ctx context.Context, now time.Time, s QuiesceSample) {
	if q.guard.State() != guard.StateActive {
		return // a failed trial: the guard has counted it
	}
	q.mu.Lock()
	if q.since.IsZero() {
		q.since = now
	}
	q.requests++
	if len(q.samples) == maxQuiesceSamples {
		q.samples = slices.Delete(q.samples, 0, 1)
	}
	q.samples = append(q.samples, s)
	if q.requests < q.cfg.MinRequests || now.Sub(q.since) < q.cfg.After {
		q.mu.Unlock()
		return
	}
	rep := &QuiesceReport{
		Route: q.route, Kind: q.kind, Invariant: s.invariant(), Since: q.since, QuiescedAt: now,
		For: now.Sub(q.since).Round(time.Millisecond).String(), Requests: q.requests, Samples: q.samples, Endpoints: []string{},
	}
	for _, s := range rep.Samples {
		for _, e := range s.endpoints() {
			if !slices.Contains(rep.Endpoints, e) {
				rep.Endpoints = append(rep.Endpoints, e)
			}
		}
	}
	q.since, q.requests, q.samples = time.Time{}, 0, nil
	q.mu.Unlock()
	q.guard.RecordAt(ctx, now, &quiesceError{report: rep}) // silences it; onReport reports
}

func (s QuiesceSample) invariant() string {
	switch {
	case s.Vote != nil:
		return "no quorum"
	case s.Check != "":
		return s.Check
	}
	return "no answer passed the route's checks"
}

func (s QuiesceSample) endpoints() []string {
	if s.Vote != nil {
		return slices.Concat(s.Vote.Agreed, s.Vote.Dissenting, s.Vote.Failed, s.Vote.Missing)
	}
	if s.Endpoint != "" {
		return []string{s.Endpoint}
	}
	return nil
}

// onReport is the guard's report hook: it keeps the report, logs it and
// posts it to the webhook, without blocking the request that caused it.
func (q *quiesceRoute) onReport(r guard.Report) {
	qe, ok := errors.AsType[*quiesceError](r.Cause)
	if !ok {
		return
	}
	event := "quiesced"
	q.mu.Lock()
	if r.State == guard.StateSilenced {
		q.last = qe.report
	} else {
		event = "resumed"
		at := r.At
		cp := *qe.report
		cp.ResumedAt = &at
		q.last = &cp
	}
	rep := q.last
	q.mu.Unlock()
	if event == "quiesced" {
		q.quiesced.Add(1)
		if q.logger != nil {
			q.logger.Warn("route quiesced: no correct answer", "route", q.route, "kind", rep.Kind, "invariant", rep.Invariant,
				"since", rep.Since, "for", rep.For, "requests", rep.Requests, "endpoints", rep.Endpoints)
		}
	} else {
		q.resumed.Add(1)
		if q.logger != nil {
			q.logger.Info("route resumed: correct answers again", "route", q.route, "quiesced_at", rep.QuiescedAt, "probes", r.Probes)
		}
	}
	q.post(event, rep)
}

// QuiesceWebhookBody is what a quiesce webhook is POSTed: the event,
// quiesced or resumed, and the report.
type QuiesceWebhookBody struct {
	Event  string         `json:"event"`
	Report *QuiesceReport `json:"report"`
}

// post sends the report to the route's webhook on a goroutine the proxy
// owns, bounded by webhook_timeout; past maxWebhooksInFlight it is dropped.
func (q *quiesceRoute) post(event string, rep *QuiesceReport) {
	if q.cfg.Webhook == "" {
		return
	}
	body, err := json.Marshal(QuiesceWebhookBody{Event: event, Report: rep})
	if err != nil {
		return
	}
	select {
	case q.webhookSlots <- struct{}{}:
	default:
		q.webhooksDropped.Add(1)
		return
	}
	if !q.bg.goOwned(func(ctx context.Context) {
		defer func() { <-q.webhookSlots }()
		if err := q.send(ctx, body); err != nil {
			q.webhooksFailed.Add(1)
			if q.logger != nil {
				q.logger.Warn("quiesce webhook failed", "route", q.route, "event", event, "err", err.Error())
			}
			return
		}
		q.webhooksSent.Add(1)
	}) {
		<-q.webhookSlots
		q.webhooksDropped.Add(1)
	}
}

func (q *quiesceRoute) send(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.cfg.Webhook, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := q.client.Do(req)
	if err != nil {
		// Not the *url.Error itself: it quotes the URL, which may carry
		// the webhook's secret (config's redaction hides it in /config).
		if ue, ok := errors.AsType[*url.Error](err); ok {
			return ue.Err
		}
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 300 {
		return errors.New("status " + strconv.Itoa(resp.StatusCode))
	}
	return nil
}

// report returns the current quiesce's report, while quiesced.
func (q *quiesceRoute) report() (*QuiesceReport, bool) {
	if q.guard.State() != guard.StateSilenced {
		return nil, false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.last, q.last != nil
}

// QuiesceStatus is a route's quiesce state, in [RouteStatus]: whether it
// is quiesced, how often it quiesced and resumed, its webhook's sends,
// and the report of the current quiesce (or the last one, with its
// resumed_at).
type QuiesceStatus struct {
	Quiesced        bool           `json:"quiesced"`
	Quiesces        uint64         `json:"quiesces"`
	Resumes         uint64         `json:"resumes"`
	WebhooksSent    uint64         `json:"webhooks_sent"`
	WebhooksFailed  uint64         `json:"webhooks_failed"`
	WebhooksDropped uint64         `json:"webhooks_dropped"`
	Report          *QuiesceReport `json:"report,omitempty"`
}

func (q *quiesceRoute) status() *QuiesceStatus {
	s := &QuiesceStatus{
		Quiesced: q.guard.State() == guard.StateSilenced, Quiesces: q.quiesced.Load(), Resumes: q.resumed.Load(),
		WebhooksSent: q.webhooksSent.Load(), WebhooksFailed: q.webhooksFailed.Load(), WebhooksDropped: q.webhooksDropped.Load(),
	}
	q.mu.Lock()
	s.Report = q.last
	q.mu.Unlock()
	return s
}

// QuiescedRoutes names the routes of the running config that are quiesced
// now, in the config's order.
func (p *Proxy) QuiescedRoutes() []string {
	var out []string
	for _, r := range p.state.Load().routes {
		if r.quiesce != nil && r.quiesce.guard.State() == guard.StateSilenced {
			out = append(out, r.name)
		}
	}
	return out
}

// UnreadyRoutes names the quiesced routes whose quiesce.fail_readyz is
// set: while there is one, the instance is not ready.
func (p *Proxy) UnreadyRoutes() []string {
	var out []string
	for _, r := range p.state.Load().routes {
		if r.quiesce != nil && r.quiesce.cfg.FailReadyz && r.quiesce.guard.State() == guard.StateSilenced {
			out = append(out, r.name)
		}
	}
	return out
}

// quiesceProbe returns the probe of the route's quiesce.probe_path, or nil
// without one: a GET of the path through the route's upstream, one
// attempt, judged by the route's checks; a correct answer (one that
// passes them, below 500) is a pass.
func (p *Proxy) quiesceProbe(rt *route) (func(context.Context) error, error) {
	path := rt.cfg.Quiesce.ProbePath
	if path == "" {
		return nil, nil
	}
	u, err := url.ParseRequestURI(path)
	if err != nil {
		return nil, err
	}
	once, err := retry.New(retry.Config{Name: rt.name + "/quiesce", Attempts: 1})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		req := (&http.Request{Method: http.MethodGet, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}}).WithContext(ctx)
		x := &exchange{r: req, rt: rt, cl: rt.pick().cluster, retry: once,
			header: http.Header{"User-Agent": {"holdfast-quiesce-probe"}}, body: &reqBody{replayable: true}}
		o := p.forward(ctx, x)
		defer o.discard()
		switch {
		case o.kind != outcomeResponse:
			return errNoCorrectAnswer
		case o.resp.StatusCode >= 500:
			return errors.New("proxy: quiesce probe: status " + strconv.Itoa(o.resp.StatusCode))
		}
		return nil
	}, nil
}

// closeQuiesce stops the probe goroutine of r's quiesce, if it has one.
func (r *route) closeQuiesce() {
	if r.quiesce != nil {
		r.quiesce.guard.Close()
	}
}
