package importer

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast-dev/holdfast/config"
)

// This file reads Istio's VirtualService (networking/v1alpha3/
// virtual_service.proto, which v1beta1 and v1 alias): its HTTP routes with
// their matches, destinations and weights, timeout, retries and fault.

type virtualService struct {
	m meta
}

func (imp *importer) readVirtualService(o *object, m meta) {
	imp.services = append(imp.services, &virtualService{m: m})
	spec := o.obj("spec")
	if spec == nil {
		m.at.notTranslated("no spec; nothing to translate")
		return
	}
	if hosts, v, ok := spec.strings("hosts"); ok && len(hosts) > 0 {
		v.notTranslated("holdfast routes do not match on the Host header: these routes take requests for every host, not only %s", strings.Join(hosts, ", "))
	}
	spec.skip("gateways", "the gateways a VirtualService binds to are Istio's; holdfast serves these routes on its own listeners")
	spec.skip("exportTo", "visibility across namespaces is Kubernetes scoping; holdfast has none")
	spec.skip("tls", "holdfast routes HTTP only: TLS (SNI) routes are not translated")
	spec.skip("tcp", "holdfast routes HTTP only: TCP routes are not translated")
	routes := spec.list("http")
	for i, item := range routes {
		imp.readHTTPRoute(item, m, i, len(routes))
	}
	spec.done()
}

// strings returns the list of strings under key.
func (o *object) strings(key string) ([]string, value, bool) {
	v, ok := o.get(key)
	if !ok {
		return nil, v, false
	}
	var out []string
	for _, item := range v.list() {
		if s, ok := item.scalar("a string"); ok {
			out = append(out, s)
		}
	}
	return out, v, true
}

// forwardingReplacements are the HTTPRoute fields that answer a request
// instead of forwarding it, and why holdfast cannot.
var forwardingReplacements = []struct{ key, why string }{
	{"redirect", "holdfast answers no redirects itself"},
	{"directResponse", "holdfast answers with a fixed reply only as a fallback for a failed upstream, not instead of one"},
	{"delegate", "holdfast has no delegation between route tables: translate the delegate VirtualService's routes instead"},
}

func (imp *importer) readHTTPRoute(v value, m meta, index, count int) {
	o := v.object()
	if o == nil {
		return
	}
	name, _, _ := o.str("name")
	base := m.name
	switch {
	case name != "":
		base += "-" + name
	case count > 1:
		base += "-" + strconv.Itoa(index)
	}
	from := v.r.name + ", " + v.path
	for _, f := range forwardingReplacements {
		if fv, ok := o.get(f.key); ok {
			fv.notTranslated("%s; the route is left out", f.why)
			o.skipRest()
			return
		}
	}

	var alts []matchAlt
	matchList, hasMatch := o.get("match")
	if hasMatch {
		for _, mv := range matchList.list() {
			alts = append(alts, readHTTPMatch(mv))
		}
	}
	var targets []weighted
	dests, hasRoute := o.get("route")
	if hasRoute {
		targets = imp.readDestinations(dests, m)
	}

	rt := &config.Route{}
	timeout, tv, hasTimeout := o.duration("timeout")
	if hasTimeout && timeout > 0 {
		rt.Timeout = timeout
	}
	rt.Retry = readHTTPRetry(o.obj("retries"))
	rt.Fault = readFault(o.obj("fault"))

	o.skip("mirror", "holdfast does not mirror traffic")
	o.skip("mirrors", "holdfast does not mirror traffic")
	o.skip("mirrorPercentage", "holdfast does not mirror traffic")
	o.skip("mirrorPercent", "holdfast does not mirror traffic")
	o.skip("mirror_percent", "holdfast does not mirror traffic")
	o.skip("rewrite", "holdfast forwards the path and Host as the client sent them")
	o.skip("corsPolicy", "holdfast does not answer CORS preflights or add CORS headers")
	o.skip("headers", "holdfast does not add, set or remove headers (beyond x-request-id and X-Forwarded-For/-Proto)")
	o.done()

	switch {
	case !hasRoute:
		v.notTranslated("no route destinations; the route is left out")
		return
	case len(targets) == 0:
		v.notTranslated("no destination could be translated; the route is left out")
		return
	}
	if !hasMatch {
		alts = []matchAlt{{}}
	}
	if !slices.ContainsFunc(alts, func(a matchAlt) bool { return !a.drop }) {
		return
	}
	fitTimeouts(v, tv, rt, hasTimeout && timeout == 0, "Istio")
	if rt.Fault != nil && rt.Fault.Delay != nil {
		v.note("holdfast counts a fault delay against the route timeout (%s); Envoy starts the route timeout after the delay", rt.Timeout)
	}
	for j, alt := range alts {
		if alt.drop {
			continue
		}
		r := &route{cfg: *rt, base: base, from: from, at: v}
		r.cfg.Match = alt.match
		if rt.Retry != nil && rt.Retry.Attempts > 1 {
			r.attemptsComment = "Istio's " + plural(rt.Retry.Attempts-1, "retry", "retries") + " and the first try"
		}
		if len(alts) > 1 {
			if alt.name != "" {
				r.base += "-" + alt.name
			} else {
				r.base += "-" + strconv.Itoa(j)
			}
		}
		if len(targets) == 1 {
			r.to = targets[0].to
		} else {
			r.split = targets
		}
		for _, t := range targets {
			imp.vsHosts[t.to.key.host] = true
		}
		r.base = sanitize(r.base)
		imp.routes = append(imp.routes, r)
	}
}

// skipRest marks every key of o read: the whole mapping was reported.
func (o *object) skipRest() {
	if o == nil {
		return
	}
	for _, k := range o.order {
		o.used[k] = true
	}
}

// fitTimeouts makes the route's timeouts valid for holdfast: every route
// has a timeout (the mesh may have none), and the per-try timeout may not
// exceed it. tv is the timeout's value, if the route set one; off says it
// was set to 0, which the mesh reads as none.
func fitTimeouts(v, tv value, rt *config.Route, off bool, mesh string) {
	var perTry time.Duration
	attempts := 1
	if rt.Retry != nil {
		perTry = rt.Retry.PerTryTimeout
		if rt.Retry.Attempts > 0 {
			attempts = rt.Retry.Attempts
		}
	}
	if rt.Timeout == 0 {
		rt.Timeout = config.DefaultRouteTimeout
		// With no route timeout, each try may run its whole per-try
		// timeout; keep room for all of them.
		if total := time.Duration(attempts) * perTry; perTry > 0 && total/time.Duration(attempts) == perTry && total > rt.Timeout {
			rt.Timeout = total
		}
		at := v
		if off {
			at = tv
		}
		at.note("no timeout: %s sets none, and every holdfast route has one: %s", mesh, rt.Timeout)
		return
	}
	if perTry > rt.Timeout {
		rt.Retry.PerTryTimeout = rt.Timeout
		v.note("the per-try timeout %s is longer than the route timeout %s, which bounds it anyway: per_try_timeout: %s", perTry, rt.Timeout, rt.Timeout)
	}
}

// matchAlt is one HTTPMatchRequest: a route of its own.
type matchAlt struct {
	match config.Match
	name  string
	drop  bool // it cannot be expressed; its route is left out
}

// headerName is a header field name (RFC 9110 token), as holdfast's
// header matches require.
var headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

func readHTTPMatch(v value) matchAlt {
	o := v.object()
	if o == nil {
		return matchAlt{drop: true}
	}
	var alt matchAlt
	alt.name, _, _ = o.str("name")
	dropIf := func(key, why string) {
		if fv, ok := o.get(key); ok {
			fv.notTranslated("%s; the route for this match is left out", why)
			alt.drop = true
		}
	}
	ignoreCase, _, _ := o.bool("ignoreUriCase")
	if uv, ok := o.get("uri"); ok {
		if !alt.matchURI(uv, ignoreCase) {
			alt.drop = true
		}
	}
	if mv, ok := o.get("method"); ok {
		if !alt.matchMethod(mv) {
			alt.drop = true
		}
	}
	names, values := o.entries("headers")
	for i, name := range names {
		if !alt.matchHeader(values[i], name, false) {
			alt.drop = true
		}
	}
	names, values = o.entries("withoutHeaders")
	for i, name := range names {
		if !alt.matchHeader(values[i], name, true) {
			alt.drop = true
		}
	}
	dropIf("scheme", "holdfast routes do not match on the scheme")
	dropIf("authority", "holdfast routes do not match on the authority (Host)")
	dropIf("queryParams", "holdfast routes do not match on query parameters")
	dropIf("port", "holdfast routes do not match on the port a request came to")
	for _, key := range []string{"sourceLabels", "sourceNamespace", "gateways"} {
		o.skip(key, "chooses which clients or gateways the rule applies to, not a property of the request; the route applies to every request")
	}
	o.skip("statPrefix", "holdfast labels its metrics by route name")
	o.done()
	return alt
}

// stringMatch reads an Istio StringMatch: kind is exact, prefix or
// regex, or "" for an empty match ({}), which tests presence.
func stringMatch(v value) (kind, s string, ok bool) {
	o := v.object()
	if o == nil {
		return "", "", false
	}
	for _, k := range []string{"exact", "prefix", "regex"} {
		if !o.has(k) {
			o.asked[k] = true
			continue
		}
		if kind != "" {
			v.notTranslated("set one of exact, prefix and regex, got %s and %s", kind, k)
			o.skipRest()
			return "", "", false
		}
		str, _, good := o.str(k)
		if !good {
			o.skipRest()
			return "", "", false
		}
		kind, s = k, str
	}
	o.done()
	return kind, s, true
}

func (alt *matchAlt) matchURI(v value, ignoreCase bool) bool {
	kind, s, ok := stringMatch(v)
	if !ok {
		return false
	}
	fold := ""
	if ignoreCase {
		fold = "(?i)"
	}
	switch kind {
	case "":
		return true
	case "exact":
		if !strings.HasPrefix(s, "/") {
			v.notTranslated("a path starts with /, so exact %q never matches; the route for this match is left out", s)
			return false
		}
		if ignoreCase {
			alt.match.PathRegex = fold + regexp.QuoteMeta(s)
		} else {
			alt.match.Path = s
		}
	case "prefix":
		switch {
		case s == "":
		case !strings.HasPrefix(s, "/"):
			v.notTranslated("a path starts with /, so prefix %q never matches; the route for this match is left out", s)
			return false
		case ignoreCase:
			alt.match.PathRegex = fold + regexp.QuoteMeta(s) + ".*"
		default:
			alt.match.PathPrefix = s
		}
	case "regex":
		if _, err := regexp.Compile(s); err != nil {
			v.notTranslated("not a regular expression holdfast (Go's RE2) accepts: %v; the route for this match is left out", err)
			return false
		}
		alt.match.PathRegex = s
	}
	return true
}

func (alt *matchAlt) matchMethod(v value) bool {
	kind, s, ok := stringMatch(v)
	if !ok {
		return false
	}
	switch kind {
	case "":
		return true
	case "exact":
		if headerName.MatchString(s) {
			alt.match.Methods = []string{s}
			return true
		}
	case "regex":
		// A list of methods written as a regex, "GET|HEAD" or
		// "^(GET|HEAD)$", is a list of methods.
		t := strings.TrimSuffix(strings.TrimPrefix(s, "^"), "$")
		if strings.HasPrefix(t, "(") && strings.HasSuffix(t, ")") {
			t = t[1 : len(t)-1]
		}
		methods := strings.Split(t, "|")
		good := true
		for _, m := range methods {
			good = good && headerName.MatchString(m)
		}
		if good {
			alt.match.Methods = methods
			return true
		}
	}
	v.notTranslated("holdfast matches a list of methods, not %s %q; the route for this match is left out", kind, s)
	return false
}

// ignoredHeaders are the header names Istio ignores in a match.
var ignoredHeaders = map[string]bool{"uri": true, "scheme": true, "method": true, "authority": true}

func (alt *matchAlt) matchHeader(v value, name string, without bool) bool {
	var kind, s string
	if !isNull(v.n) {
		var ok bool
		if kind, s, ok = stringMatch(v); !ok {
			return false
		}
	}
	if ignoredHeaders[strings.ToLower(name)] && !without {
		v.notTranslated("Istio ignores a header match named %s", name)
		return true
	}
	if !headerName.MatchString(name) {
		v.notTranslated("holdfast matches header fields by name, not %q; the route for this match is left out", name)
		return false
	}
	h := config.HeaderMatch{Name: name}
	switch kind {
	case "":
		present := !without
		h.Present = &present
	case "exact":
		if s == "" {
			h.Regex = "^$"
		} else {
			h.Exact = s
		}
	case "prefix":
		h.Regex = regexp.QuoteMeta(s) + ".*"
	case "regex":
		if _, err := regexp.Compile(s); err != nil {
			v.notTranslated("not a regular expression holdfast (Go's RE2) accepts: %v; the route for this match is left out", err)
			return false
		}
		h.Regex = s
	}
	if without && kind != "" {
		v.notTranslated("holdfast can require a header to be absent, not to differ from a value; the route for this match is left out")
		return false
	}
	alt.match.Headers = append(alt.match.Headers, h)
	return true
}

// readDestinations reads an HTTPRoute's weighted destinations.
func (imp *importer) readDestinations(v value, m meta) []weighted {
	var out []weighted
	var weights []value
	for _, item := range v.list() {
		o := item.object()
		if o == nil {
			continue
		}
		t := imp.readDestination(o.obj("destination"), item, m)
		w, wv, hasWeight := o.int("weight", 0)
		o.skip("headers", "holdfast does not add, set or remove headers")
		o.done()
		if t == nil {
			continue
		}
		if !hasWeight {
			w, wv = -1, item // not given
		}
		out = append(out, weighted{to: t, weight: w})
		weights = append(weights, wv)
	}
	return fitWeights(v, out, weights)
}

// readDestination returns the upstream of an Istio Destination.
func (imp *importer) readDestination(o *object, at value, m meta) *target {
	if o == nil {
		at.notTranslated("no destination; left out")
		return nil
	}
	host, hv, ok := o.str("host")
	subset, _, _ := o.str("subset")
	port := 0
	if p := o.obj("port"); p != nil {
		port, _, _ = p.int("number", 1)
		if port > 65535 {
			port = 0
		}
		p.done()
	}
	o.done()
	switch {
	case !ok:
		o.value.notTranslated("no host; the destination is left out")
		return nil
	case !validHost(host):
		hv.notTranslated("%q is not a host name holdfast can send to; the destination is left out", host)
		return nil
	}
	return imp.target(o.value, host, m.namespace, subset, port)
}

// validHost reports whether h can be the host of an endpoint URL: a DNS
// name or an IPv4 address. (Wildcards name no one service.)
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// fitWeights turns Istio's weights into a holdfast split: a lone
// destination takes everything; weight 0 takes nothing; weights left out
// of every destination share equally; the same upstream twice adds up.
func fitWeights(v value, ws []weighted, at []value) []weighted {
	if len(ws) <= 1 {
		if len(ws) == 1 {
			ws[0].weight = 1
		}
		return ws
	}
	given := false
	for _, w := range ws {
		given = given || w.weight > 0
	}
	var out []weighted
	index := map[*target]int{}
	maxW := 0
	for i, w := range ws {
		switch {
		case !given:
			w.weight = 1
		case w.weight <= 0:
			at[i].note("weight 0 sends this destination nothing; it is left out of the split")
			continue
		}
		if j, ok := index[w.to]; ok {
			out[j].weight += w.weight
		} else {
			index[w.to] = len(out)
			out = append(out, w)
		}
		maxW = max(maxW, out[index[w.to]].weight)
	}
	if !given {
		v.note("no destination has a weight: they share the traffic equally")
	}
	if maxW > config.MaxSplitWeight {
		div := (maxW + config.MaxSplitWeight - 1) / config.MaxSplitWeight
		for i := range out {
			out[i].weight = max(1, out[i].weight/div)
		}
		v.note("weights are scaled down by %d to holdfast's largest, %d", div, config.MaxSplitWeight)
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
