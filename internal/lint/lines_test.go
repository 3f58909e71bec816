package lint

import "testing"

func TestLintIndexLines(t *testing.T) {
	src := `listen: 127.0.0.1:8080
defaults: &d
  attempts: 2
routes:
  - name: a
    retry: *d
  - {name: b, hedge: {delay: 1s}}
`
	l := IndexLines([]byte(src))
	tests := []struct {
		path string
		line int
		has  bool
	}{
		{"listen", 1, true},
		{"routes", 4, true},
		{"routes[0]", 5, true},
		{"routes[0].name", 5, true},
		{"routes[0].retry", 6, true},
		{"routes[0].retry.attempts", 3, true}, // inside the alias: the anchor's line
		{"routes[0].timeout", 5, false},       // left out: its route's line
		{"routes[1].hedge.delay", 7, true},
		{"routes[1].hedge.max_extra", 7, false},
		{"upstreams.x", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		if got := l.Line(tt.path); got != tt.line {
			t.Errorf("Line(%q) = %d; want %d", tt.path, got, tt.line)
		}
		if got := l.Has(tt.path); got != tt.has {
			t.Errorf("Has(%q) = %v; want %v", tt.path, got, tt.has)
		}
	}
	if got := l.key("routes[0].timeout", "routes[0].retry", "routes[0]"); got != "routes[0].retry" {
		t.Errorf("key = %q; want the first key the file has, routes[0].retry", got)
	}
	if got := l.key("routes[0].timeout", "routes[9]"); got != "routes[9]" {
		t.Errorf("key = %q; want the last key when the file has none, routes[9]", got)
	}
}

func TestLintIndexLinesOfBadYAML(t *testing.T) {
	for _, src := range []string{"", "a: [", "*x", "- a\n- : : :"} {
		l := IndexLines([]byte(src))
		if got := l.Line("a"); got != 0 {
			t.Errorf("IndexLines(%q).Line(a) = %d; want 0", src, got)
		}
	}
}
