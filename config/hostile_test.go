package config

import (
	"strings"
	"testing"
)

// A config file that cannot hurt the running proxy: each of these is
// refused with the key (or line) named, in bounded time and memory, by
// Parse, which both `holdfast validate` and every reload go through.

var hostileConfigs = []struct {
	name string
	src  string
	want []string // prefixes of the first errors, in order
}{
	{"replay buffer at the int64 maximum", base + "    retry: {max_body_bytes: 9223372036854775807}\n", []string{`routes[0].retry.max_body_bytes (line 8): must be in [0, 1073741824] (1 GiB); got 9223372036854775807`}},
	{"replay buffer past 1 GiB", base + "    retry: {max_body_bytes: 1073741825}\n", []string{`routes[0].retry.max_body_bytes (line 8): must be in [0, 1073741824]`}},
	{"header bytes at the int64 maximum", "limits: {max_header_bytes: 9223372036854775807}\n" + base, []string{`limits.max_header_bytes (line 1): must be in [1, 1048576] (1 MiB); got 9223372036854775807`}},
	{"header bytes past 1 MiB", "limits: {max_header_bytes: 1048577}\n" + base, []string{`limits.max_header_bytes (line 1): must be in [1, 1048576]`}},
	{"header count at the int64 maximum", "limits: {max_headers: 9223372036854775807}\n" + base, []string{`limits.max_headers (line 1): must be in [1, 10000]; got 9223372036854775807`}},
	{"split weights that overflow their sum", "upstreams:\n  a:\n    endpoints: [{address: http://127.0.0.1:1}]\nroutes:\n  - name: r\n    split: [{upstream: a, weight: 4611686018427387904}, {upstream: a, weight: 4611686018427387904}]\n",
		[]string{`routes[0].split[0].weight (line 6): must be in [1, 1048576]; got 4611686018427387904`, `routes[0].split[1].weight (line 6): must be in [1, 1048576]`}},
	// A type error in listen is reported with the rest of the file's
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
	{"password in a wrongly typed value", base + "    timeout: 'http://user:s3cr3t@h'\n", []string{`routes[0].timeout (line 8): must be a duration such as 250ms or 2s; got "http://user:xxxxx@h"`}},
}

func TestParseRefusesHostileFiles(t *testing.T) {
	for _, tt := range hostileConfigs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src))
			if err == nil {
				t.Fatal("Parse succeeded; want errors")
			}
			es, ok := err.(Errors)
			if !ok {
				t.Fatalf("error type %T; want Errors", err)
			}
			if len(es) < len(tt.want) {
				t.Fatalf("got %d errors:\n%v\nwant at least %d", len(es), err, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(es[i].Error(), w) {
					t.Errorf("error %d = %q; want prefix %q\nall:\n%v", i, es[i].Error(), w, err)
				}
			}
			for _, e := range es {
				if strings.Contains(e.Error(), "s3cr3t") || strings.Contains(e.Msg, "s3cr3t") || strings.Contains(e.Msg, "r3t@") {
					t.Errorf("error %q shows the password", e.Error())
				}
			}
		})
	}
}
