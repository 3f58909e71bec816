package lint

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/hedge"
	"github.com/holdfast-dev/holdfast/holdfasthttp"
	"github.com/holdfast-dev/holdfast/retry"
)

// The values a route runs with, its zero fields replaced by the defaults
// the proxy gives them. Retry's come from the retry package itself (a
// Retry's Config has them applied); the hedge package keeps its own
// unexported, so its exported defaults stand in.

// retryConfig returns r's retry config with retry's defaults applied, its
// budget left out (see budgetRatio). ok is false for a config retry
// refuses, which config.Parse never returns.
func retryConfig(r *config.Route) (c retry.Config, ok bool) {
	var rc retry.Config
	if r.Retry != nil {
		rc = r.Retry.Config
	}
	rc.BudgetConfig, rc.Budget = nil, nil
	p, err := retry.New(rc)
	if err != nil {
		return retry.Config{}, false
	}
	return p.Config(), true
}

// attempts returns the most attempts r makes per request.
func attempts(r *config.Route) int {
	c, ok := retryConfig(r)
	if !ok {
		return 1
	}
	return max(c.Attempts, 1)
}

// budgetRatio returns the ratio of the retry budget r's retries to
// upstream u draw on: the route's own budget, or else the upstream's, or
// else the default one every upstream has. from names the key it came
// from, "" for the default.
func budgetRatio(f *File, ri int, r *config.Route, u string) (ratio float64, from string) {
	var bc retry.BudgetConfig
	switch up := cfg(f).Upstreams[u]; {
	case r.Retry != nil && r.Retry.BudgetConfig != nil:
		bc, from = *r.Retry.BudgetConfig, routeKey(ri)+".retry.budget"
	case up != nil && up.RetryBudget != nil:
		bc, from = *up.RetryBudget, "upstreams."+u+".retry_budget"
	}
	b, err := retry.NewBudget(bc)
	if err != nil {
		return retry.DefaultBudgetRatio, ""
	}
	return b.Config().Ratio, from
}

// maxBackoffSteps bounds the waits backoffCaps works out one by one.
const maxBackoffSteps = 64

// backoffCaps returns the longest total wait the backoff of c allows
// before attempt n (n-1 waits), each wait at its cap: what Delay gives
// for the largest random draw. Once the waits stop growing (they reach
// backoff.max), or after 64 of them, the rest are counted at the last
// one's length, so that a huge attempts takes no time; a multiplier so
// close to 1 that the waits still grow then is undercounted, never
// overcounted.
func backoffCaps(c retry.Config, n int) time.Duration {
	var total, prev time.Duration
	for k := 1; k < n; k++ {
		w := c.Backoff.Delay(k, prev, 1)
		if k > maxBackoffSteps || (k > 1 && w == prev) {
			return addSat(total, mulSat(w, n-k))
		}
		total, prev = addSat(total, w), w
	}
	return total
}

// retryTime returns how long n attempts of c take at most: n whole
// per-try timeouts and the n-1 longest backoff waits between them.
func retryTime(c retry.Config, n int) time.Duration {
	return addSat(mulSat(c.PerTryTimeout, n), backoffCaps(c, n))
}

// addSat and mulSat add and multiply non-negative durations, stopping at
// the largest one instead of overflowing.
func addSat(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func mulSat(d time.Duration, n int) time.Duration {
	if n <= 0 || d <= 0 {
		return 0
	}
	if d > math.MaxInt64/time.Duration(n) {
		return math.MaxInt64
	}
	return d * time.Duration(n)
}

// hedging is a route's hedge with its defaults.
type hedging struct {
	on            bool
	maxExtra      int
	budgetPercent float64
	delay         time.Duration
	percentile    float64
	minDelay      time.Duration
}

func hedgeOf(r *config.Route) hedging {
	h := r.Hedge
	if h == nil {
		return hedging{}
	}
	out := hedging{on: true, maxExtra: h.MaxExtra, budgetPercent: h.BudgetPercent, delay: h.Delay,
		percentile: h.Percentile, minDelay: h.MinDelay}
	if out.maxExtra == 0 {
		out.maxExtra = hedge.DefaultMaxExtra
	}
	if out.budgetPercent == 0 {
		out.budgetPercent = hedge.DefaultBudgetPercent
	}
	if out.delay == 0 {
		out.delay = hedge.DefaultDelay
	}
	return out
}

// factor is how many requests one request to the route may become at its
// upstream, at worst: every attempt, each with every extra hedge.
func factor(r *config.Route) float64 {
	f := float64(attempts(r))
	if h := hedgeOf(r); h.on {
		f *= float64(1 + h.maxExtra)
	}
	return f
}

// nonIdempotent returns the methods of ms that the proxy sends only once
// unless the request carries an Idempotency-Key, as holdfasthttp.Idempotent
// decides (upper-cased, since routes compare methods case-insensitively).
func nonIdempotent(ms []string) []int {
	var out []int
	for i, m := range ms {
		if !holdfasthttp.Idempotent(&http.Request{Method: strings.ToUpper(m), Header: http.Header{}}) {
			out = append(out, i)
		}
	}
	return out
}

func routeKey(ri int) string { return "routes[" + strconv.Itoa(ri) + "]" }

// routeName names route ri of f for messages in another file:
// "edge.yaml routes[0] (read)".
func routeName(f *File, ri int) string {
	s := f.Name + " " + routeKey(ri)
	if rs := cfg(f).Routes; ri < len(rs) && rs[ri] != nil && rs[ri].Name != "" {
		s += " (" + rs[ri].Name + ")"
	}
	return s
}

// num formats a count or a factor to 3 significant digits: 18, 2.5, 1.9.
func num(x float64) string { return strconv.FormatFloat(x, 'g', 3, 64) }
