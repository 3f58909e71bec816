package lint

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/retry"
)

// lintEdges runs the rules about each pair of routes where one calls the
// other: timeouts that invert, long-lived streams one side cuts, and
// requests no route of the called file takes. A called route is reported
// once per rule, naming the caller that shows it most (the one that waits
// least) and counting the others, however many routes call it.
func lintEdges(out *findings, g *graph) {
	inversions := map[[2]int]*callers{}
	mismatches := map[[2]int]*callers{}
	for _, e := range g.edges {
		of := g.files[e.from.file]
		outer := cfg(of).Routes[e.from.route]
		if len(e.inner) == 0 && !e.partial {
			out.add(e.from.file, of, Warning, RuleLinkNoRoute, targets(e.from.file, e.from.route, outer)[max(e.from.split, 0)].key,
				"upstream %q calls %s, where no route takes the requests of %s%s: they get 404 no_route there",
				e.upstream, g.files[e.to].Name, routeKey(e.from.route), describeMatch(outer.Match))
			continue
		}
		c, _ := retryConfig(outer)
		wait := outer.Timeout
		if c.PerTryTimeout > 0 && c.PerTryTimeout < wait {
			wait = c.PerTryTimeout
		}
		for _, ii := range e.inner {
			inner := cfg(g.files[e.to]).Routes[ii]
			at := [2]int{e.to, ii}
			if inner.Timeout > wait {
				inversions[at] = inversions[at].add(caller{e.from, wait, c})
			}
			if inner.LongLived != outer.LongLived {
				mismatches[at] = mismatches[at].add(caller{e.from, wait, c})
			}
		}
	}
	for at, cs := range inversions {
		timeoutInversion(out, g, at[0], at[1], cs)
	}
	for at, cs := range mismatches {
		longLivedMismatch(out, g, at[0], at[1], cs)
	}
}

// caller is a route target that calls a route, with how long it waits
// for it and its retry config.
type caller struct {
	ref  targetRef
	wait time.Duration
	c    retry.Config
}

// callers are the routes a rule found calling one route: the first that
// waits least, and every one (a route calls once, whatever its split).
type callers struct {
	worst caller
	all   map[[2]int]bool
}

// add counts c into cs, which may be nil.
func (cs *callers) add(c caller) *callers {
	if cs == nil {
		cs = &callers{worst: c, all: map[[2]int]bool{}}
	}
	cs.all[[2]int{c.ref.file, c.ref.route}] = true
	if c.wait < cs.worst.wait {
		cs.worst = c
	}
	return cs
}

// others says how many more routes call this one: "", or " (and 2 other
// routes that call it)".
func (cs *callers) others() string {
	switch n := len(cs.all); n {
	case 1:
		return ""
	case 2:
		return " (and 1 other route that calls it)"
	default:
		return fmt.Sprintf(" (and %d other routes that call it)", n-1)
	}
}

// timeoutInversion: the called route's timeout is longer than the time a
// caller waits for it, the caller's route timeout or its per_try_timeout.
func timeoutInversion(out *findings, g *graph, fi, ri int, cs *callers) {
	f := g.files[fi]
	r := cfg(f).Routes[ri]
	cf, ci := g.files[cs.worst.ref.file], cs.worst.ref.route
	key := routeKey(ri) + ".timeout"
	if c := cs.worst.c; c.PerTryTimeout > 0 && c.PerTryTimeout == cs.worst.wait {
		out.add(fi, f, Error, RuleTimeoutInversion, key,
			"%s%s is longer than the per_try_timeout %s of %s, which calls this route%s: the caller's attempt gives up and retries while this hop still works on the last one, so this hop can hold up to %d requests for one of the caller's (make it shorter than per_try_timeout)",
			r.Timeout, defaulted(f, key), c.PerTryTimeout, routeName(cf, ci), cs.others(), max(c.Attempts, 1))
		return
	}
	out.add(fi, f, Error, RuleTimeoutInversion, key,
		"%s%s is longer than the timeout %s of %s, which calls this route%s: the caller gives up first, and this hop goes on working, and retrying, for an answer no one reads (make it shorter than the caller's)",
		r.Timeout, defaulted(f, key), cs.worst.wait, routeName(cf, ci), cs.others())
}

// longLivedMismatch: one of two linked routes carries long-lived streams
// and the other does not, so the other cuts them at its timeout.
func longLivedMismatch(out *findings, g *graph, fi, ri int, cs *callers) {
	f := g.files[fi]
	r := cfg(f).Routes[ri]
	cf, ci := g.files[cs.worst.ref.file], cs.worst.ref.route
	p := routeKey(ri)
	if !r.LongLived {
		out.add(fi, f, Warning, RuleLongLivedMismatch, f.Lines.key(p+".long_lived", p),
			"%s is long_lived and calls this route%s, which is not: this hop cuts every stream at its timeout %s (set long_lived: true here too)",
			routeName(cf, ci), cs.others(), r.Timeout)
		return
	}
	out.add(fi, f, Warning, RuleLongLivedMismatch, f.Lines.key(p+".long_lived", p),
		"this route is long_lived, but %s, which calls it%s, is not: the caller cuts every stream at its timeout %s (set long_lived: true there too)",
		routeName(cf, ci), cs.others(), cfg(cf).Routes[ci].Timeout)
}

// describeMatch summarizes the conditions of m that decide which routes
// may take its requests: " (path_prefix /a, methods GET)", or "".
func describeMatch(m config.Match) string {
	var parts []string
	if m.Path != "" {
		parts = append(parts, "path "+m.Path)
	}
	if m.PathPrefix != "" {
		parts = append(parts, "path_prefix "+m.PathPrefix)
	}
	if m.PathRegex != "" {
		parts = append(parts, "path_regex "+m.PathRegex)
	}
	if len(m.Methods) > 0 {
		parts = append(parts, "methods "+strings.Join(m.Methods, ", "))
	}
	for _, h := range m.Headers {
		if absent(h) {
			parts = append(parts, "no header "+h.Name)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// Bounds on the walk over paths: each step is one route target on one
// path. Past them the walk stops and says so, rather than take time
// exponential in the number of files.
const maxPathSteps = 100_000

// hop is one route target on a path.
type hop struct {
	t     target
	route *config.Route
}

// pathWalker walks every path a request may take and reports the ones
// whose retries and hedges multiply past the bound, and the links that
// loop.
type pathWalker struct {
	g       *graph
	out     *findings
	bound   float64
	steps   int
	stopped bool
	looped  map[targetRef]bool
	loads   map[targetRef]hopLoad
}

func lintPaths(out *findings, g *graph, bound float64) {
	w := &pathWalker{g: g, out: out, bound: bound, looped: map[targetRef]bool{}, loads: map[targetRef]hopLoad{}}
	// A path starts at a route no other file's route reaches; when every
	// route is reached (the links loop), at every route.
	reached := map[[2]int]bool{}
	for _, e := range g.edges {
		if e.to != e.from.file {
			for _, ii := range e.inner {
				reached[[2]int{e.to, ii}] = true
			}
		}
	}
	for pass := 0; pass < 2; pass++ {
		started := false
		for fi, f := range g.files {
			for ri, r := range cfg(f).Routes {
				if r == nil || (pass == 0 && reached[[2]int{fi, ri}]) {
					continue
				}
				started = true
				for _, t := range targets(fi, ri, r) {
					w.visit([]hop{{t, r}}, []int{fi}, []config.Match{r.Match})
				}
			}
		}
		if started {
			break
		}
	}
	if len(g.files) == 0 {
		return
	}
	if g.match.truncated {
		out.add(0, g.files[0], Warning, RuleTooManyPaths, "",
			"the files' routes make more than %d pairs of a route and a route it calls; the pairs past that were not checked", maxRoutePairs)
	}
	if w.stopped {
		out.add(0, g.files[0], Warning, RuleTooManyPaths, "",
			"the routes make more than %d hops along their paths; the paths past that were not checked for retry amplification or loops", maxPathSteps)
	}
}

// visit follows the last hop of path: on into the files its upstream
// calls, or, when it calls none, to the end of the path.
func (w *pathWalker) visit(path []hop, files []int, matches []config.Match) {
	if w.steps++; w.steps > maxPathSteps {
		w.stopped = true
		return
	}
	last := path[len(path)-1]
	edges := w.g.byTarget[last.t.ref]
	if len(edges) == 0 {
		w.end(path)
		return
	}
	for _, ei := range edges {
		e := w.g.edges[ei]
		if loop := slices.Index(files, e.to); loop >= 0 {
			w.loop(path, files[loop:], e)
			continue
		}
		inf := w.g.files[e.to]
		for _, ii := range e.inner {
			r := cfg(inf).Routes[ii]
			if !w.allOverlap(matches, r.Match) {
				continue
			}
			for _, t := range targets(e.to, ii, r) {
				w.visit(append(path[:len(path):len(path)], hop{t, r}),
					append(files[:len(files):len(files)], e.to),
					append(matches[:len(matches):len(matches)], r.Match))
				if w.stopped {
					return
				}
			}
		}
	}
}

func (w *pathWalker) allOverlap(ms []config.Match, m config.Match) bool {
	for _, x := range ms {
		if !w.g.match.mayOverlap(x, m) {
			return false
		}
	}
	return true
}

// loop reports a target whose upstream calls a file already on the path,
// once per target.
func (w *pathWalker) loop(path []hop, cycle []int, e edge) {
	last := path[len(path)-1]
	if w.looped[last.t.ref] {
		return
	}
	w.looped[last.t.ref] = true
	names := make([]string, 0, len(cycle)+1)
	for _, fi := range cycle {
		names = append(names, w.g.files[fi].Name)
	}
	names = append(names, w.g.files[e.to].Name)
	f := w.g.files[last.t.ref.file]
	w.out.add(last.t.ref.file, f, Error, RuleLinkCycle, last.t.key,
		"upstream %q calls %s, which is already on this path (%s): a request goes round until its timeout, each hop retrying it",
		e.upstream, w.g.files[e.to].Name, strings.Join(names, " → "))
}

// hopLoad is what one route target does to the requests it sends: at
// worst (every attempt, every hedge) and once its budgets bind.
type hopLoad struct {
	worst, budgeted float64
	step            string // for the message: "a.yaml routes[0] (r) 3 attempts × 2 (hedge)"
}

// load returns h's hopLoad, worked out once per target.
func (w *pathWalker) load(h hop) hopLoad {
	if l, ok := w.loads[h.t.ref]; ok {
		return l
	}
	fi, ri := h.t.ref.file, h.t.ref.route
	f := w.g.files[fi]
	n := attempts(h.route)
	ratio, _ := budgetRatio(f, ri, h.route, h.t.upstream)
	l := hopLoad{worst: factor(h.route), budgeted: min(float64(n), 1+ratio),
		step: routeName(f, ri) + " " + plural(n, "attempt")}
	if hd := hedgeOf(h.route); hd.on {
		l.step += fmt.Sprintf(" × %d (hedge)", 1+hd.maxExtra)
		l.budgeted *= 1 + min(float64(hd.maxExtra), hd.budgetPercent/100)
	}
	w.loads[h.t.ref] = l
	return l
}

// end reports a whole path whose retries and hedges multiply one request
// past the bound, at the route the request entered by.
func (w *pathWalker) end(path []hop) {
	worst, budgeted := 1.0, 1.0
	for _, h := range path {
		l := w.load(h)
		worst *= l.worst
		budgeted *= l.budgeted
	}
	if worst <= w.bound {
		return
	}
	steps := make([]string, len(path))
	for i, h := range path {
		steps[i] = w.load(h).step
	}
	first, last := path[0], path[len(path)-1]
	f := w.g.files[first.t.ref.file]
	deepest := fmt.Sprintf("upstream %q of %s", last.t.upstream, w.g.files[last.t.ref.file].Name)
	only := ""
	if keyedOnly(path) {
		only = " (for requests with an Idempotency-Key: the path takes only methods the proxy does not otherwise repeat)"
	}
	w.out.add(first.t.ref.file, f, Error, RuleAmplification, routeKey(first.t.ref.route),
		"one request here may become %s requests to %s, above the bound %s×%s: %s. When that upstream fails, each request here sends it all %s; once every hop's retry and hedge budgets bind, about %s× (their min_per_second floors still let a quiet hop retry every request). Retry at one hop and set attempts: 1 at the others",
		num(worst), deepest, num(w.bound), only, strings.Join(steps, " → "), num(worst), num(budgeted))
}

// keyedOnly reports whether every method the whole path may carry is one
// the proxy repeats only with an Idempotency-Key.
func keyedOnly(path []hop) bool {
	var methods []string // nil: every method
	for _, h := range path {
		ms := h.route.Match.Methods
		if len(ms) == 0 {
			continue
		}
		if methods == nil {
			methods = ms
			continue
		}
		var both []string
		for _, m := range methods {
			if methodsOverlap([]string{m}, ms) {
				both = append(both, m)
			}
		}
		methods = both
	}
	return len(methods) > 0 && len(nonIdempotent(methods)) == len(methods)
}
