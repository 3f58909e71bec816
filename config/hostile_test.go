package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A config file that cannot hurt the running proxy: each of these is
// refused with the key (or line) named, in bounded time and memory, by
// Parse, which both `holdfast validate` and every reload go through.

// laughs is a "billion laughs" file: a route aliased n times, each with a
// list of n methods, so that some 12·n bytes expand to n² values.
func laughs(n int) string {
	var b strings.Builder
	b.WriteString(base)
	b.WriteString("  - &r {name: r1, upstream: a, match: {methods: &m [GET")
	b.WriteString(strings.Repeat(", GET", n-1))
	b.WriteString("]}}\n")
	for range n {
		b.WriteString("  - *r\n")
	}
	return b.String()
}

// nestedLaughs nests aliases of lists of lists: the methods list of the
// route holds aliases, which yaml accepts there though the walker later
// refuses them; the expansion is what must not happen.
func nestedLaughs(levels int) string {
	var b strings.Builder
	b.WriteString(base)
	b.WriteString("    match:\n      methods: &l0 [GET, GET, GET, GET, GET, GET, GET, GET, GET, GET]\n")
	b.WriteString("    fallback:\n      headers:\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "        h%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	return b.String()
}

// aliasedRetries shares one retry block among n routes through an alias,
// the use aliases are for.
func aliasedRetries(n int) string {
	var b strings.Builder
	b.WriteString("upstreams:\n  a:\n    endpoints: [{address: http://127.0.0.1:9001}]\nroutes:\n")
	b.WriteString("  - name: r0\n    upstream: a\n    retry: &retry {attempts: 3, per_try_timeout: 1s, retry_on: [reset, 5xx], backoff: {base: 10ms, max: 1s}}\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "  - name: r%d\n    upstream: a\n    retry: *retry\n", i)
	}
	return b.String()
}

var hostileConfigs = []struct {
	name string
	src  string
	want []string // prefixes of the first errors, in order
}{
	{"billion laughs", laughs(1000), []string{`routes[101] (line 108): alias *r takes the values that aliases repeat past 100000`}},
	{"nested aliases", nestedLaughs(8), []string{`routes[0].fallback.headers.h4[7] (line 15): alias *l3 takes the values that aliases repeat past 100000`}},
	{"alias of its own list", "upstreams:\n  a:\n    endpoints: &e [*e]\nroutes:\n  - name: r\n    upstream: a\n", []string{`upstreams.a.endpoints[0] (line 3): alias *e names a value that contains it`}},
	{"alias of its own mapping", "upstreams: &u\n  a: *u\nroutes: []\n", []string{`upstreams.a (line 2): alias *u names a value that contains it`}},
	{"second document", base + "---\nroutes: []\n", []string{`line 8: a second YAML document starts here`}},
	{"second document, empty", base + "---\n", []string{`line 8: a second YAML document starts here`}},
	{"second document, broken", base + "---\nroutes: [\n", []string{`line 9: invalid YAML`}},
	{"replay buffer at the int64 maximum", base + "    retry: {max_body_bytes: 9223372036854775807}\n", []string{`routes[0].retry.max_body_bytes (line 8): must be in [0, 1073741824] (1 GiB), got 9223372036854775807`}},
	{"replay buffer past 1 GiB", base + "    retry: {max_body_bytes: 1073741825}\n", []string{`routes[0].retry.max_body_bytes (line 8): must be in [0, 1073741824]`}},
	{"header bytes at the int64 maximum", "limits: {max_header_bytes: 9223372036854775807}\n" + base, []string{`limits.max_header_bytes (line 1): must be in [1, 1048576] (1 MiB), got 9223372036854775807`}},
	{"header bytes past 1 MiB", "limits: {max_header_bytes: 1048577}\n" + base, []string{`limits.max_header_bytes (line 1): must be in [1, 1048576]`}},
	{"header count at the int64 maximum", "limits: {max_headers: 9223372036854775807}\n" + base, []string{`limits.max_headers (line 1): must be in [1, 10000], got 9223372036854775807`}},
	{"negative connection cap", "limits: {max_connections: -1}\n" + base, []string{`limits.max_connections (line 1): must be in [0, 16777216] (0: no cap), got -1`}},
	{"connection cap at the int64 maximum", "limits: {max_connections: 9223372036854775807}\n" + base, []string{`limits.max_connections (line 1): must be in [0, 16777216]`}},
	{"split weights that overflow their sum", "upstreams:\n  a:\n    endpoints: [{address: http://127.0.0.1:1}]\nroutes:\n  - name: r\n    split: [{upstream: a, weight: 4611686018427387904}, {upstream: a, weight: 4611686018427387904}]\n",
		[]string{`routes[0].split[0].weight (line 6): must be in [0, 1048576], got 4611686018427387904`, `routes[0].split[1].weight (line 6): must be in [0, 1048576]`}},
	// A type error in listen is reported with the rest of the file's
	// errors, not alone and not instead of them.
	{"listen of the wrong type", "listen: {a: b}\n" + base + "    timeout: 5\n  - name: r0\n    upstream: b\n", []string{
		`listen (line 1): must be an address or a list of addresses, got a mapping`,
		`routes[0].timeout (line 9): must be a duration with a unit`,
		`routes[1].name (line 10): duplicate route name "r0"`,
		`routes[1].upstream (line 11): unknown upstream "b" (have a)`,
	}},
	{"listen item of the wrong type", "listen: [127.0.0.1:1, [a]]\n" + base + "    timeout: 5\n", []string{
		`listen[1] (line 1): must be a single value, got a list`,
		`routes[0].timeout (line 9): must be a duration with a unit`,
	}},
	{"listen of the wrong type, alone", "listen: {a: b}\n" + base, []string{`listen (line 1): must be an address or a list of addresses, got a mapping`}},
	// Errors quote the values they refuse; never a URL's password.
	{"password in an endpoint", "upstreams:\n  a:\n    endpoints: [{address: 'http://user:s3cr3t@127.0.0.1:1'}]\nroutes:\n  - name: r\n    upstream: a\n",
		[]string{`upstreams.a.endpoints[0].address (line 3): must not carry user information, got "http://user:xxxxx@127.0.0.1:1"`}},
	{"password in an endpoint that does not parse", "upstreams:\n  a:\n    endpoints: [{address: 'http://user:s3cr3t@127.0.0.1:port'}]\nroutes:\n  - name: r\n    upstream: a\n",
		[]string{`upstreams.a.endpoints[0].address (line 3): is not a valid URL: "http://`}},
	{"password with a space in an endpoint", "upstreams:\n  a:\n    endpoints: [{address: 'https://u:s3c r3t@h'}]\nroutes:\n  - name: r\n    upstream: a\n",
		[]string{`upstreams.a.endpoints[0].address (line 3): `}},
	{"password in a wrongly typed value", base + "    timeout: 'http://user:s3cr3t@h'\n", []string{`routes[0].timeout (line 8): must be a duration such as 250ms or 2s, got "http://user:xxxxx@h"`}},
}

func TestParseRefusesHostileFiles(t *testing.T) {
	for _, tt := range hostileConfigs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src))
			es := checkErrors(t, err, tt.want, false)
			for _, e := range es {
				if strings.Contains(e.Error(), "s3cr3t") || strings.Contains(e.Msg, "s3cr3t") || strings.Contains(e.Msg, "r3t@") {
					t.Errorf("error %q shows the password", e.Error())
				}
			}
		})
	}
}

func TestParseAcceptsAliasesWithinTheBound(t *testing.T) {
	// 2,000 routes share a retry block of 12 values: 24,000 repeated.
	c, err := Parse([]byte(aliasedRetries(2000)))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := len(c.Routes); got != 2000 {
		t.Fatalf("got %d routes; want 2000", got)
	}
	r := c.Routes[1999].Retry
	if r.Attempts != 3 || r.RetryOn != (RetryOn{Reset: true, ServerError: true}) || r.Backoff.Max.String() != "1s" {
		t.Errorf("routes[1999].retry = %+v; want the aliased block", r)
	}
}

func TestParseRefusesAFileOverTheSizeLimit(t *testing.T) {
	// Comment lines: a file that would parse, but for its size.
	const line = "# padding padding padding padding padding padding padding padding\n"
	data := []byte(base + strings.Repeat(line, (16<<20)/len(line)+1))
	if len(data) <= 16<<20 {
		t.Fatalf("test file is %d bytes; want more than 16 MiB", len(data))
	}
	_, err := Parse(data)
	if err == nil || !strings.Contains(err.Error(), "at most 16777216 (16 MiB)") {
		t.Errorf("Parse of %d bytes: got %v; want the size refused", len(data), err)
	}
}

func TestLoadRefusesLargeFiles(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	data := []byte(base + strings.Repeat("#\n", 8<<20))
	if err := os.WriteFile(big, data, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, path string }{
		{"a regular file over 16 MiB", big},
		// A device that never ends: read up to the limit, not forever.
		{"/dev/zero", "/dev/zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.path)
			if err == nil {
				t.Fatal("Load succeeded; want an error")
			}
			if want := "read " + tt.path + ": config file larger than 16 MiB"; err.Error() != want {
				t.Errorf("Load: got %q; want %q", err.Error(), want)
			}
		})
	}
}
