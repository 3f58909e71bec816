package proxy

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/holdfast-dev/holdfast/config"
)

// matcher is a compiled [config.Match].
type matcher struct {
	path    string
	prefix  string
	re      *regexp.Regexp
	methods []string
	headers []headerMatcher
}

type headerMatcher struct {
	name    string // canonical
	exact   string
	re      *regexp.Regexp
	present *bool
}

func compileMatch(m config.Match) (*matcher, error) {
	c := &matcher{path: m.Path, prefix: m.PathPrefix}
	if m.PathRegex != "" {
		re, err := regexp.Compile("^(?:" + m.PathRegex + ")$")
		if err != nil {
			return nil, fmt.Errorf("path_regex: %v", err)
		}
		c.re = re
	}
	for _, meth := range m.Methods {
		c.methods = append(c.methods, strings.ToUpper(meth))
	}
	for i, h := range m.Headers {
		hm := headerMatcher{name: http.CanonicalHeaderKey(h.Name), exact: h.Exact, present: h.Present}
		if h.Regex != "" {
			re, err := regexp.Compile("^(?:" + h.Regex + ")$")
			if err != nil {
				return nil, fmt.Errorf("headers[%d].regex: %v", i, err)
			}
			hm.re = re
		}
		c.headers = append(c.headers, hm)
	}
	return c, nil
}

func (m *matcher) match(r *http.Request) bool {
	p := r.URL.Path
	if m.path != "" && p != m.path {
		return false
	}
	if m.prefix != "" && !strings.HasPrefix(p, m.prefix) {
		return false
	}
	if m.re != nil && !m.re.MatchString(p) {
		return false
	}
	if len(m.methods) > 0 {
		ok := false
		for _, meth := range m.methods {
			if meth == r.Method {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for i := range m.headers {
		if !m.headers[i].match(r.Header) {
			return false
		}
	}
	return true
}

func (h *headerMatcher) match(hdr http.Header) bool {
	vs, ok := hdr[h.name]
	if h.present != nil && *h.present != ok {
		return false
	}
	if h.exact == "" && h.re == nil {
		return true
	}
	for _, v := range vs {
		if (h.exact != "" && v == h.exact) || (h.re != nil && h.re.MatchString(v)) {
			return true
		}
	}
	return false
}
