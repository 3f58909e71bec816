package lint

import (
	"fmt"
	"sort"
	"strings"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/yamlpath"
)

// lintRoute runs the rules about one route on its own: its retries against
// its timeout, its budgets, its hedge, and the methods it would repeat.
// (A per_try_timeout longer than the route timeout never gets here:
// config refuses it.)
func lintRoute(out *findings, fi int, f *File, ri int, r *config.Route) {
	if r == nil {
		return
	}
	retryExceedsTimeout(out, fi, f, ri, r)
	retryBudget(out, fi, f, ri, r)
	hedgeRules(out, fi, f, ri, r)
	nonIdempotentRetry(out, fi, f, ri, r)
}

// retryExceedsTimeout: attempts × per_try_timeout plus the backoff waits
// longer than the route timeout; the route timeout cuts the last attempts
// short or leaves them out.
func retryExceedsTimeout(out *findings, fi int, f *File, ri int, r *config.Route) {
	c, ok := retryConfig(r)
	if !ok || c.Attempts < 2 || c.PerTryTimeout <= 0 {
		return
	}
	total := retryTime(c, c.Attempts)
	if total <= r.Timeout {
		return
	}
	// The most attempts that fit: retryTime grows with n, and 1 fits
	// (config refuses a per_try_timeout longer than the timeout).
	fit := sort.Search(c.Attempts, func(n int) bool { return retryTime(c, n+1) > r.Timeout })
	p := routeKey(ri)
	out.add(fi, f, Error, RuleRetryExceedsTimeout, f.Lines.key(p+".retry.per_try_timeout", p+".retry"),
		"%d attempts × %s per try + up to %s of backoff = %s, longer than the route timeout %s%s: only %s, and the route timeout cuts the rest short or leaves them out (fewer attempts, a shorter per_try_timeout or a longer timeout)",
		c.Attempts, c.PerTryTimeout, backoffCaps(c, c.Attempts), total, r.Timeout, defaulted(f, p+".timeout"), fits(fit))
}

// retryBudget: a retry budget that can never refuse a retry, because its
// ratio allows at least as many retries per request as the route makes.
// holdfast has no retries without a budget (every upstream has one), so
// this is how a route retries unbudgeted.
func retryBudget(out *findings, fi int, f *File, ri int, r *config.Route) {
	n := attempts(r)
	if n < 2 {
		return
	}
	for _, t := range targets(fi, ri, r) {
		ratio, from := budgetRatio(f, ri, r, t.upstream)
		if ratio < float64(n-1) {
			continue
		}
		key := routeKey(ri) + ".retry"
		if from != "" {
			key = from + ".ratio"
		}
		out.add(fi, f, Warning, RuleRetryBudget, f.Lines.key(key, from, routeKey(ri)),
			"the retry budget (ratio %s) of %s's retries to upstream %q grants at least as many retries as a request can make (%d): it never refuses one, so a failing upstream gets every attempt of every request (lower the ratio)",
			num(ratio), routeKey(ri), t.upstream, n-1)
	}
}

// hedgeRules: a hedge budget that never runs out, and a hedge delay no
// attempt lives to reach.
func hedgeRules(out *findings, fi int, f *File, ri int, r *config.Route) {
	h := hedgeOf(r)
	if !h.on {
		return
	}
	p := routeKey(ri) + ".hedge"
	if h.budgetPercent >= 100*float64(h.maxExtra) {
		out.add(fi, f, Warning, RuleHedgeBudget, f.Lines.key(p+".budget_percent", p),
			"budget_percent %s with max_extra %d lets every request send its %s: the hedge budget never runs out, so a slow upstream gets %d times the requests (keep budget_percent well below 100 × max_extra; the default is 10)",
			num(h.budgetPercent), h.maxExtra, plural(h.maxExtra, "extra attempt"), 1+h.maxExtra)
	}
	c, _ := retryConfig(r)
	limit, limitKey := r.Timeout, "the route timeout"
	if c.PerTryTimeout > 0 {
		limit, limitKey = c.PerTryTimeout, "per_try_timeout"
	}
	delay, delayKey := h.delay, "delay"
	if h.percentile > 0 {
		// The percentile delay replaces delay after min_samples, and is
		// never below min_delay.
		if h.minDelay <= 0 {
			return
		}
		delay, delayKey = h.minDelay, "min_delay"
	}
	if delay >= limit {
		out.add(fi, f, Warning, RuleHedgeDelay, f.Lines.key(p+"."+delayKey, p),
			"hedge %s %s is not shorter than %s %s: an attempt ends before a hedge would start, so the hedge never sends one",
			delayKey, delay, limitKey, limit)
	}
}

// nonIdempotentRetry: a route for POST (or another method the proxy does
// not repeat) that retries or hedges: holdfast repeats only the requests
// carrying an Idempotency-Key, so the config repeats exactly those.
func nonIdempotentRetry(out *findings, fi int, f *File, ri int, r *config.Route) {
	bad := nonIdempotent(r.Match.Methods)
	if len(bad) == 0 {
		return
	}
	n, h := attempts(r), hedgeOf(r)
	if n < 2 && !h.on {
		return
	}
	names := make([]string, len(bad))
	for i, k := range bad {
		names[i] = strings.ToUpper(r.Match.Methods[k])
	}
	var what []string
	if n > 1 {
		what = append(what, fmt.Sprintf("retried (up to %d attempts)", n))
	}
	if h.on {
		what = append(what, fmt.Sprintf("hedged (up to %d extra)", h.maxExtra))
	}
	p := yamlpath.Index(routeKey(ri)+".match.methods", bad[0])
	out.add(fi, f, Warning, RuleNonIdempotent, f.Lines.key(p, routeKey(ri)),
		"%s requests that carry an Idempotency-Key header are %s, and others are sent once: the upstream must treat a repeated key as one request, or a repeat runs the %s twice (set attempts: 1 if it cannot)",
		strings.Join(names, ", "), strings.Join(what, " and "), names[0])
}

// defaulted returns " (the default)" when f leaves key out.
func defaulted(f *File, key string) string {
	if f.Lines.Has(key) {
		return ""
	}
	return " (the default)"
}

// fits says how many whole attempts fit: "1 whole attempt fits".
func fits(n int) string {
	if n == 1 {
		return "1 whole attempt fits"
	}
	return fmt.Sprintf("%d whole attempts fit", n)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
