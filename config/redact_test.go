package config

import (
	"net/url"
	"strings"
	"testing"
)

var redactTests = []struct{ in, want string }{
	{"no url here", "no url here"},
	{"http://127.0.0.1:9001", "http://127.0.0.1:9001"},
	{"http://user@host", "http://user@host"},
	{"http://user:secret@host", "http://user:xxxxx@host"},
	{`got "http://user:secret@host:80"`, `got "http://user:xxxxx@host:80"`},
	{"got `redis://:secret@host`", "got `redis://:xxxxx@host`"},
	// Go's net/url takes the last '@' and the first ':'.
	{"http://us:er:pa@ss@host/x", "http://us:xxxxx@host/x"},
	// Quoted, a password may hold spaces and escaped quotes.
	{`got "https://u:s3c r3t@h"`, `got "https://u:xxxxx@h"`},
	{`got "https://u:p\"w@h", "http://v:q@h"`, `got "https://u:xxxxx@h", "http://v:xxxxx@h"`},
	// A password with a '/' makes the URL unparseable; hide it anyway.
	{`is not a valid URL: "http://u:pa/ss@h"`, `is not a valid URL: "http://u:xxxxx@h"`},
	// '@' in a path, after a port or with no ':' before the path: no password.
	{"http://host:80/p@x", "http://host:80/p@x"},
	{"http://host/a:b@c", "http://host/a:b@c"},
	{"a http://u:p@h and b https://v:q@k", "a http://u:xxxxx@h and b https://v:xxxxx@k"},
	{"://u:p@h", "://u:xxxxx@h"},
	{"http://u:p@", "http://u:xxxxx@"},
	{"http://", "http://"},
}

func TestRedact(t *testing.T) {
	for _, tt := range redactTests {
		if got := redact(tt.in); got != tt.want {
			t.Errorf("redact(%q) = %q; want %q", tt.in, got, tt.want)
		}
		if got := redact(redact(tt.in)); got != tt.want {
			t.Errorf("redact twice (%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestErrorRedactsWhateverBuiltIt(t *testing.T) {
	e := &Error{Path: "steady_state[0].url", Line: 3, Msg: `bad "http://u:secret@h"`}
	if got, want := e.Error(), `steady_state[0].url (line 3): bad "http://u:xxxxx@h"`; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
}

// FuzzRedact checks that redact never panics, leaves text without "://"
// alone, and leaves no password but "xxxxx" in a URL standing alone.
func FuzzRedact(f *testing.F) {
	for _, tt := range redactTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := redact(s)
		if !strings.Contains(s, "://") && got != s {
			t.Fatalf("redact(%q) = %q; want it unchanged", s, got)
		}
		if strings.ContainsAny(s, " \t\r\n\"`") {
			return // not one URL
		}
		if u, err := url.Parse(got); err == nil && u.Scheme != "" && u.User != nil {
			if p, ok := u.User.Password(); ok && p != redactedPassword {
				t.Fatalf("redact(%q) = %q; shows the password %q", s, got, p)
			}
		}
	})
}
