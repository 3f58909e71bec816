package alert

import (
	"time"
)

// Kind is what a notification tells.
type Kind string

// The kinds of notification.
const (
	// KindFiring starts an episode: the tier's alert began to fire.
	KindFiring Kind = "firing"
	// KindReminder says an episode still lasts, RepeatInterval after the
	// last notification a person got.
	KindReminder Kind = "reminder"
	// KindRefresh keeps a firing alert alive in Alertmanager; webhooks do
	// not get it.
	KindRefresh Kind = "refresh"
	// KindResolved ends an episode.
	KindResolved Kind = "resolved"
)

// Defaults of [Config].
const (
	DefaultInterval       = 10 * time.Second
	DefaultRepeatInterval = 4 * time.Hour
	DefaultResendInterval = time.Minute
	DefaultQueue          = 64
	DefaultMaxAttempts    = 5
	DefaultTimeout        = 5 * time.Second
)

// Name is the alertname of a tier's alert: the name `holdfast rules` gives
// the same alert in Prometheus, so that Alertmanager groups and inhibits the
// proxy's alerts and Prometheus's alike.
func Name(tier string) string { return "HoldfastSLOBurn" + tier }

// CanaryAlertName is the alertname of a canary's rollback: it fires while a
// route's rollout stands rolled back because a step failed its judgment.
const CanaryAlertName = "HoldfastCanaryRolledBack"

// DefaultCanaryTier is the tier of a canary's rollback alert by default:
// important, not urgent, since the rollback already protects the traffic.
const DefaultCanaryTier = "P1"

// Severity is the severity label of a tier's alert: critical for P0,
// warning for P1, info for any other tier.
func Severity(tier string) string {
	switch tier {
	case "P0":
		return "critical"
	case "P1":
		return "warning"
	}
	return "info"
}

// Alert identifies an alert: one objective's tier, or (with Canary set and
// SLO empty) the rollback of a route's canary.
type Alert struct {
	SLO   string `json:"slo,omitempty"`
	Route string `json:"route"`
	Tier  string `json:"tier"`
	// Canary is the candidate upstream of a canary's rollback alert.
	Canary string `json:"canary,omitempty"`
}

// Name is the alert's alertname: [Name] of its tier for an objective's,
// [CanaryAlertName] for a canary's.
func (a Alert) Name() string {
	if a.Canary != "" {
		return CanaryAlertName
	}
	return Name(a.Tier)
}

// Canary is a canary route's rollout as the alerts judge it, read from the
// proxy at each evaluation.
type Canary struct {
	Route     string `json:"route"`
	Baseline  string `json:"baseline"`
	Candidate string `json:"candidate"`
	// State is the rollout's (running, paused, promoted, rolled_back,
	// aborted); Step and Weight its current step's index and the
	// candidate's share in percent.
	State  string `json:"state"`
	Step   int    `json:"step"`
	Weight int    `json:"weight"`
	// StepWeight is the weight of the step that was judged last.
	StepWeight int `json:"step_weight"`
	// Reason is why the rollout ended, with the numbers of the judgment.
	Reason string `json:"reason,omitempty"`
	// RolledBack is whether a step failed its judgment and the rollout
	// stands rolled back: the alert fires while it does. An abort by hand
	// is an operator's decision and pages no one.
	RolledBack bool `json:"rolled_back"`
}

// Firing is an alert that fires, since the start of its episode.
type Firing struct {
	Alert
	Since time.Time `json:"since"`
}

// Change is what [Machine.Step] decides for one alert at one evaluation.
type Change struct {
	Alert
	Kind Kind `json:"kind"`
	// At is the evaluation's time; Since is the episode's start.
	At    time.Time `json:"at"`
	Since time.Time `json:"since"`
	// Threshold, LongBurnRate and ShortBurnRate are the tier's numbers at
	// At (at the last evaluation the tier fired, for KindResolved of an
	// objective a reload removed).
	Threshold     float64       `json:"threshold"`
	Long          time.Duration `json:"-"`
	Short         time.Duration `json:"-"`
	LongBurnRate  float64       `json:"long_burn_rate"`
	ShortBurnRate float64       `json:"short_burn_rate"`
	// ErrorBudgetRemaining is the objective's at At.
	ErrorBudgetRemaining float64 `json:"error_budget_remaining"`
	// Rollout is the canary's rollout at At, for a canary's alert.
	Rollout *Canary `json:"rollout,omitempty"`
}

// Context is what explains an alert: the state of the route and of what it
// depends on when the notification was made. The proxy's admin package
// gathers it (admin.RootCause).
type Context struct {
	Route string `json:"route"`
	// Upstreams are the route's upstreams, with their weights.
	Upstreams []Upstream `json:"upstreams"`
	// Endpoints lists the endpoints of those upstreams that are not fully
	// in service: ejected, on probation or failing health checks.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// Quarantined are the vote route's voters a guard has silenced.
	Quarantined []string `json:"quarantined,omitempty"`
	// LocalReplies are the route's most frequent local-reply reasons since
	// the process started, most first.
	LocalReplies []ReasonCount `json:"local_replies,omitempty"`
	// Reloads are the latest config reloads, newest first.
	Reloads []Reload `json:"reloads,omitempty"`
}

// Upstream is one upstream of a route, as an alert's context shows it.
type Upstream struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"`
	// Breaker is the circuit breaker's state (closed, open, half_open);
	// "" without a breaker.
	Breaker string `json:"breaker,omitempty"`
	// Usable and Endpoints count its endpoints that take traffic and all
	// of them.
	Usable    int  `json:"usable"`
	Endpoints int  `json:"endpoints"`
	Panic     bool `json:"panic,omitempty"`
}

// Endpoint is an endpoint out of service, or partly.
type Endpoint struct {
	Upstream string `json:"upstream"`
	Address  string `json:"address"`
	// State is "ejected", "probation" or "unhealthy".
	State string `json:"state"`
	// Until is when an ejection ends; zero otherwise.
	Until time.Time `json:"until,omitzero"`
}

// ReasonCount is how many local replies gave a reason.
type ReasonCount struct {
	Reason string `json:"reason"`
	Count  int64  `json:"count"`
}

// Reload is one config reload.
type Reload struct {
	Time  time.Time `json:"time"`
	OK    bool      `json:"ok"`
	Error string    `json:"error,omitempty"`
}

// Notification is a change with its context, as a receiver is told it.
type Notification struct {
	Change
	Instance string  `json:"instance"`
	Context  Context `json:"context"`
}

// Labels are the notification's identifying labels: alertname, slo,
// route, tier, severity and instance. They are the same for every
// notification of an alert, so that Alertmanager groups, deduplicates and
// inhibits by them across a fleet.
func (n Notification) Labels() map[string]string {
	if n.Canary != "" {
		return map[string]string{
			"alertname": CanaryAlertName,
			"route":     n.Route,
			"candidate": n.Canary,
			"tier":      n.Tier,
			"severity":  Severity(n.Tier),
			"instance":  n.Instance,
		}
	}
	return map[string]string{
		"alertname": Name(n.Tier),
		"slo":       n.SLO,
		"route":     n.Route,
		"tier":      n.Tier,
		"severity":  Severity(n.Tier),
		"instance":  n.Instance,
	}
}
