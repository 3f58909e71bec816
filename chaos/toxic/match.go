package toxic

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/holdfast-dev/holdfast"
)

// match limits an HTTP toxic to some requests. Every condition given must
// hold; an empty match (or none) takes every request. It is the "match"
// attribute of every HTTP toxic:
//
//	"match": {"methods": ["GET"], "path_prefix": "/api", "headers": {"X-Canary": "1"}}
//
// A header condition with an empty value only asks for the header to be
// present.
type match struct {
	Methods    []string          `json:"methods,omitempty"`
	PathPrefix string            `json:"path_prefix,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
}

// parseMatch reads the "match" attribute.
func parseMatch(a *attrs) *match {
	raw, ok := a.take("match")
	if !ok {
		return nil
	}
	if b := bytes.TrimSpace(raw); len(b) == 0 || b[0] != '{' {
		a.fail("match", "must be an object, got %s", short(raw))
		return nil
	}
	sub, err := newAttrs(a.prefix+"match.", raw)
	if err != nil {
		a.errs = append(a.errs, err)
		return nil
	}
	m := &match{PathPrefix: sub.str("path_prefix", "")}
	if m.PathPrefix != "" && !strings.HasPrefix(m.PathPrefix, "/") {
		sub.fail("path_prefix", "must start with /, got %q", m.PathPrefix)
	}
	if v, ok := sub.take("methods"); ok {
		if err := json.Unmarshal(v, &m.Methods); err != nil {
			sub.fail("methods", "must be an array of strings, got %s", short(v))
		}
		for i, meth := range m.Methods {
			m.Methods[i] = strings.ToUpper(meth)
			if !isToken(meth) {
				sub.errs = append(sub.errs, holdfast.ConfigErrorf("toxic", sub.prefix+"methods", "bad method %q", meth))
			}
		}
	}
	if h := sub.strMap("headers"); len(h) > 0 {
		m.Headers = make(map[string]string, len(h))
		names := make([]string, 0, len(h))
		for k := range h {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if !isToken(k) {
				sub.fail("headers", "bad header name %q", k)
				continue
			}
			m.Headers[http.CanonicalHeaderKey(k)] = h[k]
		}
	}
	if err := sub.finish(); err != nil {
		a.errs = append(a.errs, err)
	}
	if len(m.Methods) == 0 && m.PathPrefix == "" && len(m.Headers) == 0 {
		return nil
	}
	return m
}

// matches reports whether r meets every condition of m; a nil m takes all.
func (m *match) matches(r *http.Request) bool {
	if m == nil {
		return true
	}
	if len(m.Methods) > 0 {
		found := false
		for _, meth := range m.Methods {
			if r.Method == meth {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if m.PathPrefix != "" && !strings.HasPrefix(r.URL.Path, m.PathPrefix) {
		return false
	}
	for k, want := range m.Headers {
		got, ok := r.Header[k]
		if !ok || (want != "" && !containsValue(got, want)) {
			return false
		}
	}
	return true
}

func containsValue(vals []string, want string) bool {
	for _, v := range vals {
		if v == want {
			return true
		}
	}
	return false
}

// isToken reports whether s is an RFC 9110 token (a method or header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}
