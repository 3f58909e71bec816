package config

import (
	"net/url"
	"strings"
	"time"
)

// Defaults and bounds of a route's quiesce block.
const (
	// DefaultQuiesceAfter is quiesce.after: how long a route may give no
	// correct answer before it quiesces.
	DefaultQuiesceAfter = 10 * time.Second
	// DefaultQuiesceMinRequests is quiesce.min_requests: the requests
	// without a correct answer, at least, that quiesce a route.
	DefaultQuiesceMinRequests = 3
	// DefaultQuiesceProbeInterval is quiesce.probe_interval: while
	// quiesced, one request per interval is let through to try the
	// upstreams.
	DefaultQuiesceProbeInterval = time.Second
	// DefaultQuiesceRecoveryProbes is quiesce.recovery_probes: the tried
	// requests in a row with a correct answer that resume the route.
	DefaultQuiesceRecoveryProbes = 3
	// DefaultQuiesceWebhookTimeout is quiesce.webhook_timeout.
	DefaultQuiesceWebhookTimeout = 2 * time.Second
	// maxQuiesceCount bounds min_requests and recovery_probes, as the
	// guard package bounds its counts.
	maxQuiesceCount = 10_000
)

// Quiesce is a route's quiesce block: when the route has given no correct
// answer for After (every answer of every endpoint broke the route's
// checks, or a vote route had no quorum), with at least MinRequests such
// requests and none correct in between, the route quiesces. It then
// answers 503 with reason quiesced at once (or its fallback) instead of
// passing on bad answers, reports why to the log, the admin API and
// Webhook, and lets one request per ProbeInterval through to try the
// upstreams; RecoveryProbes of those in a row with a correct answer resume
// it. It needs checks or vote: nothing else tells a wrong answer.
type Quiesce struct {
	// After is how long the route must have given no correct answer.
	// Default 10s.
	After time.Duration `yaml:"after" json:"after"`
	// MinRequests is how many requests without a correct answer, at
	// least, that takes. Default 3; in [1, 10000].
	MinRequests int `yaml:"min_requests" json:"min_requests"`
	// ProbeInterval is how often a quiesced route lets one request through
	// to the upstreams. Default 1s.
	ProbeInterval time.Duration `yaml:"probe_interval" json:"probe_interval"`
	// RecoveryProbes is how many let-through requests in a row must get a
	// correct answer to resume the route. Default 3; in [1, 10000].
	RecoveryProbes int `yaml:"recovery_probes" json:"recovery_probes"`
	// Webhook is an http:// or https:// URL that gets a POST with the JSON
	// report when the route quiesces and when it resumes. Default none.
	Webhook string `yaml:"webhook" json:"webhook,omitempty"`
	// WebhookTimeout bounds each POST to Webhook. Default 2s.
	WebhookTimeout time.Duration `yaml:"webhook_timeout" json:"webhook_timeout"`
	// ProbePath, when set, is a path the proxy GETs through the route (its
	// upstream, checks and all) every ProbeInterval while the route is
	// quiesced, in place of trial requests: no client request reaches the
	// upstreams until RecoveryProbes probes in a row get a correct answer,
	// and the route resumes without traffic. Not for a vote route. Default
	// none: one client request per ProbeInterval is the trial.
	ProbePath string `yaml:"probe_path" json:"probe_path,omitempty"`
	// FailReadyz makes the admin API's /readyz fail while the route is
	// quiesced, so that a load balancer sends its traffic to another
	// instance. Default false: one quiesced route leaves the others'
	// traffic where it is (every instance would likely see the same broken
	// upstream, and all failing readiness at once is an outage).
	FailReadyz bool `yaml:"fail_readyz" json:"fail_readyz,omitempty"`
}

// QuiesceDefaults is the top-level quiesce block: the webhook of every
// route's quiesce block that names none.
type QuiesceDefaults struct {
	// Webhook is the routes' quiesce.webhook when they leave it out.
	// Default none.
	Webhook string `yaml:"webhook" json:"webhook,omitempty"`
	// WebhookTimeout is the routes' quiesce.webhook_timeout when they
	// leave it out. Default 2s.
	WebhookTimeout time.Duration `yaml:"webhook_timeout" json:"webhook_timeout"`
}

func (c *Config) applyQuiesceDefaults() {
	if c.Quiesce.WebhookTimeout == 0 {
		c.Quiesce.WebhookTimeout = DefaultQuiesceWebhookTimeout
	}
	for _, r := range c.Routes {
		if r == nil || r.Quiesce == nil {
			continue
		}
		q := r.Quiesce
		if q.Webhook == "" {
			q.Webhook = c.Quiesce.Webhook
		}
		if q.After == 0 {
			q.After = DefaultQuiesceAfter
		}
		if q.MinRequests == 0 {
			q.MinRequests = DefaultQuiesceMinRequests
		}
		if q.ProbeInterval == 0 {
			q.ProbeInterval = DefaultQuiesceProbeInterval
		}
		if q.RecoveryProbes == 0 {
			q.RecoveryProbes = DefaultQuiesceRecoveryProbes
		}
		if q.WebhookTimeout == 0 {
			q.WebhookTimeout = c.Quiesce.WebhookTimeout
		}
	}
}

// validateQuiesce checks the quiesce block of the route at p.
func validateQuiesce(errs *errorList, p string, r *Route) {
	q := r.Quiesce
	p += ".quiesce"
	if len(r.Checks) == 0 && r.Vote == nil {
		errs.add(p, "needs checks or vote: without them no answer is known to be wrong")
	}
	if q.After <= 0 {
		errs.add(p+".after", "must be positive, got %s", q.After)
	}
	if q.MinRequests < 1 || q.MinRequests > maxQuiesceCount {
		errs.add(p+".min_requests", "must be in [1, %d], got %d", maxQuiesceCount, q.MinRequests)
	}
	if q.ProbeInterval <= 0 {
		errs.add(p+".probe_interval", "must be positive, got %s", q.ProbeInterval)
	}
	if q.RecoveryProbes < 1 || q.RecoveryProbes > maxQuiesceCount {
		errs.add(p+".recovery_probes", "must be in [1, %d], got %d", maxQuiesceCount, q.RecoveryProbes)
	}
	if q.ProbePath != "" {
		switch {
		case !strings.HasPrefix(q.ProbePath, "/"):
			errs.add(p+".probe_path", "must start with /, got %q", q.ProbePath)
		case !validRequestURI(q.ProbePath):
			errs.add(p+".probe_path", "must be a path with an optional query, got %q", q.ProbePath)
		case r.Vote != nil:
			errs.add(p+".probe_path", "a vote route is probed by trial requests: leave probe_path out")
		}
	}
	validateWebhook(errs, p, q.Webhook, q.WebhookTimeout)
}

// validateQuiesceDefaults checks the top-level quiesce block.
func (c *Config) validateQuiesceDefaults(errs *errorList) {
	validateWebhook(errs, "quiesce", c.Quiesce.Webhook, c.Quiesce.WebhookTimeout)
}

// validateWebhook checks the webhook and webhook_timeout of the block at p.
func validateWebhook(errs *errorList, p, webhook string, timeout time.Duration) {
	if webhook != "" {
		u, err := url.Parse(webhook)
		switch {
		case err != nil:
			errs.add(p+".webhook", "must be a URL, got %q", redact(webhook))
		case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
			errs.add(p+".webhook", "must be an http:// or https:// URL, got %q", u.Redacted())
		}
	}
	if timeout <= 0 {
		errs.add(p+".webhook_timeout", "must be positive, got %s", timeout)
	}
}

func validRequestURI(s string) bool {
	_, err := url.ParseRequestURI(s)
	return err == nil
}
