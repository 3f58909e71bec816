package vote

import (
	"encoding/json"
	"strings"
	"testing"
)

var jsonTests = []struct {
	name string
	opts JSONOptions
	a, b string
	want bool
}{
	{name: "identical", a: `{"a":1}`, b: `{"a":1}`, want: true},
	{name: "member order and spaces", a: `{"a":1,"b":[1,2]}`, b: ` { "b" : [1, 2], "a" : 1 } `, want: true},
	{name: "different value", a: `{"a":1}`, b: `{"a":2}`, want: false},
	{name: "extra member", a: `{"a":1}`, b: `{"a":1,"b":2}`, want: false},
	{name: "numbers by value", a: `[1, 1.0, 10e-1, 0.1e1, -0, 0e5, 1E2]`, b: `[1, 1, 1, 1, 0, 0, 100]`, want: true},
	{name: "big integers stay exact", a: `9007199254740993`, b: `9007199254740992`, want: false},
	{name: "decimals stay exact", a: `0.30000000000000004`, b: `0.3`, want: false},
	{name: "string escapes", a: `"A\u00e9"`, b: `"Aé"`, want: true},
	{name: "number is not string", a: `1`, b: `"1"`, want: false},
	{name: "null vs missing", a: `{"a":null}`, b: `{}`, want: false},
	{name: "array order matters", a: `[1,2]`, b: `[2,1]`, want: false},
	{name: "ignore a member", opts: JSONOptions{Ignore: []string{"/ts"}}, a: `{"v":1,"ts":5}`, b: `{"v":1,"ts":6}`, want: true},
	{name: "ignored member may be absent", opts: JSONOptions{Ignore: []string{"/ts"}}, a: `{"v":1,"ts":5}`, b: `{"v":1}`, want: true},
	{name: "ignore is not everything", opts: JSONOptions{Ignore: []string{"/ts"}}, a: `{"v":1,"ts":5}`, b: `{"v":2,"ts":5}`, want: false},
	{name: "ignore nested", opts: JSONOptions{Ignore: []string{"/meta/id"}}, a: `{"meta":{"id":1,"x":2}}`, b: `{"meta":{"id":9,"x":2}}`, want: true},
	{name: "ignore an array element", opts: JSONOptions{Ignore: []string{"/a/1"}}, a: `{"a":[1,2,3]}`, b: `{"a":[1,9,3]}`, want: true},
	{name: "ignored element keeps length", opts: JSONOptions{Ignore: []string{"/a/1"}}, a: `{"a":[1,2]}`, b: `{"a":[1]}`, want: false},
	{name: "escaped pointer", opts: JSONOptions{Ignore: []string{"/a~1b/m~0n"}}, a: `{"a/b":{"m~n":1}}`, b: `{"a/b":{"m~n":2}}`, want: true},
	{name: "wildcard over elements", opts: JSONOptions{Ignore: []string{"/items/*/ts"}},
		a: `{"items":[{"id":1,"ts":1},{"id":2,"ts":2}]}`, b: `{"items":[{"id":1,"ts":7},{"id":2}]}`, want: true},
	{name: "wildcard over members", opts: JSONOptions{Ignore: []string{"/*/ts"}}, a: `{"x":{"ts":1},"y":{"ts":2}}`, b: `{"x":{"ts":3},"y":{"ts":4}}`, want: true},
	{name: "ignore the whole document", opts: JSONOptions{Ignore: []string{""}}, a: `{"a":1}`, b: `[2]`, want: true},
	{name: "unordered array", opts: JSONOptions{Unordered: []string{"/tags"}}, a: `{"tags":["a","b","a"]}`, b: `{"tags":["b","a","a"]}`, want: true},
	{name: "unordered is a multiset", opts: JSONOptions{Unordered: []string{"/tags"}}, a: `{"tags":["a","b","b"]}`, b: `{"tags":["b","a","a"]}`, want: false},
	{name: "unordered objects under ignore", opts: JSONOptions{Unordered: []string{"/items"}, Ignore: []string{"/items/*/ts"}},
		a: `{"items":[{"id":1,"ts":1},{"id":2,"ts":2}]}`, b: `{"items":[{"ts":9,"id":2},{"id":1,"ts":8}]}`, want: true},
	{name: "index pointers miss unordered elements", opts: JSONOptions{Unordered: []string{"/items"}, Ignore: []string{"/items/0/ts"}},
		a: `{"items":[{"id":1,"ts":1}]}`, b: `{"items":[{"id":1,"ts":2}]}`, want: false},
	{name: "outer unordered only", opts: JSONOptions{Unordered: []string{""}}, a: `[[1,2],[3,4]]`, b: `[[4,3],[2,1]]`, want: false},
	{name: "nested unordered", opts: JSONOptions{Unordered: []string{"", "/*"}}, a: `[[1,2],[3,4]]`, b: `[[4,3],[2,1]]`, want: true},
	{name: "unordered at a non-array is a no-op", opts: JSONOptions{Unordered: []string{"/a"}}, a: `{"a":{"x":1}}`, b: `{"a":{"x":1}}`, want: true},
	{name: "invalid equals identical invalid", a: `{"a":`, b: `{"a":`, want: true},
	{name: "invalid differs from different invalid", a: `{"a":`, b: `{"a": `, want: false},
	{name: "invalid differs from valid", a: `{"a":`, b: `{"a":1}`, want: false},
	{name: "trailing data is invalid", a: `{} {}`, b: `{}`, want: false},
	{name: "empty input is invalid", a: ``, b: ` `, want: false},
}

func TestJSONBytes(t *testing.T) {
	for _, tt := range jsonTests {
		t.Run(tt.name, func(t *testing.T) {
			eq := MustJSON[[]byte](tt.opts)
			if got := eq([]byte(tt.a), []byte(tt.b)); got != tt.want {
				t.Errorf("equal(%s, %s) = %v; want %v", tt.a, tt.b, got, tt.want)
			}
			if got := eq([]byte(tt.b), []byte(tt.a)); got != tt.want {
				t.Errorf("equal(%s, %s) = %v; want %v (symmetry)", tt.b, tt.a, got, tt.want)
			}
			raw := MustJSON[json.RawMessage](tt.opts)
			if got := raw(json.RawMessage(tt.a), json.RawMessage(tt.b)); got != tt.want {
				t.Errorf("RawMessage equal = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestJSONValues(t *testing.T) {
	type item struct {
		ID   int      `json:"id"`
		Tags []string `json:"tags"`
		At   int64    `json:"at"`
	}
	eq := MustJSON[item](JSONOptions{Ignore: []string{"/at"}, Unordered: []string{"/tags"}})
	tests := []struct {
		a, b item
		want bool
	}{
		{item{1, []string{"x", "y"}, 10}, item{1, []string{"y", "x"}, 20}, true},
		{item{1, []string{"x"}, 10}, item{2, []string{"x"}, 10}, false},
		{item{1, nil, 0}, item{1, []string{}, 0}, false}, // null is not []
	}
	for _, tt := range tests {
		if got := eq(tt.a, tt.b); got != tt.want {
			t.Errorf("equal(%+v, %+v) = %v; want %v", tt.a, tt.b, got, tt.want)
		}
	}
	// Values that cannot be marshalled fall back to reflect.DeepEqual.
	funcs := MustJSON[any](JSONOptions{})
	ch := make(chan int)
	if !funcs(ch, ch) || funcs(ch, make(chan int)) || funcs(ch, 1) || funcs(1, ch) {
		t.Error("unmarshallable values: want equal only to themselves")
	}
}

func TestJSONOptionsValidate(t *testing.T) {
	err := JSONOptions{Ignore: []string{"/ok", "bad"}, Unordered: []string{"/~2"}}.Validate()
	want := "vote.json.ignore[1]: invalid JSON pointer \"bad\": must be empty or start with \"/\"\n" +
		"vote.json.unordered[0]: invalid JSON pointer \"/~2\": \"~\" must be followed by \"0\" or \"1\""
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v; want %s", err, want)
	}
	if _, err := JSON[[]byte](JSONOptions{Ignore: []string{"x"}}); err == nil {
		t.Error("JSON with an invalid pointer: want an error")
	}
}

func TestCanonicalNumber(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0", "0"}, {"-0", "0"}, {"0.000", "0"}, {"0e-7", "0"},
		{"1", "1e0"}, {"10", "1e1"}, {"100", "1e2"}, {"1.5", "15e-1"}, {"1.50", "15e-1"}, {"0.015", "15e-3"},
		{"-2.5E+3", "-25e2"}, {"12e-1", "12e-1"}, {"1e99999999999999999999", "n1e99999999999999999999"},
	}
	for _, tt := range tests {
		if got := canonicalNumber(tt.in); got != tt.want {
			t.Errorf("canonicalNumber(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzJSONCompare checks that the comparator never panics and is reflexive
// and symmetric, under ignore and unordered pointers taken from the input.
func FuzzJSONCompare(f *testing.F) {
	for _, tt := range jsonTests {
		f.Add(tt.a, tt.b, strings.Join(tt.opts.Ignore, ","), strings.Join(tt.opts.Unordered, ","))
	}
	f.Fuzz(func(t *testing.T, a, b, ignore, unordered string) {
		var opts JSONOptions
		for _, p := range strings.Split(ignore, ",") {
			if _, err := parsePointer(p); err == nil {
				opts.Ignore = append(opts.Ignore, p)
			}
		}
		for _, p := range strings.Split(unordered, ",") {
			if _, err := parsePointer(p); err == nil {
				opts.Unordered = append(opts.Unordered, p)
			}
		}
		eq, err := JSON[[]byte](opts)
		if err != nil {
			t.Fatalf("JSON(%+v): %v", opts, err)
		}
		ab, ba := eq([]byte(a), []byte(b)), eq([]byte(b), []byte(a))
		if ab != ba {
			t.Errorf("equal(%q, %q) = %v but equal(%q, %q) = %v", a, b, ab, b, a, ba)
		}
		if !eq([]byte(a), []byte(a)) {
			t.Errorf("equal(%q, %q) = false; want true", a, a)
		}
		if a == b && !ab {
			t.Errorf("identical inputs %q unequal", a)
		}
	})
}
