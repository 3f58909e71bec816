package yamlpath

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var pathTests = []struct {
	path, key string
	i         int
	joined    string // Join(path, key)
	indexed   string // Index(path, i)
}{
	{"", "routes", 0, "routes", "[0]"},
	{"routes", "name", 2, "routes.name", "routes[2]"},
	{"routes[2]", "retry", 10, "routes[2].retry", "routes[2][10]"},
	{"upstreams.a", "endpoints", 1, "upstreams.a.endpoints", "upstreams.a[1]"},
}

func TestJoinAndIndex(t *testing.T) {
	for _, tt := range pathTests {
		if got := Join(tt.path, tt.key); got != tt.joined {
			t.Errorf("Join(%q, %q) = %q; want %q", tt.path, tt.key, got, tt.joined)
		}
		if got := Index(tt.path, tt.i); got != tt.indexed {
			t.Errorf("Index(%q, %d) = %q; want %q", tt.path, tt.i, got, tt.indexed)
		}
	}
}

func TestAppend(t *testing.T) {
	tests := []struct{ path, rel, want string }{
		{"routes[0].retry.retry_on", "", "routes[0].retry.retry_on"},
		{"routes[0].retry.retry_on", "[1]", "routes[0].retry.retry_on[1]"},
		{"routes[0].fallback", "on[2]", "routes[0].fallback.on[2]"},
		{"", "listen", "listen"},
		{"", "[0]", "[0]"},
	}
	for _, tt := range tests {
		if got := Append(tt.path, tt.rel); got != tt.want {
			t.Errorf("Append(%q, %q) = %q; want %q", tt.path, tt.rel, got, tt.want)
		}
	}
}

func TestParent(t *testing.T) {
	tests := []struct{ path, want string }{
		{"routes[2].retry.budget.ratio", "routes[2].retry.budget"},
		{"routes[2].retry", "routes[2]"},
		{"routes[2]", "routes"},
		{"routes", ""},
		{"", ""},
		{"[0]", ""},
		{".a", ""},
	}
	for _, tt := range tests {
		if got := Parent(tt.path); got != tt.want {
			t.Errorf("Parent(%q) = %q; want %q", tt.path, got, tt.want)
		}
	}
}

func TestLines(t *testing.T) {
	var l Lines
	if got := l.Line("routes[0]"); got != 0 {
		t.Errorf("Line of an empty Lines = %d; want 0", got)
	}
	l.Set("routes", 4)
	l.Set("routes[0]", 5)
	l.Set("routes[0].retry", 9)
	l.Set("routes[0].retry", 12) // a second set keeps the first line
	tests := []struct {
		path string
		want int
	}{
		{"routes[0].retry", 9},
		{"routes[0].retry.attempts", 9}, // left to its default: the block's line
		{"routes[0].timeout", 5},
		{"routes[1]", 4},
		{"listen", 0},
		{"", 0},
	}
	for _, tt := range tests {
		if got := l.Line(tt.path); got != tt.want {
			t.Errorf("Line(%q) = %d; want %d", tt.path, got, tt.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		src  string
		want string
	}{
		{"{a: 1}", "a mapping"},
		{"[1, 2]", "a list"},
		{"x", `"x"`},
		{`"a\"b"`, `"a\"b"`},
	}
	for _, tt := range tests {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(tt.src), &n); err != nil {
			t.Fatal(err)
		}
		if got := Describe(n.Content[0]); got != tt.want {
			t.Errorf("Describe(%s) = %s; want %s", tt.src, got, tt.want)
		}
	}
}

var known = []string{"listen", "admin", "limits", "routes", "retry_on", "retriable_statuses", "timeout"}

var suggestTests = []struct{ key, want string }{
	{"listn", ` (did you mean "listen"?)`},
	{"timout", ` (did you mean "timeout"?)`},
	{"retyr_on", ` (did you mean "retry_on"?)`},
	{"route", ` (did you mean "routes"?)`},
	{"zzzzzz", ""},
	{"", ""},
}

func TestSuggest(t *testing.T) {
	for _, tt := range suggestTests {
		if got := Suggest(tt.key, slices.Values(known)); got != tt.want {
			t.Errorf("Suggest(%q) = %q; want %q", tt.key, got, tt.want)
		}
	}
	// Two keys equally near: the first in order, whatever the map's order.
	ties := map[string]bool{"ab": true, "cb": true, "bb": true}
	for range 20 {
		if got := Suggest("xb", maps.Keys(ties)); got != ` (did you mean "ab"?)` {
			t.Fatalf("Suggest(xb) among %v = %q; want ab", ties, got)
		}
	}
}

// FuzzPaths checks that Parent undoes Join and Index for keys that hold
// neither separator, and that Suggest names one of the nearest keys it was
// given, at most two edits away, or none when none is.
func FuzzPaths(f *testing.F) {
	for _, tt := range pathTests {
		f.Add(tt.path, tt.key, tt.i)
	}
	for _, tt := range suggestTests {
		f.Add("routes", tt.key, 0)
	}
	f.Fuzz(func(t *testing.T, path, key string, i int) {
		if path != "" && !strings.ContainsAny(key, ".[") {
			if got := Parent(Join(path, key)); got != path {
				t.Errorf("Parent(Join(%q, %q)) = %q; want %q", path, key, got, path)
			}
		}
		if path != "" {
			if got := Parent(Index(path, i)); got != path {
				t.Errorf("Parent(Index(%q, %d)) = %q; want %q", path, i, got, path)
			}
		}
		keys := slices.Clone(known)
		if path != "" {
			keys = append(keys, path)
		}
		nearest := maxSuggestDistance
		for _, k := range keys {
			nearest = min(nearest, editDistance(key, k))
		}
		got := Suggest(key, slices.Values(keys))
		if nearest == maxSuggestDistance {
			if got != "" {
				t.Errorf("Suggest(%q) = %q; want none, no key is within two edits", key, got)
			}
			return
		}
		ok := false
		for _, k := range keys {
			if editDistance(key, k) == nearest && got == fmt.Sprintf(" (did you mean %q?)", k) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("Suggest(%q) = %q; want one of the keys %d edits away", key, got, nearest)
		}
	})
}
