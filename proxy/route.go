package proxy

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/hedge"
	"github.com/holdfast-dev/holdfast/internal/globalrate"
	"github.com/holdfast-dev/holdfast/ratelimit"
	"github.com/holdfast-dev/holdfast/retry"
)

// route is the live state of one configured route.
type route struct {
	name    string
	cfg     *config.Route
	match   *matcher
	targets []target // one, or a weighted split
	total   int      // sum of target weights

	retryCfg  retry.Config // with defaults, as every target's retry has it
	retryOn   retryConditions
	maxReplay int64
	hedger    *hedge.Hedger
	limiter   limiter
	fallback  *config.Fallback
	fault     *config.Fault
	vote      *voteRoute    // a vote route's voters (vote.go); its targets are theirs
	checks    *invariants   // the response checks (invariant.go); nil without any
	canary    *canaryRoute  // the split's rollout (canary.go); nil without one
	shadow    *shadowRoute  // the shadow comparison (shadow.go); nil without one
	quiesce   *quiesceRoute // the quiesce state (quiesce.go); nil without a quiesce block
	durable   *durableQueue // a durable route's queue (durable.go)
	idem      *idemStore    // an idempotency block's records (idempotency.go)
}

// limiter is a route's rate limit: a [ratelimit.Keyed] for scope local, a
// [globalrate.Limiter] for scope global. TryAt is the one decision the
// handler asks, with the same meaning for both; Len is the buckets held in
// this process, for the status.
type limiter interface {
	TryAt(key string, now time.Time) (ok bool, wait time.Duration)
	Len() int
}

var (
	_ limiter = (*ratelimit.Keyed)(nil)
	_ limiter = (*globalrate.Limiter)(nil)
)

type target struct {
	cluster *cluster
	weight  int
	retry   *retry.Retry // the route's retry policy, with the budget for cluster
}

// retryConditions are a route's retry_on and retriable_statuses, as the
// retry policy's RetryIf asks them.
type retryConditions struct {
	on       config.RetryOn
	statuses map[int]bool
}

func newRoute(rc *config.Route, clusters map[string]*cluster, l holdfast.Listener) (*route, error) {
	m, err := compileMatch(rc.Match)
	if err != nil {
		return nil, err
	}
	r := &route{name: rc.Name, cfg: rc, match: m, fallback: rc.Fallback, fault: rc.Fault}
	if rc.Upstream != "" {
		r.targets = []target{{cluster: clusters[rc.Upstream], weight: 1}}
	}
	for _, s := range rc.Split {
		r.targets = append(r.targets, target{cluster: clusters[s.Upstream], weight: s.Weight})
	}
	if rc.Vote != nil {
		for _, u := range rc.Vote.Upstreams {
			r.targets = append(r.targets, target{cluster: clusters[u], weight: 1})
		}
	}
	for _, t := range r.targets {
		r.total += t.weight
	}

	r.maxReplay = rc.Retry.MaxBodyBytes
	r.retryOn.on = rc.Retry.RetryOn
	if len(rc.Retry.RetriableStatuses) > 0 {
		r.retryOn.statuses = map[int]bool{}
		for _, s := range rc.Retry.RetriableStatuses {
			r.retryOn.statuses[s] = true
		}
	}
	// One retry policy per target, so that each charges the right budget:
	// the route's own, shared by its targets, or else the target
	// upstream's. Each is named for its upstream, as its budget events are.
	rcfg := rc.Retry.Config
	rcfg.Listener = l
	rcfg.RetryIf = r.retryOn.retryIf
	if bc := rcfg.BudgetConfig; bc != nil {
		if rcfg.Budget, err = retry.NewBudget(*bc); err != nil {
			return nil, err
		}
		rcfg.BudgetConfig = nil
	}
	for i := range r.targets {
		tc := rcfg
		tc.Name = r.targets[i].cluster.name
		if tc.Budget == nil {
			tc.Budget = r.targets[i].cluster.budget
		}
		if r.targets[i].retry, err = retry.New(tc); err != nil {
			return nil, err
		}
	}
	r.retryCfg = r.targets[0].retry.Config()
	if r.checks, err = newInvariants(&rc.ResponseChecks); err != nil {
		return nil, err
	}
	if rc.Vote != nil {
		if r.vote, err = newVoteRoute(rc, r.targets, l); err != nil {
			return nil, err
		}
	}
	if rc.Canary != nil {
		if r.canary, err = newCanaryRoute(rc, r.targets, l, time.Now()); err != nil {
			return nil, err
		}
	}
	if rc.Shadow != nil {
		if r.shadow, err = newShadowRoute(r, clusters); err != nil {
			return nil, err
		}
	}
	if rc.Hedge != nil {
		hc := *rc.Hedge
		hc.Name = rc.Name
		hc.Listener = l
		if r.hedger, err = hedge.New(hc); err != nil {
			return nil, err
		}
	}
	if rl := rc.RateLimit; rl != nil {
		kc := rl.KeyedConfig
		kc.Name = rc.Name
		kc.Listener = l
		if r.limiter, err = ratelimit.NewKeyed(kc); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// limitGlobally makes the route's rate limit, if its scope is global, one
// kept in rdb and shared by every proxy using it, with the local limiter
// newRoute built as its fallback. A local limit is left as it is.
func (r *route) limitGlobally(rdb *globalrate.Client, onError config.RedisOnError) error {
	if !r.cfg.RateLimit.Global() {
		return nil
	}
	local, ok := r.limiter.(*ratelimit.Keyed)
	if !ok || rdb == nil {
		return errors.New("rate_limit: scope global needs the redis block")
	}
	oe := globalrate.OnErrorLocal
	switch onError {
	case config.RedisOnErrorAllow:
		oe = globalrate.OnErrorAllow
	case config.RedisOnErrorDeny:
		oe = globalrate.OnErrorDeny
	}
	g, err := globalrate.New(globalrate.Config{Route: r.name, Local: local, Client: rdb, OnError: oe, Lease: r.cfg.RateLimit.Lease})
	if err != nil {
		return err
	}
	r.limiter = g
	return nil
}

// sameRedis reports whether a global rate limit of r would be kept in the
// same Redis client under st: a route with a local limit always would.
func (r *route) sameRedis(st *state) bool {
	g, ok := r.limiter.(*globalrate.Limiter)
	return !ok || g.Client() == st.redis
}

// limitKey is the rate limit's bucket for req, by the route's
// rate_limit.key. The route must have a rate limit.
func (r *route) limitKey(req *http.Request) string { return requestKey(r.cfg.RateLimit.Key, req) }

// requestKey is what k picks out of req: the client IP, a header's value,
// or "" for the whole route. Rate limits, durable.order_by and
// idempotency.scope all key requests with it.
func requestKey(k config.RateLimitKey, req *http.Request) string {
	switch k.Kind {
	case config.KeyIP:
		host, _, err := net.SplitHostPort(req.RemoteAddr)
		if err != nil {
			return req.RemoteAddr
		}
		return host
	case config.KeyHeader:
		return req.Header.Get(k.Header)
	}
	return ""
}

// fallsBackOn reports whether the route's fallback answers failures of
// reason (a local-reply reason, or "5xx" for an upstream server error).
func (r *route) fallsBackOn(reason string) bool {
	if r.fallback == nil {
		return false
	}
	on := r.fallback.On
	switch reason {
	case ReasonBreakerOpen:
		return on.BreakerOpen
	case ReasonOverloaded:
		return on.Overloaded
	case ReasonTimeout:
		return on.Timeout
	case ReasonNoHealthyUpstream:
		return on.NoHealthyUpstream
	case ReasonUpstreamReset:
		return on.UpstreamReset
	case "5xx":
		return on.ServerError
	case ReasonNoQuorum:
		return on.NoQuorum
	case ReasonInvariantViolation:
		return on.InvariantViolation
	case ReasonQuiesced:
		return on.Quiesced
	}
	return false
}

// pick chooses the target of one request, by weight for a split.
func (r *route) pick() *target {
	if len(r.targets) == 1 {
		return &r.targets[0]
	}
	if r.canary != nil {
		return r.canary.pick()
	}
	n := rand.IntN(r.total)
	for i := range r.targets {
		if n < r.targets[i].weight {
			return &r.targets[i]
		}
		n -= r.targets[i].weight
	}
	return &r.targets[len(r.targets)-1]
}

// retryIf is the retry policy's RetryIf: the route's retry_on conditions
// applied to the outcome behind err.
func (c retryConditions) retryIf(err error) bool {
	o := outcomeOf(err)
	return o != nil && c.retryable(o)
}

// retryable tells whether an attempt's outcome may be retried by the route's
// retry_on conditions.
func (c retryConditions) retryable(o *outcome) bool {
	on := c.on
	switch o.kind {
	case outcomeConnectFailure:
		return on.ConnectFailure || on.Reset || on.GatewayError || on.ServerError
	case outcomeReset:
		return on.Reset || on.ServerError
	case outcomeTryTimeout:
		return on.GatewayError || on.ServerError || on.Reset
	case outcomeInvariant:
		// Withheld answers reach the client as 502s.
		return on.GatewayError || on.ServerError
	case outcomeResponse:
		s := o.resp.StatusCode
		if c.statuses[s] {
			return true
		}
		if on.ServerError && s >= 500 {
			return true
		}
		return on.GatewayError && (s == 502 || s == 503 || s == 504)
	}
	return false
}
