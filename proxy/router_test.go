package proxy

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/holdfast-dev/holdfast/config"
)

func boolPtr(b bool) *bool { return &b }

var matchTests = []struct {
	name    string
	m       config.Match
	method  string
	target  string
	headers map[string]string
	want    bool
}{
	{"empty matches all", config.Match{}, "POST", "/anything", nil, true},
	{"exact", config.Match{Path: "/a"}, "GET", "/a", nil, true},
	{"exact rejects longer", config.Match{Path: "/a"}, "GET", "/a/b", nil, false},
	{"prefix", config.Match{PathPrefix: "/api"}, "GET", "/api/v1?x=1", nil, true},
	{"prefix is a string prefix", config.Match{PathPrefix: "/api"}, "GET", "/apix", nil, true},
	{"prefix miss", config.Match{PathPrefix: "/api"}, "GET", "/ap", nil, false},
	{"regex whole path", config.Match{PathRegex: `/items/\d+`}, "GET", "/items/42", nil, true},
	{"regex anchored", config.Match{PathRegex: `/items/\d+`}, "GET", "/items/42/x", nil, false},
	{"method", config.Match{Methods: []string{"get", "HEAD"}}, "GET", "/", nil, true},
	{"method miss", config.Match{Methods: []string{"GET"}}, "POST", "/", nil, false},
	{"header exact", config.Match{Headers: []config.HeaderMatch{{Name: "x-env", Exact: "canary"}}}, "GET", "/", map[string]string{"X-Env": "canary"}, true},
	{"header exact miss", config.Match{Headers: []config.HeaderMatch{{Name: "x-env", Exact: "canary"}}}, "GET", "/", map[string]string{"X-Env": "prod"}, false},
	{"header regex", config.Match{Headers: []config.HeaderMatch{{Name: "x-ver", Regex: `v2\..*`}}}, "GET", "/", map[string]string{"X-Ver": "v2.1"}, true},
	{"header present", config.Match{Headers: []config.HeaderMatch{{Name: "x-debug", Present: boolPtr(true)}}}, "GET", "/", map[string]string{"X-Debug": ""}, true},
	{"header absent required", config.Match{Headers: []config.HeaderMatch{{Name: "x-debug", Present: boolPtr(false)}}}, "GET", "/", map[string]string{"X-Debug": "1"}, false},
	{"header missing", config.Match{Headers: []config.HeaderMatch{{Name: "x-env", Exact: "a"}}}, "GET", "/", nil, false},
	{"all conditions", config.Match{PathPrefix: "/c", Methods: []string{"GET"}, Headers: []config.HeaderMatch{{Name: "a", Exact: "1"}}}, "GET", "/cat", map[string]string{"A": "1"}, true},
}

func TestMatcher(t *testing.T) {
	for _, tt := range matchTests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := compileMatch(tt.m)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(tt.method, tt.target, nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			if got := m.match(r); got != tt.want {
				t.Errorf("match(%s %s) = %v; want %v", tt.method, tt.target, got, tt.want)
			}
		})
	}
}

func TestCompileMatchRejectsBadRegex(t *testing.T) {
	if _, err := compileMatch(config.Match{PathRegex: "("}); err == nil || !strings.Contains(err.Error(), "path_regex") {
		t.Errorf("error = %v; want one naming path_regex", err)
	}
	if _, err := compileMatch(config.Match{Headers: []config.HeaderMatch{{Name: "a", Regex: "["}}}); err == nil || !strings.Contains(err.Error(), "headers[0].regex") {
		t.Errorf("error = %v; want one naming headers[0].regex", err)
	}
}

// FuzzMatch checks that no pattern or request panics the matcher, and that a
// path-only exact or prefix matcher agrees with plain string comparison.
func FuzzMatch(f *testing.F) {
	for _, tt := range matchTests {
		f.Add(tt.m.Path, tt.m.PathPrefix, tt.m.PathRegex, tt.method, tt.target)
	}
	f.Fuzz(func(t *testing.T, path, prefix, re, method, target string) {
		m, err := compileMatch(config.Match{Path: path, PathPrefix: prefix, PathRegex: re, Methods: []string{method}})
		if err != nil {
			return
		}
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		r, err := http.NewRequest("GET", "http://h"+target, nil)
		if err != nil {
			return
		}
		r.Method = method
		got := m.match(r)
		if got && path != "" && r.URL.Path != path {
			t.Errorf("matched %q against exact %q", r.URL.Path, path)
		}
		if got && !strings.HasPrefix(r.URL.Path, prefix) {
			t.Errorf("matched %q against prefix %q", r.URL.Path, prefix)
		}
		p, _ := compileMatch(config.Match{PathPrefix: prefix})
		if p.match(r) != strings.HasPrefix(r.URL.Path, prefix) {
			t.Errorf("prefix %q on %q disagrees with strings.HasPrefix", prefix, r.URL.Path)
		}
	})
}

// FuzzMatchHeaders checks header conditions against plain comparisons: an
// exact condition holds exactly when a value is equal, present when the
// header is there at all, and a regex when one value matches it whole. (A
// header entry without a condition, which config validation refuses,
// holds always.)
func FuzzMatchHeaders(f *testing.F) {
	for _, tt := range matchTests {
		for _, h := range tt.m.Headers {
			f.Add(h.Name, h.Exact, h.Regex, tt.headers[http.CanonicalHeaderKey(h.Name)], true)
		}
	}
	f.Add("X-A", "", `v\d`, "v1", false)
	f.Fuzz(func(t *testing.T, name, exact, re, value string, send bool) {
		if name == "" {
			return
		}
		hdr := http.Header{}
		if send {
			hdr[http.CanonicalHeaderKey(name)] = []string{value}
		}
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/"}, Header: hdr}

		if m, err := compileMatch(config.Match{Headers: []config.HeaderMatch{{Name: name, Exact: exact}}}); err != nil {
			t.Fatalf("exact %q: %v", exact, err)
		} else if got, want := m.match(r), exact == "" || send && value == exact; got != want {
			t.Errorf("exact %q on %q (sent %v) = %v; want %v", exact, value, send, got, want)
		}
		for _, present := range []bool{true, false} {
			m, err := compileMatch(config.Match{Headers: []config.HeaderMatch{{Name: name, Present: &present}}})
			if err != nil {
				t.Fatal(err)
			}
			if got := m.match(r); got != (send == present) {
				t.Errorf("present %v with header sent %v = %v", present, send, got)
			}
		}
		m, err := compileMatch(config.Match{Headers: []config.HeaderMatch{{Name: name, Regex: re}}})
		if err != nil {
			return // not RE2
		}
		whole := regexp.MustCompile("^(?:" + re + ")$")
		if got, want := m.match(r), re == "" || send && whole.MatchString(value); got != want {
			t.Errorf("regex %q on %q (sent %v) = %v; want %v", re, value, send, got, want)
		}
	})
}
