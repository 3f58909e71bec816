package config

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

func TestIsSensitive(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"Authorization", true},
		{"proxy-authorization", true},
		{"Cookie", true},
		{"Set-Cookie", true},
		{"X-Api-Key", true},
		{"X-Auth-Token", true},
		{"x-session-id", true},
		{"client_secret", true},
		{"password", true},
		{"token_file", false}, // a path, shown on purpose
		{"content-type", false},
		{"X-Request-Id", false},
		{"name", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := isSensitive(tt.name); got != tt.want {
			t.Errorf("isSensitive(%q): got %v; want %v", tt.name, got, tt.want)
		}
	}
}

// redactTable is the redaction table; FuzzEncodeRedacted starts from it.
var redactTable = []struct {
	name      string
	in        string // YAML
	want      []string
	forbidden []string
}{
	{
		name:      "fallback headers",
		in:        "fallback:\n  headers:\n    Authorization: Bearer abc.def\n    content-type: application/json\n    Set-Cookie: sid=s3cr3t\n",
		want:      []string{"Authorization: '[redacted]'", "content-type: application/json", "Set-Cookie: '[redacted]'"},
		forbidden: []string{"abc.def", "s3cr3t"},
	},
	{
		name:      "header match on a credential",
		in:        "match:\n  headers:\n    - name: Cookie\n      exact: sid=s3cr3t\n    - name: X-Env\n      exact: canary\n",
		want:      []string{"exact: '[redacted]'", "exact: canary"},
		forbidden: []string{"s3cr3t"},
	},
	{
		name:      "secret-named key",
		in:        "auth:\n  client_secret: hunter2\n  client_id: app\n",
		want:      []string{"client_secret: '[redacted]'", "client_id: app"},
		forbidden: []string{"hunter2"},
	},
	{
		name:      "token file path is shown",
		in:        "admin:\n  listen: 127.0.0.1:9901\n  token_file: /etc/holdfast/token\n",
		want:      []string{"token_file: /etc/holdfast/token"},
		forbidden: []string{Redacted},
	},
	{
		name:      "URL password",
		in:        "endpoints:\n  - address: http://user:pa55w0rd@10.0.0.1:8080\n",
		want:      []string{"http://user:[redacted]@10.0.0.1:8080"},
		forbidden: []string{"pa55w0rd"},
	},
	{
		name:      "webhook URL",
		in:        "quiesce:\n  after: 10s\n  webhook: https://hooks.example/services/T0/B0/s3cr3tpath?token=t0k3n\n",
		want:      []string{"webhook: https://hooks.example/[redacted]", "after: 10s"},
		forbidden: []string{"s3cr3tpath", "t0k3n", "services"},
	},
	{
		name:      "webhook timeout kept",
		in:        "quiesce:\n  webhook: https://hooks.example/s3cr3t\n  webhook_timeout: 2s\n",
		want:      []string{"webhook_timeout: 2s", "webhook: https://hooks.example/[redacted]"},
		forbidden: []string{"s3cr3t"},
	},
	{
		name:      "webhook that is not a URL",
		in:        "alerting:\n  webhook: 's3cr3t:stuff'\n",
		want:      []string{"webhook: '[redacted]'"},
		forbidden: []string{"s3cr3t"},
	},
	{
		name: "empty values dropped, empty blocks kept",
		in:   "a: ''\nb: null\nc: []\nd: {}\ne: 0\nf: false\n", // a map's zero values stay
		want: []string{"d: {}", "e: 0", "f: false"}, forbidden: []string{"a:", "b:", "c:"},
	},
}

func TestEncodeRedacted(t *testing.T) {
	for _, tt := range redactTable {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			if err := yaml.Unmarshal([]byte(tt.in), &v); err != nil {
				t.Fatal(err)
			}
			out := redactedYAML(t, v)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("got\n%s\nwant it to contain %q", out, w)
				}
			}
			for _, f := range tt.forbidden {
				if strings.Contains(out, f) {
					t.Errorf("got\n%s\nwant no %q", out, f)
				}
			}
		})
	}
}

// FuzzEncodeRedacted checks that a value under a credential header name never
// survives redaction, whatever the value and the header's spelling.
func FuzzEncodeRedacted(f *testing.F) {
	for _, tt := range redactTable {
		f.Add("Authorization", tt.in)
	}
	f.Add("Cookie", "sid=1")
	f.Add("x-API-key", "k")
	f.Fuzz(func(t *testing.T, header, value string) {
		if !isSensitive(header) || strings.TrimSpace(value) == "" || len(value) < 4 {
			return
		}
		cfg := map[string]any{
			"fallback": map[string]any{"headers": map[string]string{header: value}},
			"match":    map[string]any{"headers": []map[string]string{{"name": header, "exact": value}}},
		}
		n, err := EncodeRedacted(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var back any
		if err := n.Decode(&back); err != nil {
			t.Fatal(err)
		}
		js, err := json.Marshal(back)
		if err != nil {
			t.Fatal(err)
		}
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				for _, c := range v {
					walk(c)
				}
			case []any:
				for _, c := range v {
					walk(c)
				}
			case string:
				if v == value {
					t.Fatalf("value %q of header %q survived redaction: %s", value, header, js)
				}
			}
		}
		walk(back)
	})
}

// TestToNodeMatchesYAMLMarshal checks that the node tree EncodeRedacted builds
// from a whole config says what yaml.Marshal says.
func TestToNodeMatchesYAMLMarshal(t *testing.T) {
	data, err := os.ReadFile("../examples/holdfast.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	text, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var want any
	if err := yaml.Unmarshal(text, &want); err != nil {
		t.Fatal(err)
	}
	n, err := toNode(reflect.ValueOf(cfg), false)
	if err != nil {
		t.Fatal(err)
	}
	var got any
	if err := n.Decode(&got); err != nil {
		t.Fatal(err)
	}
	// yaml.Marshal writes a float 0 as "0", which reads back as an int.
	numbers := cmp.FilterValues(func(a, b any) bool {
		_, aok := asFloat(a)
		_, bok := asFloat(b)
		return aok && bok
	}, cmp.Comparer(func(a, b any) bool {
		x, _ := asFloat(a)
		y, _ := asFloat(b)
		return x == y
	}))
	if diff := cmp.Diff(want, got, numbers); diff != "" {
		t.Errorf("toNode differs from yaml.Marshal (-want +got):\n%s", diff)
	}
}

func asFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case int:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

func TestEncodeRedactedOmitsZeroFields(t *testing.T) {
	type inner struct {
		Zero time.Duration `yaml:"zero"`
		Set  time.Duration `yaml:"set"`
	}
	v := struct {
		Count  int            `yaml:"count"`
		None   int            `yaml:"none"`
		Rate   float64        `yaml:"rate"`
		Off    bool           `yaml:"off"`
		Name   string         `yaml:"name"`
		Inner  inner          `yaml:"inner"`
		Empty  inner          `yaml:"empty"`
		Labels map[string]int `yaml:"labels"`
	}{Count: 3, Rate: 1, Inner: inner{Set: 1500 * time.Millisecond}, Labels: map[string]int{"z": 0}}
	out := redactedYAML(t, v)
	want := "count: 3\nrate: 1.0\ninner:\n    set: 1.5s\nlabels:\n    z: 0\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestEncodeRedactedQuotesOldBooleans(t *testing.T) {
	out := redactedYAML(t, map[string]any{"fallback": map[string]any{"on": []string{"5xx"}, "mode": "Off"}})
	for _, want := range []string{`"on":`, `mode: "Off"`} {
		if !strings.Contains(out, want) {
			t.Errorf("got\n%s\nwant %s quoted, as YAML 1.1 reads it as a boolean", out, want)
		}
	}
}

// TestConfigShowsPolicyBlocks checks that a policy turned on with all its
// defaults (`circuit_breaker: {}`) still shows in GET /config.
func TestConfigShowsPolicyBlocks(t *testing.T) {
	cfg, err := Parse([]byte(`
upstreams:
  u:
    endpoints: [{address: "http://127.0.0.1:9"}]
    circuit_breaker: {}
    health_check: {}
routes:
  - {name: r, upstream: u}
`))
	if err != nil {
		t.Fatal(err)
	}
	out := redactedYAML(t, cfg)
	for _, want := range []string{"circuit_breaker: {}", "health_check: {}"} {
		if !strings.Contains(out, want) {
			t.Errorf("got\n%s\nwant %q", out, want)
		}
	}
}

// redactedYAML is v encoded by EncodeRedacted, as YAML text.
func redactedYAML(t *testing.T, v any) string {
	t.Helper()
	n, err := EncodeRedacted(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
