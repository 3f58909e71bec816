package lint

import (
	"regexp"
	"slices"
	"strings"

	"github.com/holdfast-dev/holdfast/config"
)

// matcher decides, conservatively, whether two routes' matches may take
// the same request: they may unless a condition of one rules out every
// request the other takes (a path, a prefix, a method list, a header that
// must be absent). A route forwards the path, method and headers it
// matched, so the next hop's routes see the same request. The zero value
// is ready to use; it caches compiled path regexes.
type matcher struct {
	re map[string]*regexp.Regexp
	// pairs counts the route pairs compatible has compared; past
	// maxRoutePairs it compares no more and sets truncated.
	pairs     int
	truncated bool
}

// maxRoutePairs bounds the pairs of routes, one calling the other, that
// are compared: a chain of files of a thousand routes each stays below
// it, and two files of a hundred thousand routes each do not take hours.
const maxRoutePairs = 1 << 21

// compatible returns the indexes of the routes that may take a request
// outer takes, in order, stopping after the first that takes every such
// request (the routes after it never see one).
func (m *matcher) compatible(outer config.Match, routes []*config.Route) []int {
	var out []int
	for i, r := range routes {
		if m.pairs++; m.pairs > maxRoutePairs {
			m.truncated = true
			break
		}
		if r == nil || !m.mayOverlap(outer, r.Match) {
			continue
		}
		out = append(out, i)
		if m.covers(r.Match, outer) {
			break
		}
	}
	return out
}

// mayOverlap reports whether some request may satisfy both a and b.
func (m *matcher) mayOverlap(a, b config.Match) bool {
	return methodsOverlap(a.Methods, b.Methods) && m.pathsOverlap(a, b) && m.pathsOverlap(b, a) &&
		headersOverlap(a.Headers, b.Headers)
}

func methodsOverlap(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, x := range a {
		if slices.ContainsFunc(b, func(y string) bool { return strings.EqualFold(x, y) }) {
			return true
		}
	}
	return false
}

// pathsOverlap checks a's exact path and prefix against b's conditions;
// called both ways round, it checks every pair.
func (m *matcher) pathsOverlap(a, b config.Match) bool {
	if a.Path != "" {
		if b.Path != "" && a.Path != b.Path {
			return false
		}
		if b.PathPrefix != "" && !strings.HasPrefix(a.Path, b.PathPrefix) {
			return false
		}
		if b.PathRegex != "" && !m.fullMatch(b.PathRegex, a.Path) {
			return false
		}
	}
	if a.PathPrefix != "" && b.PathPrefix != "" &&
		!strings.HasPrefix(a.PathPrefix, b.PathPrefix) && !strings.HasPrefix(b.PathPrefix, a.PathPrefix) {
		return false
	}
	return true
}

// fullMatch reports whether expr matches all of s, as a route's path_regex
// does. An expression that does not compile (config refuses one) may match.
func (m *matcher) fullMatch(expr, s string) bool {
	re, ok := m.re[expr]
	if !ok {
		re, _ = regexp.Compile(`^(?:` + expr + `)$`)
		if m.re == nil {
			m.re = map[string]*regexp.Regexp{}
		}
		m.re[expr] = re
	}
	return re == nil || re.MatchString(s)
}

// headersOverlap is false only when one side needs a header absent that
// the other needs present: a header may have several values, so two
// different exact values do not rule each other out.
func headersOverlap(a, b []config.HeaderMatch) bool {
	for _, x := range a {
		for _, y := range b {
			if absent(x) != absent(y) && strings.EqualFold(x.Name, y.Name) {
				return false
			}
		}
	}
	return true
}

func absent(h config.HeaderMatch) bool { return h.Present != nil && !*h.Present }

// covers reports whether inner takes every request outer takes.
func (m *matcher) covers(inner, outer config.Match) bool {
	if len(inner.Headers) > 0 {
		return false
	}
	if len(inner.Methods) > 0 {
		if len(outer.Methods) == 0 {
			return false
		}
		for _, x := range outer.Methods {
			if !slices.ContainsFunc(inner.Methods, func(y string) bool { return strings.EqualFold(x, y) }) {
				return false
			}
		}
	}
	switch {
	case inner.Path != "" && outer.Path != inner.Path:
		return false
	case inner.PathPrefix != "" && !strings.HasPrefix(outer.Path, inner.PathPrefix) &&
		(outer.PathPrefix == "" || !strings.HasPrefix(outer.PathPrefix, inner.PathPrefix)):
		return false
	case inner.PathRegex != "" && (outer.Path == "" || !m.fullMatch(inner.PathRegex, outer.Path)):
		return false
	}
	return true
}
