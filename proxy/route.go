package proxy

import (
	"math/rand/v2"
	"net"
	"net/http"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/hedge"
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

	retryCfg   retry.Config // with defaults, as every target's retry has it
	retryOn    retryConditions
	maxReplay  int64
	hedger     *hedge.Hedger
	limiter    *ratelimit.Keyed
	limitKey   func(*http.Request) string
	fallback   *config.Fallback
	fallbackOn map[string]bool
	fault      *config.Fault
}

type target struct {
	cluster *cluster
	weight  int
	retry   *retry.Retry // the route's retry policy, with the budget for cluster
}

type retryConditions struct {
	connectFailure, reset, gatewayError, anyServerError bool
	statuses                                            map[int]bool
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
	for _, t := range r.targets {
		r.total += t.weight
	}

	r.maxReplay = rc.Retry.MaxBodyBytes
	for _, on := range rc.Retry.RetryOn {
		switch on {
		case "connect_failure":
			r.retryOn.connectFailure = true
		case "reset":
			r.retryOn.reset = true
		case "gateway_error":
			r.retryOn.gatewayError = true
		case "5xx":
			r.retryOn.anyServerError = true
		}
	}
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
		r.limitKey = keyFunc(rl.Key)
	}
	if rc.Fallback != nil {
		r.fallbackOn = map[string]bool{}
		for _, on := range rc.Fallback.On {
			r.fallbackOn[on] = true
		}
	}
	return r, nil
}

func keyFunc(key string) func(*http.Request) string {
	switch {
	case key == "ip":
		return func(r *http.Request) string {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				return r.RemoteAddr
			}
			return host
		}
	case len(key) > len("header:") && key[:len("header:")] == "header:":
		name := http.CanonicalHeaderKey(key[len("header:"):])
		return func(r *http.Request) string { return r.Header.Get(name) }
	}
	return func(*http.Request) string { return "" }
}

// fallsBackOn reports whether the route's fallback answers failures of
// reason (a local-reply reason, or "5xx" for an upstream server error).
func (r *route) fallsBackOn(reason string) bool {
	return r.fallback != nil && r.fallbackOn[reason]
}

// pick chooses the target of one request, by weight for a split.
func (r *route) pick() *target {
	if len(r.targets) == 1 {
		return &r.targets[0]
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
	switch o.kind {
	case outcomeConnectFailure:
		return c.connectFailure || c.reset || c.gatewayError || c.anyServerError
	case outcomeReset:
		return c.reset || c.anyServerError
	case outcomeTryTimeout:
		return c.gatewayError || c.anyServerError || c.reset
	case outcomeResponse:
		s := o.resp.StatusCode
		if c.statuses[s] {
			return true
		}
		if c.anyServerError && s >= 500 {
			return true
		}
		return c.gatewayError && (s == 502 || s == 503 || s == 504)
	}
	return false
}
