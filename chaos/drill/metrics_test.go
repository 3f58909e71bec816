package drill

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// metricsTests are pages and what ParseMetrics makes of them; they seed
// FuzzParseMetrics.
var metricsTests = []struct {
	name    string
	page    string
	want    []Sample
	wantErr string
}{
	{name: "empty", page: ""},
	{name: "comments only", page: "# HELP up Is it up.\n# TYPE up gauge\n\n"},
	{name: "plain", page: "up 1\n", want: []Sample{{Name: "up", Labels: map[string]string{}, Value: 1}}},
	{name: "labels, timestamp, CRLF", page: "# TYPE x counter\r\nx_total{route=\"a\",code_class=\"2xx\"} 12 1700000000000\r\n",
		want: []Sample{{Name: "x_total", Labels: map[string]string{"route": "a", "code_class": "2xx"}, Value: 12}}},
	{name: "spaces and trailing comma", page: "  m { a = \"1\" , b=\"2\", }   3.5  \n",
		want: []Sample{{Name: "m", Labels: map[string]string{"a": "1", "b": "2"}, Value: 3.5}}},
	{name: "escapes", page: `m{path="C:\\dir",q="say \"hi\"",nl="a\nb"} 1` + "\n",
		want: []Sample{{Name: "m", Labels: map[string]string{"path": `C:\dir`, "q": `say "hi"`, "nl": "a\nb"}, Value: 1}}},
	{name: "special values", page: "a +Inf\nb -Inf\nc NaN\nd 1e-3\n",
		want: []Sample{
			{Name: "a", Labels: map[string]string{}, Value: math.Inf(1)},
			{Name: "b", Labels: map[string]string{}, Value: math.Inf(-1)},
			{Name: "c", Labels: map[string]string{}, Value: math.NaN()},
			{Name: "d", Labels: map[string]string{}, Value: 0.001},
		}},
	{name: "histogram", page: "h_bucket{le=\"0.1\"} 3\nh_bucket{le=\"+Inf\"} 4\nh_sum 0.25\nh_count 4\n",
		want: []Sample{
			{Name: "h_bucket", Labels: map[string]string{"le": "0.1"}, Value: 3},
			{Name: "h_bucket", Labels: map[string]string{"le": "+Inf"}, Value: 4},
			{Name: "h_sum", Labels: map[string]string{}, Value: 0.25},
			{Name: "h_count", Labels: map[string]string{}, Value: 4},
		}},
	{name: "UTF-8 names", page: `{"my.metric", "a.b"="c"} 2` + "\n",
		want: []Sample{{Name: "my.metric", Labels: map[string]string{"a.b": "c"}, Value: 2}}},
	{name: "OpenMetrics exemplar", page: `c_total 5 # {trace_id="abc"} 1.0` + "\n# EOF\n",
		want: []Sample{{Name: "c_total", Labels: map[string]string{}, Value: 5}}},
	{name: "no value", page: "up\n", wantErr: "metrics line 1: want a space and a value after up"},
	{name: "bad value", page: "ok 1\nup one\n", wantErr: `metrics line 2: value "one" is not a number`},
	{name: "bad timestamp", page: "up 1 soon\n", wantErr: `timestamp "soon" is not a whole number`},
	{name: "too many fields", page: "up 1 2 3\n", wantErr: "want a value and an optional timestamp"},
	{name: "unterminated label", page: "up{a=\"1} 1\n", wantErr: "unterminated quoted string"},
	{name: "bad escape", page: `up{a="\t"} 1`, wantErr: `invalid escape \t`},
	{name: "duplicate label", page: `up{a="1",a="2"} 1`, wantErr: `label "a" appears twice`},
	{name: "label without value", page: `up{a} 1`, wantErr: `label "a" has no value`},
	{name: "no name", page: `{a="1"} 1`, wantErr: "the series has no metric name"},
	{name: "two names", page: `up{"x"} 1`, wantErr: `label "x" has no value`},
	{name: "bad start", page: "9up 1\n", wantErr: "want a metric name"},
	{name: "missing comma", page: `up{a="1" b="2"} 1`, wantErr: "want ',' or '}'"},
	{name: "underscore in value", page: "up 1_000\n", wantErr: "is not a number"},
}

func TestParseMetrics(t *testing.T) {
	for _, tt := range metricsTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMetrics([]byte(tt.page))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateNaNs(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("got samples differing (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSampleMatches(t *testing.T) {
	s := Sample{Name: "m", Labels: map[string]string{"route": "a", "code": "2xx"}}
	tests := []struct {
		want map[string]string
		ok   bool
	}{
		{nil, true},
		{map[string]string{"route": "a"}, true},
		{map[string]string{"route": "a", "code": "2xx"}, true},
		{map[string]string{"route": "b"}, false},
		{map[string]string{"missing": ""}, true}, // PromQL: empty matches absent
		{map[string]string{"missing": "x"}, false},
	}
	for _, tt := range tests {
		if got := s.matches(tt.want); got != tt.ok {
			t.Errorf("matches(%v) = %v; want %v", tt.want, got, tt.ok)
		}
	}
}

// FuzzParseMetrics checks that ParseMetrics never panics, and that what it
// reads it reads again the same once written back in the text format.
func FuzzParseMetrics(f *testing.F) {
	for _, tt := range metricsTests {
		f.Add(tt.page)
	}
	f.Fuzz(func(t *testing.T, page string) {
		samples, err := ParseMetrics([]byte(page))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "metrics line ") {
				t.Fatalf("error %q does not name its line", err)
			}
			return
		}
		var b strings.Builder
		for _, s := range samples {
			b.WriteString(formatSample(s))
			b.WriteByte('\n')
		}
		again, err := ParseMetrics([]byte(b.String()))
		if err != nil {
			t.Fatalf("re-parsing %q: %v", b.String(), err)
		}
		if diff := cmp.Diff(samples, again, cmpopts.EquateNaNs(), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip through %q changed the samples (-first +second):\n%s", b.String(), diff)
		}
	})
}
