package proxy

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/holdfast-dev/holdfast/config"
)

var (
	pnDefault  = config.PathNormalization{EscapedSlashes: config.EscapedSlashesReject, Backslashes: config.BackslashesReject}
	pnMerge    = config.PathNormalization{MergeSlashes: true, EscapedSlashes: config.EscapedSlashesReject, Backslashes: config.BackslashesReject}
	pnKeep     = config.PathNormalization{EscapedSlashes: config.EscapedSlashesKeep, Backslashes: config.BackslashesKeep}
	pnUnescape = config.PathNormalization{EscapedSlashes: config.EscapedSlashesUnescape, Backslashes: config.BackslashesReject}
)

var pathTests = []struct {
	in   string
	pn   *config.PathNormalization
	want string
	err  error
}{
	{"/", &pnDefault, "/", nil},
	{"/a/b/c", &pnDefault, "/a/b/c", nil},
	{"/a/b/", &pnDefault, "/a/b/", nil},
	{"/.well-known/x", &pnDefault, "/.well-known/x", nil},
	{"/a/..b/c.", &pnDefault, "/a/..b/c.", nil},
	// RFC 3986 §5.4's examples that stay inside the path, and §5.2.4's.
	{"/a/b/c/./../../g", &pnDefault, "/a/g", nil},
	{"/mid/content=5/../6", &pnDefault, "/mid/6", nil},
	{"/a/b/c/../..", &pnDefault, "/a/", nil},
	{"/a/b/c/.", &pnDefault, "/a/b/c/", nil},
	{"/..", &pnDefault, "/", nil},
	{"/../../a", &pnDefault, "/a", nil},
	{"/./", &pnDefault, "/", nil},
	{"/a/.", &pnDefault, "/a/", nil},
	{"/a//../b", &pnDefault, "/a/b", nil},
	{"/a//b", &pnDefault, "/a//b", nil},
	// Encoded dots are dots.
	{"/a/%2e%2e/internal", &pnDefault, "/internal", nil},
	{"/a/%2E./internal", &pnDefault, "/internal", nil},
	{"/a/%2e/b", &pnDefault, "/a/b", nil},
	{"/a/%2e%2e%2e/b", &pnDefault, "/a/.../b", nil},
	// Unreserved characters are decoded, other escapes upper-cased.
	{"/%41%62%7e%2d%5f", &pnDefault, "/Ab~-_", nil},
	{"/a%20b/%c3%A9/%3f%25", &pnDefault, "/a%20b/%C3%A9/%3F%25", nil},
	{"/%252e%252e/x", &pnDefault, "/%252e%252e/x", nil}, // not decoded twice
	// Encoded slashes.
	{"/a/..%2finternal", &pnDefault, "", errPathEscapedSlash},
	{"/a%2Fb", &pnDefault, "", errPathEscapedSlash},
	{"/a/..%2finternal", &pnKeep, "/a/..%2Finternal", nil},
	{"/a/..%2finternal", &pnUnescape, "/internal", nil},
	{"/a%2F%2F../b", &pnUnescape, "/a/b", nil},
	// Backslashes.
	{"/a%5Cb", &pnDefault, "", errPathBackslash},
	{`/a\b`, &pnDefault, "", errPathBackslash},
	{"/a%5cb", &pnKeep, "/a%5Cb", nil},
	{"/a%5cb/..", &pnKeep, "/", nil},
	{`/a\..\b`, &pnKeep, `/a%5C..%5Cb`, nil},
	// Merging, after dot segments.
	{"//a///b//", &pnMerge, "/a/b/", nil},
	{"/a//../b", &pnMerge, "/a/b", nil},
	{"//", &pnMerge, "/", nil},
	// Malformed escapes.
	{"/a%2", &pnDefault, "", errPathBadEscape},
	{"/a%zz", &pnDefault, "", errPathBadEscape},
}

func TestNormalizePath(t *testing.T) {
	for _, tt := range pathTests {
		got, err := normalizePath(tt.in, tt.pn)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("normalizePath(%q, %+v) = %q, %v; want %q, %v", tt.in, *tt.pn, got, err, tt.want, tt.err)
		}
	}
}

func TestNormalizePathAllocs(t *testing.T) {
	p := "/catalog/items/42/reviews"
	if n := testing.AllocsPerRun(100, func() { normalizePath(p, &pnMerge) }); n != 0 {
		t.Errorf("normalizePath of a normal path: %v allocations; want 0", n)
	}
	r, _ := http.NewRequest("GET", "http://x"+p+"?q=1", nil)
	if n := testing.AllocsPerRun(100, func() { normalizeRequestPath(r, &pnDefault) }); n != 0 {
		t.Errorf("normalizeRequestPath of a normal path: %v allocations; want 0", n)
	}
}

func TestNormalizeRequestPath(t *testing.T) {
	tests := []struct {
		method, target string
		path, raw      string // URL.Path and RawPath after
		err            error
	}{
		{"GET", "/a/%2e%2e/b%20c", "/b c", "", nil},
		{"GET", "/a/b%2Fc/../d", "/a/b/c/../d", "/a/b%2Fc/../d", errPathEscapedSlash},
		{"OPTIONS", "*", "*", "", nil},
		{"GET", "*", "*", "", errPathStar},
		{"GET", "http://h", "/", "", nil},
		{"GET", "http:opaque", "", "", errPathNotAbsolute},
	}
	for _, tt := range tests {
		u, err := url.ParseRequestURI(tt.target)
		if err != nil {
			t.Fatal(err)
		}
		r := &http.Request{Method: tt.method, URL: u}
		err = normalizeRequestPath(r, &pnDefault)
		if !errors.Is(err, tt.err) {
			t.Errorf("%s %s: error %v; want %v", tt.method, tt.target, err, tt.err)
		}
		if err == nil && (u.Path != tt.path || u.RawPath != tt.raw) {
			t.Errorf("%s %s: Path %q RawPath %q; want %q %q", tt.method, tt.target, u.Path, u.RawPath, tt.path, tt.raw)
		}
	}
}

// FuzzNormalizePath checks normalizePath's promises on any escaped path:
// it never panics; a result is absolute, has no dot segment, no escaped
// unreserved character or lower-case escape, no escaped slash or backslash
// unless kept, is its own normal form, and decodes to the path net/url
// reads from it.
func FuzzNormalizePath(f *testing.F) {
	for i, tt := range pathTests {
		f.Add(tt.in, uint8(i))
	}
	modes := []*config.PathNormalization{&pnDefault, &pnMerge, &pnKeep, &pnUnescape}
	f.Fuzz(func(t *testing.T, p string, mode uint8) {
		if p == "" || p[0] != '/' {
			return
		}
		pn := modes[int(mode)%len(modes)]
		got, err := normalizePath(p, pn)
		if err != nil {
			return
		}
		if got[0] != '/' {
			t.Fatalf("%q: result %q is not absolute", p, got)
		}
		for seg := range strings.SplitSeq(got[1:], "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("%q: result %q has a dot segment", p, got)
			}
		}
		if pn.MergeSlashes && strings.Contains(got, "//") {
			t.Fatalf("%q: result %q has a repeated slash", p, got)
		}
		for i := 0; i < len(got); i++ {
			if got[i] != '%' {
				continue
			}
			esc := got[i : i+3]
			v := byte(unhexByte(esc[1])<<4 | unhexByte(esc[2]))
			if isUnreserved(v) || esc != strings.ToUpper(esc) {
				t.Fatalf("%q: result %q has the escape %s", p, got, esc)
			}
			if v == '/' && pn.EscapedSlashes != config.EscapedSlashesKeep || v == '\\' && pn.Backslashes != config.BackslashesKeep {
				t.Fatalf("%q: result %q has %s", p, got, esc)
			}
		}
		if again, err := normalizePath(got, pn); err != nil || again != got {
			t.Fatalf("%q: normalizing %q again gives %q, %v", p, got, again, err)
		}
		if _, err := url.PathUnescape(got); err != nil {
			t.Fatalf("%q: result %q does not decode: %v", p, got, err)
		}
	})
}
