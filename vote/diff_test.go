package vote

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDiffJSON(t *testing.T) {
	tests := []struct {
		name string
		opts JSONOptions
		a, b string
		want []Difference
	}{
		{name: "equal", a: `{"a":1,"b":[1,2]}`, b: `{"b":[1,2],"a":1.0}`},
		{name: "one field", a: `{"price":10,"currency":"USD"}`, b: `{"price":11,"currency":"USD"}`,
			want: []Difference{{Pointer: "/price", A: "10", B: "11"}}},
		{name: "missing and extra members", a: `{"a":1,"b":2}`, b: `{"b":2,"c":3}`,
			want: []Difference{{Pointer: "/a", A: "1"}, {Pointer: "/c", B: "3"}}},
		{name: "nested and escaped", a: `{"m/n":{"x~":[1,2]}}`, b: `{"m/n":{"x~":[1,3]}}`,
			want: []Difference{{Pointer: "/m~1n/x~0/1", A: "2", B: "3"}}},
		{name: "type change", a: `{"a":{"x":1}}`, b: `{"a":[1]}`,
			want: []Difference{{Pointer: "/a", A: `{"x":1}`, B: "[1]"}}},
		{name: "longer array", a: `[1]`, b: `[1,2]`, want: []Difference{{Pointer: "/1", B: "2"}}},
		{name: "ignored member", opts: JSONOptions{Ignore: []string{"/ts"}}, a: `{"v":1,"ts":1}`, b: `{"v":2}`,
			want: []Difference{{Pointer: "/v", A: "1", B: "2"}}},
		{name: "ignored element keeps length", opts: JSONOptions{Ignore: []string{"/a/1"}}, a: `{"a":[1,2]}`, b: `{"a":[1]}`,
			want: []Difference{{Pointer: "/a/1", A: "2"}}},
		{name: "unordered equal", opts: JSONOptions{Unordered: []string{"/items"}}, a: `{"items":[1,2,2]}`, b: `{"items":[2,1,2]}`},
		{name: "unordered differs at the array", opts: JSONOptions{Unordered: []string{"/items"}}, a: `{"items":[1,2,2]}`, b: `{"items":[2,1,1]}`,
			want: []Difference{{Pointer: "/items", A: "[1,2,2]", B: "[2,1,1]"}}},
		{name: "whole document", a: `1`, b: `"1"`, want: []Difference{{Pointer: "", A: "1", B: `"1"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DiffJSON([]byte(tt.a), []byte(tt.b), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DiffJSON(%s, %s) (-want +got):\n%s", tt.a, tt.b, diff)
			}
		})
	}
}

func TestDiffJSONBounds(t *testing.T) {
	var a, b strings.Builder
	a.WriteString("[")
	b.WriteString("[")
	for i := range 2 * MaxDifferences {
		if i > 0 {
			a.WriteString(",")
			b.WriteString(",")
		}
		a.WriteString("0")
		b.WriteString("1")
	}
	a.WriteString("]")
	b.WriteString("]")
	got, err := DiffJSON([]byte(a.String()), []byte(b.String()), JSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxDifferences {
		t.Errorf("got %d differences; want %d", len(got), MaxDifferences)
	}
	long := `"` + strings.Repeat("x", 1000) + `"`
	got, _ = DiffJSON([]byte(long), []byte(`1`), JSONOptions{})
	if len(got) != 1 || len(got[0].A) != maxDiffValue+3 || !strings.HasSuffix(got[0].A, "...") {
		t.Errorf("got %+v; want one difference with A cut to %d bytes and ...", got, maxDiffValue)
	}
	for _, bad := range []string{``, `{`, `{} {}`} {
		if _, err := DiffJSON([]byte(bad), []byte(`{}`), JSONOptions{}); err == nil {
			t.Errorf("DiffJSON(%q, {}) = nil error; want one", bad)
		}
	}
	if _, err := DiffJSON([]byte(`{}`), []byte(`{}`), JSONOptions{Ignore: []string{"x"}}); err == nil {
		t.Error("DiffJSON with ignore [x] = nil error; want an invalid pointer")
	}
}

// FuzzDiffJSON checks DiffJSON against the comparator: two valid documents
// have no differences exactly when JSON calls them equal, and never more
// than MaxDifferences.
func FuzzDiffJSON(f *testing.F) {
	for _, tt := range jsonTests {
		f.Add(tt.a, tt.b, strings.Join(tt.opts.Ignore, "\n"), strings.Join(tt.opts.Unordered, "\n"))
	}
	f.Fuzz(func(t *testing.T, a, b, ignore, unordered string) {
		o := JSONOptions{}
		if ignore != "" {
			o.Ignore = strings.Split(ignore, "\n")
		}
		if unordered != "" {
			o.Unordered = strings.Split(unordered, "\n")
		}
		eq, err := JSON[[]byte](o)
		if err != nil {
			return
		}
		diffs, err := DiffJSON([]byte(a), []byte(b), o)
		if err != nil {
			return // not JSON: the comparator's byte rule applies
		}
		if len(diffs) > MaxDifferences {
			t.Fatalf("%d differences; want at most %d", len(diffs), MaxDifferences)
		}
		if got, want := len(diffs) == 0, eq([]byte(a), []byte(b)); got != want {
			t.Fatalf("DiffJSON(%q, %q) = %v, so equal = %v; the comparator says %v", a, b, diffs, got, want)
		}
	})
}

func TestAgree(t *testing.T) {
	v := MustNew(Config[[]byte]{JSON: &JSONOptions{Ignore: []string{"/ts"}}})
	if !v.Agree([]byte(`{"a":1,"ts":1}`), []byte(`{"a":1,"ts":2}`)) {
		t.Error("Agree with ts ignored = false; want true")
	}
	if v.Agree([]byte(`{"a":1}`), []byte(`{"a":2}`)) {
		t.Error("Agree({a:1}, {a:2}) = true; want false")
	}
}
