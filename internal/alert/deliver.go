package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Receiver is where notifications go: an Alertmanager or a webhook, told
// about the tiers it lists.
type Receiver struct {
	// Name identifies the receiver in metrics and logs.
	Name string
	// Alertmanager is an Alertmanager's base URL; alerts are POSTed to
	// its /api/v2/alerts. Exactly one of Alertmanager and Webhook.
	Alertmanager string
	// Webhook is a URL each notification is POSTed to as one JSON
	// [WebhookPayload].
	Webhook string
	// Tiers are the tiers the receiver is told about.
	Tiers []string
}

// Stats are a receiver's delivery counts since it started.
type Stats struct {
	Receiver string
	// Sent counts notifications the receiver accepted (a 2xx).
	Sent uint64
	// Failed counts notifications dropped after MaxAttempts sends that
	// failed; Overflow those dropped because the queue was full.
	Failed   uint64
	Overflow uint64
	// Retries counts sends after the first of a notification.
	Retries uint64
	// Queued is how many wait in the queue now.
	Queued int
}

// sender delivers one receiver's notifications from a bounded queue.
type sender struct {
	rcv    Receiver
	tiers  map[string]bool
	url    string
	queue  chan Notification
	client *http.Client
	cfg    *Config

	sent, failed, overflow, retries atomic.Uint64
}

func newSender(r Receiver, cfg *Config) *sender {
	s := &sender{rcv: r, tiers: map[string]bool{}, queue: make(chan Notification, cfg.Queue), client: cfg.Client, cfg: cfg}
	for _, t := range r.Tiers {
		s.tiers[t] = true
	}
	if r.Alertmanager != "" {
		s.url = strings.TrimSuffix(r.Alertmanager, "/") + "/api/v2/alerts"
	} else {
		s.url = r.Webhook
	}
	return s
}

// wants reports whether the receiver is told about n.
func (s *sender) wants(n Notification) bool {
	if !s.tiers[n.Tier] {
		return false
	}
	// A refresh only keeps an alert alive in Alertmanager.
	return n.Kind != KindRefresh || s.rcv.Alertmanager != ""
}

// enqueue queues n without waiting: a full queue drops it.
func (s *sender) enqueue(n Notification) {
	select {
	case s.queue <- n:
	default:
		s.overflow.Add(1)
		s.cfg.Logger.Warn("alert dropped: receiver queue full", "receiver", s.rcv.Name, "alert", n.Name(), "slo", n.SLO, "route", n.Route, "kind", string(n.Kind))
	}
}

// run sends what the queue holds until ctx ends.
func (s *sender) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-s.queue:
			s.deliver(ctx, n)
		}
	}
}

// deliver sends n, retrying with backoff up to MaxAttempts.
func (s *sender) deliver(ctx context.Context, n Notification) {
	body, err := s.encode(n, time.Now())
	if err != nil { // plain structs of strings and numbers: never
		s.failed.Add(1)
		return
	}
	var wait time.Duration
	for attempt := 1; ; attempt++ {
		err := s.post(ctx, body)
		if err == nil {
			s.sent.Add(1)
			return
		}
		if attempt >= s.cfg.MaxAttempts || ctx.Err() != nil {
			s.failed.Add(1)
			s.cfg.Logger.Warn("alert dropped: receiver failed", "receiver", s.rcv.Name, "alert", n.Name(), "slo", n.SLO, "route", n.Route,
				"kind", string(n.Kind), "attempts", attempt, "err", err.Error())
			return
		}
		wait = s.cfg.Backoff.Delay(attempt, wait, rand.Float64())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			s.failed.Add(1)
			return
		case <-t.C:
		}
		s.retries.Add(1)
	}
}

func (s *sender) post(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("alert: %s answered %s", s.rcv.Name, resp.Status)
	}
	return nil
}

func (s *sender) stats() Stats {
	return Stats{Receiver: s.rcv.Name, Sent: s.sent.Load(), Failed: s.failed.Load(), Overflow: s.overflow.Load(),
		Retries: s.retries.Load(), Queued: len(s.queue)}
}

func (s *sender) encode(n Notification, now time.Time) ([]byte, error) {
	if s.rcv.Alertmanager != "" {
		return json.Marshal([]AlertmanagerAlert{alertmanagerAlert(n, now, s.cfg.ResendInterval)})
	}
	return json.Marshal(webhookPayload(n))
}

// AlertmanagerAlert is one alert of Alertmanager's v2 API (POST
// /api/v2/alerts takes a list of them).
type AlertmanagerAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// alertmanagerAlert is n as Alertmanager takes it, sent at now: a firing
// alert ends four resends ahead (so that Alertmanager resolves the alerts
// of a proxy that stopped), a resolved one at now.
func alertmanagerAlert(n Notification, now time.Time, resend time.Duration) AlertmanagerAlert {
	a := AlertmanagerAlert{Labels: n.Labels(), Annotations: annotations(n), StartsAt: n.Since.UTC()}
	if n.Kind == KindResolved {
		a.EndsAt = now.UTC()
	} else {
		a.EndsAt = now.Add(4 * resend).UTC()
	}
	return a
}

// annotations are n's numbers and context as Alertmanager's annotations,
// which are strings: a summary, a description and the context as JSON.
func annotations(n Notification) map[string]string {
	ctx, _ := json.Marshal(n.Context)
	return map[string]string{
		"summary":     Summary(n),
		"description": Describe(n),
		"context":     string(ctx),
	}
}

// WebhookPayload is the JSON a webhook receives: one notification.
type WebhookPayload struct {
	Version string `json:"version"`
	// Status is firing (for firing and reminder) or resolved.
	Status string            `json:"status"`
	Kind   Kind              `json:"kind"`
	Labels map[string]string `json:"labels"`
	// Summary and Description say it for people.
	Summary     string    `json:"summary"`
	Description string    `json:"description"`
	StartsAt    time.Time `json:"starts_at"`
	// EndsAt is the resolution's time; zero while it fires.
	EndsAt time.Time `json:"ends_at,omitzero"`
	// The objective's numbers, for an objective's alert.
	Threshold            float64 `json:"threshold,omitempty"`
	LongWindow           string  `json:"long_window,omitempty"`
	ShortWindow          string  `json:"short_window,omitempty"`
	LongBurnRate         float64 `json:"long_burn_rate"`
	ShortBurnRate        float64 `json:"short_burn_rate"`
	ErrorBudgetRemaining float64 `json:"error_budget_remaining"`
	// Canary is the rollout, for a canary's alert.
	Canary  *Canary `json:"canary,omitempty"`
	Context Context `json:"context"`
}

func webhookPayload(n Notification) WebhookPayload {
	p := WebhookPayload{Version: "1", Status: "firing", Kind: n.Kind, Labels: n.Labels(),
		Summary: Summary(n), Description: Describe(n), StartsAt: n.Since.UTC(),
		Context: n.Context}
	if n.Canary != "" {
		p.Canary = n.Rollout
	} else {
		p.Threshold, p.LongWindow, p.ShortWindow = n.Threshold, n.Long.String(), n.Short.String()
		p.LongBurnRate, p.ShortBurnRate, p.ErrorBudgetRemaining = n.LongBurnRate, n.ShortBurnRate, n.ErrorBudgetRemaining
	}
	if n.Kind == KindResolved {
		p.Status, p.EndsAt = "resolved", n.At.UTC()
	}
	return p
}

// Summary is a notification's one line.
func Summary(n Notification) string {
	if n.Canary != "" {
		return canarySummary(n)
	}
	if n.Kind == KindResolved {
		return fmt.Sprintf("%s resolved: SLO %s on route %s no longer burns its error budget above %g×", n.Tier, n.SLO, n.Route, n.Threshold)
	}
	return fmt.Sprintf("%s: SLO %s on route %s burns its error budget at %.3g× over %s and %.3g× over %s (threshold %g×)",
		n.Tier, n.SLO, n.Route, n.LongBurnRate, n.Long, n.ShortBurnRate, n.Short, n.Threshold)
}

// canarySummary is a canary alert's one line.
func canarySummary(n Notification) string {
	r := n.Rollout
	if r == nil {
		r = &Canary{Route: n.Route, Candidate: n.Canary}
	}
	if n.Kind == KindResolved {
		state := r.State
		if state == "" || r.RolledBack {
			state = "gone from the config"
		}
		return fmt.Sprintf("%s resolved: the canary of route %s (candidate %s) is no longer rolled back: %s", n.Tier, n.Route, n.Canary, strings.ReplaceAll(state, "_", " "))
	}
	return fmt.Sprintf("%s: the canary of route %s rolled back candidate %s at step %d (%d%%): %s", n.Tier, n.Route, n.Canary, r.Step, r.StepWeight, r.Reason)
}

// Describe is a notification's context for people, a line per fact.
func Describe(n Notification) string {
	var b strings.Builder
	if r := n.Rollout; r != nil {
		fmt.Fprintf(&b, "canary: candidate %s against baseline %s, %s at step %d, candidate weight %d%%\n", r.Candidate, r.Baseline, r.State, r.Step, r.Weight)
		if r.Reason != "" {
			fmt.Fprintf(&b, "judgment: %s\n", r.Reason)
		}
	} else {
		fmt.Fprintf(&b, "error budget remaining: %.1f%%\n", n.ErrorBudgetRemaining*100)
	}
	c := n.Context
	for _, u := range c.Upstreams {
		fmt.Fprintf(&b, "upstream %s (weight %d): %d/%d endpoints usable", u.Name, u.Weight, u.Usable, u.Endpoints)
		if u.Breaker != "" {
			fmt.Fprintf(&b, ", breaker %s", u.Breaker)
		}
		if u.Panic {
			b.WriteString(", panic mode")
		}
		b.WriteByte('\n')
	}
	for _, e := range c.Endpoints {
		fmt.Fprintf(&b, "endpoint %s of %s: %s\n", e.Address, e.Upstream, e.State)
	}
	for _, q := range c.Quarantined {
		fmt.Fprintf(&b, "voter %s: quarantined\n", q)
	}
	if len(c.LocalReplies) > 0 {
		b.WriteString("local replies:")
		for _, r := range c.LocalReplies {
			fmt.Fprintf(&b, " %s %d", r.Reason, r.Count)
		}
		b.WriteByte('\n')
	}
	for _, r := range c.Reloads {
		if r.OK {
			fmt.Fprintf(&b, "reload at %s: ok\n", r.Time.UTC().Format(time.RFC3339))
		} else {
			fmt.Fprintf(&b, "reload at %s: failed: %s\n", r.Time.UTC().Format(time.RFC3339), r.Error)
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}
