package proxy

import (
	"math/rand/v2"
	"net"
	"net/http"
	"time"

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

	retry      *retry.Retry
	ownBudget  bool // retry has its own budget; otherwise each cluster's is used
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

	rcfg := rc.Retry.Config
	rcfg.Name = rc.Name
	rcfg.Listener = l
	r.ownBudget = rcfg.BudgetConfig != nil
	r.retry, err = retry.New(rcfg)
	if err != nil {
		return nil, err
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

// pick chooses the upstream for one request, by weight for a split.
func (r *route) pick() *cluster {
	if len(r.targets) == 1 {
		return r.targets[0].cluster
	}
	n := rand.IntN(r.total)
	for _, t := range r.targets {
		if n < t.weight {
			return t.cluster
		}
		n -= t.weight
	}
	return r.targets[len(r.targets)-1].cluster
}

// budget returns the retry budget for a request to c.
func (r *route) budget(c *cluster) *retry.Budget {
	if r.ownBudget {
		return r.retry.Budget()
	}
	return c.budget
}

// limitRetryAfter tells how long until key's bucket has a token.
func (r *route) limitRetryAfter(key string) time.Duration {
	rate := r.limiter.Rate()
	if rate <= 0 {
		return time.Second
	}
	missing := 1 - r.limiter.TokensAt(key, time.Now())
	if missing <= 0 {
		return 0
	}
	return time.Duration(missing / rate * float64(time.Second))
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
