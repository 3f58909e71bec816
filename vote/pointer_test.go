package vote

import (
	"slices"
	"strings"
	"testing"
)

// formatPointer is the inverse of parsePointer.
func formatPointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

var pointerTests = []struct {
	in      string
	want    []string
	wantErr bool
}{
	{in: "", want: []string{}},
	{in: "/", want: []string{""}},
	{in: "/foo", want: []string{"foo"}},
	{in: "/foo/0", want: []string{"foo", "0"}},
	{in: "/a~1b", want: []string{"a/b"}},
	{in: "/m~0n", want: []string{"m~n"}},
	{in: "/~01", want: []string{"~1"}}, // RFC 6901 section 4: not "/"
	{in: "/~10", want: []string{"/0"}},
	{in: "/items/*/ts", want: []string{"items", "*", "ts"}},
	{in: "//", want: []string{"", ""}},
	{in: "/ ", want: []string{" "}},
	{in: "foo", wantErr: true},
	{in: "/~", wantErr: true},
	{in: "/~2", wantErr: true},
	{in: "/a~", wantErr: true},
	{in: "#/foo", wantErr: true}, // URI fragments are not accepted
}

func TestParsePointer(t *testing.T) {
	for _, tt := range pointerTests {
		got, err := parsePointer(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parsePointer(%q) error = %v; want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && !slices.Equal(got, tt.want) {
			t.Errorf("parsePointer(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzParsePointer(f *testing.F) {
	for _, tt := range pointerTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tokens, err := parsePointer(s)
		if err != nil {
			return
		}
		if got := formatPointer(tokens); got != s {
			t.Errorf("formatPointer(parsePointer(%q)) = %q; want the input back", s, got)
		}
		again, err := parsePointer(formatPointer(tokens))
		if err != nil || !slices.Equal(again, tokens) {
			t.Errorf("parsePointer(formatPointer(%q)) = %q, %v; want the tokens back", tokens, again, err)
		}
	})
}
