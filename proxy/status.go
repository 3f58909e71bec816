package proxy

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/fleetbreaker"
	"github.com/holdfast-dev/holdfast/internal/globalrate"
	"github.com/holdfast-dev/holdfast/retry"
	"github.com/holdfast-dev/holdfast/upstream"
)

// Status is a snapshot of a running proxy for the admin API, the status page
// and metrics: its routes in match order and its upstreams by name. It encodes
// as JSON with snake_case keys.
type Status struct {
	Routes    []RouteStatus    `json:"routes"`
	Upstreams []UpstreamStatus `json:"upstreams"`
}

// RouteStatus describes one route: where it sends requests and which
// policies it applies. Routes keep no traffic counts of their own; those come
// from [Options].OnRequest.
type RouteStatus struct {
	Name string `json:"name"`
	// Match is a short, human-readable form of the route's match, such as
	// "GET,HEAD /catalog*". Header conditions show their names only.
	Match string `json:"match"`
	// Targets are the upstreams the route sends to, with their weights (1
	// for a single upstream).
	Targets []RouteTarget `json:"targets"`
	// TimeoutSeconds bounds the whole request, retries included.
	TimeoutSeconds float64 `json:"timeout_seconds"`
	// Attempts is the most attempts a retryable request gets, the first
	// included.
	Attempts int `json:"attempts"`
	// Hedge, RateLimit, Fallback and Fault report which optional policies
	// the route has.
	Hedge     bool `json:"hedge"`
	RateLimit bool `json:"rate_limit"`
	Fallback  bool `json:"fallback"`
	Fault     bool `json:"fault"`
	// RateLimitKeys is how many rate-limit buckets the route holds now (1
	// for a route-wide limit once used); 0 without a rate limit. A global
	// limit's buckets are in Redis: this counts those of its local
	// fallback.
	RateLimitKeys int `json:"rate_limit_keys,omitempty"`
	// RateLimitScope is the rate limit's scope, local or global; "" without
	// a rate limit.
	RateLimitScope string `json:"rate_limit_scope,omitempty"`
	// RateLimitRedis is a global rate limit's state in Redis; nil for a
	// local one.
	RateLimitRedis *RedisLimitStatus `json:"rate_limit_redis,omitempty"`
	// Vote is a vote route's voters and verdicts; nil for another route.
	Vote *VoteStatus `json:"vote,omitempty"`
	// Canary is a canary route's rollout: state, step, weight and the
	// judgment of every step so far; nil for another route.
	Canary *CanaryStatus `json:"canary,omitempty"`
	// Checks are the route's response checks and their violations; nil
	// for a route without checks.
	Checks *ChecksStatus `json:"checks,omitempty"`
	// Shadow is a shadow route's comparisons; nil without shadow.
	Shadow *ShadowStatus `json:"shadow,omitempty"`
	// Quiesce is the route's quiesce state; nil without a quiesce block.
	Quiesce *QuiesceStatus `json:"quiesce,omitempty"`
	// Durable is a durable route's queue (durable_admin.go); nil for
	// another route.
	Durable *DurableStatus `json:"durable,omitempty"`
}

// RedisLimitStatus is a global rate limit's dealings with Redis.
type RedisLimitStatus struct {
	// Degraded is true while Redis fails or is slow: the route decides by
	// OnError, and asks Redis again after RetryInSeconds.
	Degraded       bool    `json:"degraded"`
	RetryInSeconds float64 `json:"retry_in_seconds,omitempty"`
	// OnError is how the route decides meanwhile: local, allow or deny.
	OnError string `json:"on_error"`
	// Errors counts the route's calls to Redis that failed or timed out;
	// Fallbacks its decisions made by OnError (those calls' and the ones
	// that skipped Redis while it was failing).
	Errors    uint64 `json:"errors"`
	Fallbacks uint64 `json:"fallbacks"`
}

// RouteTarget is one upstream of a route.
type RouteTarget struct {
	Upstream string `json:"upstream"`
	Weight   int    `json:"weight"`
}

// UpstreamStatus is one upstream: its endpoints (from [upstream.Status],
// whose fields it embeds), and the policies that guard all of them together.
type UpstreamStatus struct {
	upstream.Status
	// Breaker is the circuit breaker's snapshot; nil without a breaker.
	Breaker *BreakerStatus `json:"breaker,omitempty"`
	// SharedBreaker is the breaker's dealings with its fleet; nil without
	// shared_breaker.
	SharedBreaker *fleetbreaker.Stats `json:"shared_breaker,omitempty"`
	// Concurrency is the concurrency limit's snapshot; nil without one.
	Concurrency *ConcurrencyStatus `json:"concurrency,omitempty"`
	// RetryBudget is the upstream's shared retry budget.
	RetryBudget BudgetStatus `json:"retry_budget"`
}

// BreakerStatus is a circuit breaker's snapshot: [breaker.Counts] as the
// breaker reports it (state, forced, calls, failures, failure_rate,
// slow_call_rate, consecutive_failures, trips, ...), with the remaining open
// time in seconds as well.
type BreakerStatus struct {
	breaker.Counts
	// RemainingSeconds is how long an open breaker stays open.
	RemainingSeconds float64 `json:"remaining_seconds"`
}

// ConcurrencyStatus is an upstream's concurrency limit.
type ConcurrencyStatus struct {
	// Kind is "fixed" (a bulkhead with a queue) or "adaptive".
	Kind string `json:"kind"`
	// Limit is the fixed limit, or the adaptive limit's current value.
	Limit    int `json:"limit"`
	InFlight int `json:"in_flight"`
	// Queued is how many calls wait for a slot (fixed limits only).
	Queued int `json:"queued"`
	// MinRTTSeconds is the adaptive limit's no-load latency estimate.
	MinRTTSeconds float64 `json:"min_rtt_seconds,omitempty"`
	// Probing reports an adaptive limit held low to re-measure MinRTT.
	Probing bool `json:"probing,omitempty"`
}

// BudgetStatus is the window of a retry budget, as the budget reports it.
type BudgetStatus = retry.BudgetStats

// Status returns a snapshot of the running config's routes and upstreams.
// It is safe to call at any time, from any goroutine; each part is read as
// the snapshot passes it, so counts that move with traffic may disagree
// slightly with each other.
func (p *Proxy) Status() Status {
	st := p.state.Load()
	now := time.Now()
	s := Status{
		Routes:    make([]RouteStatus, 0, len(st.routes)),
		Upstreams: make([]UpstreamStatus, 0, len(st.clusters)),
	}
	for _, r := range st.routes {
		s.Routes = append(s.Routes, r.status())
	}
	names := make([]string, 0, len(st.clusters))
	for name := range st.clusters {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		s.Upstreams = append(s.Upstreams, st.clusters[name].status(now))
	}
	return s
}

func (r *route) status() RouteStatus {
	rs := RouteStatus{
		Name:           r.name,
		Match:          matchString(r.cfg.Match.Methods, r.cfg.Match.Path, r.cfg.Match.PathPrefix, r.cfg.Match.PathRegex, len(r.cfg.Match.Headers)),
		TimeoutSeconds: r.cfg.Timeout.Seconds(),
		Attempts:       r.retryCfg.Attempts,
		Hedge:          r.hedger != nil,
		RateLimit:      r.limiter != nil,
		Fallback:       r.fallback != nil,
		Fault:          r.fault != nil,
	}
	for _, t := range r.targets {
		rs.Targets = append(rs.Targets, RouteTarget{Upstream: t.cluster.name, Weight: t.weight})
	}
	if r.limiter != nil {
		rs.RateLimitKeys = r.limiter.Len()
		rs.RateLimitScope = string(config.ScopeLocal)
		if r.cfg.RateLimit.Global() {
			rs.RateLimitScope = string(config.ScopeGlobal)
		}
	}
	if r.vote != nil {
		rs.Vote = r.vote.status()
	}
	if r.canary != nil {
		rs.Canary = r.canary.status()
	}
	if r.checks != nil {
		rs.Checks = r.checks.status()
	}
	if r.shadow != nil {
		rs.Shadow = r.shadow.status(r.name)
	}
	if r.quiesce != nil {
		rs.Quiesce = r.quiesce.status()
	}
	if r.durable != nil {
		rs.Durable = r.durable.queueStatus()
	}
	if g, ok := r.limiter.(*globalrate.Limiter); ok {
		s := g.Stats()
		rs.RateLimitRedis = &RedisLimitStatus{
			Degraded:       s.Degraded,
			RetryInSeconds: s.RetryIn.Seconds(),
			OnError:        s.OnError.String(),
			Errors:         s.Errors,
			Fallbacks:      s.Fallbacks,
		}
	}
	return rs
}

// matchString renders a route's match for people: methods, then the path
// condition, then how many header conditions there are.
func matchString(methods []string, path, prefix, regex string, headers int) string {
	var b strings.Builder
	if len(methods) > 0 {
		b.WriteString(strings.Join(methods, ","))
		b.WriteByte(' ')
	}
	switch {
	case path != "":
		b.WriteString(path)
	case prefix != "":
		b.WriteString(prefix + "*")
	case regex != "":
		b.WriteString("~" + regex)
	default:
		b.WriteString("*")
	}
	if headers > 0 {
		b.WriteString(" +" + strconv.Itoa(headers) + " header")
		if headers > 1 {
			b.WriteString("s")
		}
	}
	return b.String()
}

func (c *cluster) status(now time.Time) UpstreamStatus {
	us := UpstreamStatus{Status: c.up.Status()}
	if c.breaker != nil {
		us.Breaker = breakerStatus(c.breaker.CountsAt(now))
	}
	if c.fleet != nil {
		fs := c.fleet.Stats()
		us.SharedBreaker = &fs
	}
	switch {
	case c.adaptive != nil:
		us.Concurrency = &ConcurrencyStatus{
			Kind:          "adaptive",
			Limit:         c.adaptive.Limit(),
			InFlight:      c.adaptive.InFlight(),
			MinRTTSeconds: c.adaptive.MinRTT().Seconds(),
			Probing:       c.adaptive.Probing(),
		}
	case c.bulkhead != nil:
		us.Concurrency = &ConcurrencyStatus{
			Kind:     "fixed",
			Limit:    c.bulkhead.Limit(),
			InFlight: c.bulkhead.InFlight(),
			Queued:   c.bulkhead.Queued(),
		}
	}
	us.RetryBudget = c.budget.StatsAt(now)
	return us
}

func breakerStatus(c breaker.Counts) *BreakerStatus {
	return &BreakerStatus{Counts: c, RemainingSeconds: c.Remaining.Seconds()}
}
