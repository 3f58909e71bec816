package importer

import (
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/retry"
)

// This file reads Linkerd's ServiceProfile (linkerd.io/v1alpha2,
// controller/gen/apis/serviceprofile/v1alpha2/types.go): the routes of one
// service, named by the profile (its FQDN), with their timeouts and
// retryability, the service's retry budget and its traffic split
// (dstOverrides).

type serviceProfile struct {
	budget   *retry.BudgetConfig
	budgetAt value
	// sendsTo are the upstreams the profile's routes send to: its
	// service's, or those of its dstOverrides. Each gets the budget.
	sendsTo []*target
}

// maxAlternatives bounds the routes one ServiceProfile condition may
// become: any and all multiply out.
const maxAlternatives = 64

func (imp *importer) readServiceProfile(o *object, m meta) {
	spec := o.obj("spec")
	if spec == nil {
		m.at.notTranslated("no spec; nothing to translate")
		return
	}
	if !validHost(m.name) {
		m.at.notTranslated("a ServiceProfile is named for its service's host, got %q; not translated", m.name)
		spec.skipRest()
		return
	}
	host := fqdn(m.name, m.namespace)
	sp := &serviceProfile{}
	imp.profiles = append(imp.profiles, sp)
	service := imp.target(m.nameAt, m.name, m.namespace, "", 0)
	split := imp.readDstOverrides(spec, m)
	sp.sendsTo = []*target{service}
	if len(split) > 0 {
		sp.sendsTo = nil
		for _, w := range split {
			sp.sendsTo = append(sp.sendsTo, w.to)
		}
	}
	send := func(r *route) {
		switch {
		case len(split) == 1:
			r.to = split[0].to
		case len(split) > 1:
			r.split = split
		default:
			r.to = service
		}
	}
	short := shortName(m.name)
	for i, rv := range spec.list("routes") {
		for _, r := range readProfileRoute(rv, short, i) {
			send(r)
			imp.routes = append(imp.routes, r)
		}
	}
	if bo := spec.obj("retryBudget"); bo != nil {
		sp.budget, sp.budgetAt = readLinkerdBudget(bo), bo.value
		if len(sp.sendsTo) > 1 {
			bo.value.note("Linkerd's budget is the service's; holdfast's is each upstream's: every upstream of the split gets one of its own")
		}
	}
	spec.skip("opaquePorts", "holdfast proxies HTTP only; opaque (TCP) ports are not translated")
	spec.done()

	// Requests no route matches still reach the service, with neither a
	// timeout nor retries.
	r := &route{base: sanitize(short), from: m.at.r.name + ", every other request", at: spec.value, fallbackFor: host}
	r.cfg.Retry = &config.Retry{}
	r.cfg.Retry.Attempts = 1
	r.cfg.Timeout = config.DefaultRouteTimeout
	send(r)
	imp.routes = append(imp.routes, r)
}

// readProfileRoute translates one RouteSpec: a route for each alternative
// of its condition.
func readProfileRoute(v value, service string, index int) []*route {
	o := v.object()
	if o == nil {
		return nil
	}
	name, _, _ := o.str("name")
	base := service + "-" + strconv.Itoa(index)
	if name != "" {
		base = service + "-" + name
	}
	cv, hasCond := o.get("condition")
	var alts []config.Match
	ok := true
	if !hasCond {
		v.notTranslated("no condition; the route is left out")
		ok = false
	} else {
		var cs []conj
		cs, ok = requestMatch(cv)
		if ok && len(cs) > maxAlternatives {
			cv.notTranslated("its any and all make %d alternatives, more than the %d routes one profile route may become; the route is left out", len(cs), maxAlternatives)
			ok = false
		}
		for _, c := range cs {
			if c.impossible {
				continue
			}
			var m config.Match
			if c.regex != nil {
				m.PathRegex = *c.regex
			}
			if c.method != "" {
				m.Methods = []string{c.method}
			}
			alts = append(alts, m)
		}
	}
	rt := config.Route{Retry: &config.Retry{}}
	timeout, tv, hasTimeout := o.duration("timeout")
	if hasTimeout && timeout > 0 {
		rt.Timeout = timeout
	}
	retryable, rv, _ := o.bool("isRetryable")
	classes, hasClasses := o.get("responseClasses")
	var failures []bool
	if hasClasses {
		failures = responseClasses(classes)
	}
	if retryable {
		// Linkerd bounds retries by the budget alone; holdfast needs a
		// count too: its default.
		rt.Retry.Attempts = retry.DefaultAttempts
		rv.note("Linkerd bounds retries only by the retry budget; holdfast also by a count: attempts: %d", retry.DefaultAttempts)
		rv.note("holdfast retries only idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE, TRACE, or any with an Idempotency-Key header); Linkerd retries any retryable route's requests")
		rt.Retry.RetryOn, rt.Retry.RetriableStatuses = failureConditions(failures)
	} else {
		rt.Retry.Attempts = 1
		if hasClasses {
			classes.notTranslated("without isRetryable, response classes only classify Linkerd's metrics; holdfast's metrics count answers by status class")
		}
	}
	o.done()
	if !ok {
		return nil
	}
	if len(alts) > 0 {
		fitTimeouts(v, tv, &rt, hasTimeout && timeout == 0, "Linkerd")
	}
	var out []*route
	for j, m := range alts {
		r := &route{cfg: rt, base: base, from: v.r.name + ", " + v.path, at: v}
		r.cfg.Match = m
		if len(alts) > 1 {
			r.base += "-" + strconv.Itoa(j)
		}
		r.base = sanitize(r.base)
		out = append(out, r)
	}
	if len(out) == 0 && ok {
		cv.note("no request can meet this condition (two different methods at once); the route is left out")
	}
	return out
}

// conj is one alternative of a RequestMatch: all its conditions at once.
type conj struct {
	regex      *string
	method     string
	impossible bool
}

// and joins two alternatives; ok is false when holdfast cannot express
// both at once (two different path regexes).
func (c conj) and(d conj, at value) (conj, bool) {
	out := c
	if d.regex != nil {
		if c.regex != nil && *c.regex != *d.regex {
			at.notTranslated("holdfast matches one path regex per route, and this condition needs two at once (%q and %q); the route is left out", *c.regex, *d.regex)
			return conj{}, false
		}
		out.regex = d.regex
	}
	if d.method != "" {
		if c.method != "" && !strings.EqualFold(c.method, d.method) {
			out.impossible = true
		}
		out.method = d.method
	}
	out.impossible = out.impossible || d.impossible
	return out, true
}

// requestMatch turns a RequestMatch into its alternatives (a disjunction
// of conjunctions), or reports why it cannot.
func requestMatch(v value) ([]conj, bool) {
	o := v.object()
	if o == nil {
		return nil, false
	}
	alts := []conj{{}}
	and := func(other []conj, at value) bool {
		var next []conj
		for _, a := range alts {
			for _, b := range other {
				c, ok := a.and(b, at)
				if !ok {
					return false
				}
				next = append(next, c)
				if len(next) > maxAlternatives {
					at.notTranslated("its any and all make more than the %d routes one profile route may become; the route is left out", maxAlternatives)
					return false
				}
			}
		}
		alts = next
		return true
	}
	ok := true
	set := false
	if re, rv, has := o.str("pathRegex"); has {
		set = true
		if _, err := regexp.Compile(re); err != nil {
			rv.notTranslated("not a regular expression holdfast (Go's RE2) accepts: %v; the route is left out", err)
			ok = false
		} else {
			ok = and([]conj{{regex: &re}}, rv)
		}
	}
	if m, mv, has := o.str("method"); has && ok {
		set = true
		if !headerName.MatchString(m) {
			mv.notTranslated("not an HTTP method: %q; the route is left out", m)
			ok = false
		} else {
			ok = and([]conj{{method: strings.ToUpper(m)}}, mv)
		}
	}
	if all, has := o.get("all"); has && ok {
		set = true
		for _, item := range all.list() {
			cs, good := requestMatch(item)
			if !good || !and(cs, item) {
				ok = false
				break
			}
		}
	}
	if anyv, has := o.get("any"); has && ok {
		set = true
		var union []conj
		for _, item := range anyv.list() {
			cs, good := requestMatch(item)
			if !good {
				ok = false
				break
			}
			union = append(union, cs...)
			if len(union) > maxAlternatives {
				anyv.notTranslated("its any and all make more than the %d routes one profile route may become; the route is left out", maxAlternatives)
				ok = false
				break
			}
		}
		if ok {
			ok = and(union, anyv)
		}
	}
	if nv, has := o.get("not"); has && ok {
		nv.notTranslated("holdfast routes cannot negate a condition; the route is left out")
		ok = false
	}
	if !ok {
		o.skipRest()
		return nil, false
	}
	o.done()
	if !set {
		v.note("an empty condition (Linkerd requires one field): read as every request")
	}
	return alts, true
}

// responseClasses works out, for each status from 100 to 599, whether
// Linkerd classifies it as a failure: the first class whose condition
// matches decides, and a status none matches fails when it is 5xx.
// failures[s-100] is the answer for status s.
func responseClasses(v value) []bool {
	type class struct {
		cond    func(int) bool
		failure bool
	}
	var classes []class
	for _, item := range v.list() {
		o := item.object()
		if o == nil {
			continue
		}
		cv, ok := o.get("condition")
		failure, _, _ := o.bool("isFailure")
		o.done()
		if !ok {
			item.notTranslated("no condition; the class is left out")
			continue
		}
		if cond := responseMatch(cv); cond != nil {
			classes = append(classes, class{cond, failure})
		}
	}
	out := make([]bool, 500)
	for i := range out {
		s := 100 + i
		out[i] = s >= 500
		for _, c := range classes {
			if c.cond(s) {
				out[i] = c.failure
				break
			}
		}
	}
	return out
}

// responseMatch reads a ResponseMatch as a test of a status, or nil when
// it cannot be read. Its fields all hold at once.
func responseMatch(v value) func(int) bool {
	o := v.object()
	if o == nil {
		return nil
	}
	var tests []func(int) bool
	bad := false
	if so := o.obj("status"); so != nil {
		lo, _, _ := so.int("min", 0)
		hi, _, _ := so.int("max", 0)
		so.done()
		tests = append(tests, func(s int) bool { return (lo == 0 || s >= lo) && (hi == 0 || s <= hi) })
	}
	if all, ok := o.get("all"); ok {
		for _, item := range all.list() {
			t := responseMatch(item)
			if t == nil {
				bad = true
				continue
			}
			tests = append(tests, t)
		}
	}
	if anyv, ok := o.get("any"); ok {
		var alts []func(int) bool
		for _, item := range anyv.list() {
			if t := responseMatch(item); t != nil {
				alts = append(alts, t)
			} else {
				bad = true
			}
		}
		tests = append(tests, func(s int) bool {
			for _, t := range alts {
				if t(s) {
					return true
				}
			}
			return false
		})
	}
	if nv, ok := o.get("not"); ok {
		if t := responseMatch(nv); t != nil {
			tests = append(tests, func(s int) bool { return !t(s) })
		} else {
			bad = true
		}
	}
	o.done()
	if bad {
		return nil
	}
	if len(tests) == 0 {
		v.notTranslated("an empty condition matches no response; the class is left out")
		return nil
	}
	return func(s int) bool {
		for _, t := range tests {
			if !t(s) {
				return false
			}
		}
		return true
	}
}

// failureConditions turns the statuses Linkerd would retry into
// holdfast's retry_on: exactly the 5xx statuses (Linkerd's default, with no
// classes) is 5xx; any other set is listed status by status.
func failureConditions(failures []bool) (config.RetryOn, []int) {
	if failures == nil {
		return config.RetryOn{ServerError: true}, nil
	}
	var statuses []int
	only5xx := true
	for i, f := range failures {
		s := 100 + i
		if f {
			statuses = append(statuses, s)
		}
		only5xx = only5xx && f == (s >= 500)
	}
	if only5xx {
		return config.RetryOn{ServerError: true}, nil
	}
	on := config.RetryOn{ConnectFailure: true}
	if len(statuses) > 0 {
		on.RetriableStatus = true
	}
	return on, statuses
}

// readLinkerdBudget translates a RetryBudget: Linkerd's model is
// holdfast's.
func readLinkerdBudget(o *object) *retry.BudgetConfig {
	b := &retry.BudgetConfig{}
	ratio, rv, ok := o.float("retryRatio")
	switch {
	case !ok:
	case ratio <= 0:
		rv.notTranslated("holdfast's budget ratio must be above 0, got %g; its default, 0.2, applies", ratio)
	case ratio > 1:
		b.Ratio = 1
		rv.note("holdfast's budget ratio is at most 1 (a retry for every request), got %g: ratio: 1", ratio)
	default:
		b.Ratio = ratio
	}
	if n, nv, ok := o.int("minRetriesPerSecond", 0); ok {
		if n == 0 {
			nv.notTranslated("holdfast reads a min_per_second of 0 as its default, 10")
		} else {
			b.MinPerSecond = float64(n)
		}
	}
	if d, dv, ok := o.duration("ttl"); ok && d > 0 {
		if d.Milliseconds() < 1 {
			dv.notTranslated("holdfast's budget window is at least 1ms, got %s", d)
		} else {
			b.Window = d
		}
	}
	o.done()
	return b
}

// readDstOverrides reads the service's traffic split: each authority
// (host or host:port) and its weight.
func (imp *importer) readDstOverrides(spec *object, m meta) []weighted {
	v, ok := spec.get("dstOverrides")
	if !ok {
		return nil
	}
	var out []weighted
	var at []value
	for _, item := range v.list() {
		o := item.object()
		if o == nil {
			continue
		}
		auth, av, hasAuth := o.str("authority")
		wv, hasWeight := o.get("weight")
		o.done()
		if !hasAuth {
			item.notTranslated("no authority; left out")
			continue
		}
		host, port := auth, 0
		if h, p, err := net.SplitHostPort(auth); err == nil {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				av.notTranslated("%q has no valid port; left out", auth)
				continue
			}
			host, port = h, n
		}
		if !validHost(host) {
			av.notTranslated("%q is not a host name holdfast can send to; left out", auth)
			continue
		}
		w := -1
		if hasWeight {
			milli, ok := quantityMilli(wv)
			if !ok {
				continue
			}
			w = int(min(milli, 1<<40))
		}
		out = append(out, weighted{to: imp.target(item, host, m.namespace, "", port), weight: w})
		at = append(at, item)
	}
	return fitWeights(v, reduceWeights(out), at)
}

// quantityMilli reads a Kubernetes quantity ("1", "0.5", "500m", "2k")
// in thousandths.
func quantityMilli(v value) (int64, bool) {
	s, ok := v.scalar("a quantity such as 1 or 500m")
	if !ok {
		return 0, false
	}
	num, scale := strings.TrimSpace(s), int64(1000)
	for suffix, sc := range map[string]int64{"m": 1, "k": 1000_000, "M": 1000_000_000} {
		if t, ok := strings.CutSuffix(num, suffix); ok {
			num, scale = t, sc
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || f > 1e12 || f != f {
		v.notTranslated("not a weight holdfast can read: %q (a quantity such as 1, 0.5 or 500m); left out", s)
		return 0, false
	}
	return int64(f * float64(scale)), true
}

// reduceWeights divides weights by their greatest common divisor, so that
// 500m and 500m read as 1 and 1.
func reduceWeights(ws []weighted) []weighted {
	g := 0
	for _, w := range ws {
		if w.weight > 0 {
			g = gcd(g, w.weight)
		}
	}
	if g > 1 {
		for i := range ws {
			if ws[i].weight > 0 {
				ws[i].weight /= g
			}
		}
	}
	return ws
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
