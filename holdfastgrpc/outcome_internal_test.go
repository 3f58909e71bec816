package holdfastgrpc

import (
	"math"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
)

var millisTests = []struct {
	in   string
	want time.Duration
	ok   bool
}{
	{"0", 0, true},
	{"1", time.Millisecond, true},
	{"1500", 1500 * time.Millisecond, true},
	{"007", 7 * time.Millisecond, true},
	{"9223372036854", 9223372036854 * time.Millisecond, true},
	{"9223372036855", math.MaxInt64, true},              // past a Duration: the longest
	{"99999999999999999999999999", math.MaxInt64, true}, // past an int64 too
	{"", 0, false},
	{"-1", 0, false},
	{"+1", 0, false},
	{" 1", 0, false},
	{"1 ", 0, false},
	{"1.5", 0, false},
	{"1s", 0, false},
	{"0x10", 0, false},
	{"١", 0, false}, // a digit, but not an ASCII one
}

func TestParseMillis(t *testing.T) {
	for _, tt := range millisTests {
		got, ok := parseMillis(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseMillis(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseMillis(f *testing.F) {
	for _, tt := range millisTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		d, ok := parseMillis(in)
		if !ok {
			if d != 0 {
				t.Errorf("parseMillis(%q) = %v, false; want 0 with false", in, d)
			}
			return
		}
		if d < 0 {
			t.Fatalf("parseMillis(%q) = %v; want a non-negative wait", in, d)
		}
		if d == math.MaxInt64 {
			return
		}
		// What parses formats back to the same number of milliseconds.
		back, ok := parseMillis(formatMillis(d))
		if !ok || back != d {
			t.Errorf("parseMillis(formatMillis(%v)) = %v, %v; want %v", d, back, ok, d)
		}
	})
}

func TestFormatMillis(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0"},
		{time.Nanosecond, "1"}, // rounded up: never early
		{time.Millisecond, "1"},
		{1500*time.Millisecond + 1, "1501"},
		{2 * time.Second, "2000"},
	}
	for _, tt := range tests {
		if got := formatMillis(tt.in); got != tt.want {
			t.Errorf("formatMillis(%v) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestPushback(t *testing.T) {
	tests := []struct {
		name         string
		values       []string
		wait         time.Duration
		given, valid bool
	}{
		{"none", nil, 0, false, false},
		{"one", []string{"250"}, 250 * time.Millisecond, true, true},
		{"negative", []string{"-1"}, 0, true, false},
		{"malformed", []string{"soon"}, 0, true, false},
		{"two", []string{"1", "1"}, 0, true, false},
	}
	for _, tt := range tests {
		md := metadata.MD{}
		if tt.values != nil {
			md[PushbackKey] = tt.values
		}
		wait, given, valid := pushback(md)
		if wait != tt.wait || given != tt.given || valid != tt.valid {
			t.Errorf("%s: pushback = %v, %v, %v; want %v, %v, %v", tt.name, wait, given, valid, tt.wait, tt.given, tt.valid)
		}
	}
}
