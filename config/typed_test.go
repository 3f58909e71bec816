package config

import (
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// retryOnTests are retry blocks and the RetryOn, or the errors, they give.
// They seed FuzzConditions.
var retryOnTests = []struct {
	name  string
	block string // the route's retry block
	want  RetryOn
	errs  []string
}{
	{"left out", "{}", DefaultRetryOn, nil},
	{"empty", "{retry_on: []}", DefaultRetryOn, nil},
	{"statuses without retry_on", "{retriable_statuses: [429]}", RetryOn{ConnectFailure: true, Reset: true, GatewayError: true, RetriableStatus: true}, nil},
	{"5xx", "{retry_on: [5xx]}", RetryOn{ServerError: true}, nil},
	{"every condition", "{retry_on: [connect_failure, reset, gateway_error, 5xx, retriable_status]}",
		RetryOn{ConnectFailure: true, Reset: true, GatewayError: true, ServerError: true, RetriableStatus: true}, nil},
	{"twice", "{retry_on: [reset, reset]}", RetryOn{Reset: true}, nil},
	{"unknown", "{retry_on: [5xx, sometimes, never]}", RetryOn{}, []string{
		`routes[0].retry.retry_on[1] (line 8): unknown condition "sometimes"; want one of connect_failure, reset, gateway_error, 5xx, retriable_status`,
		`routes[0].retry.retry_on[2] (line 8): unknown condition "never"`,
	}},
	{"wrong case", "{retry_on: [Reset]}", RetryOn{}, []string{`routes[0].retry.retry_on[0] (line 8): unknown condition "Reset"`}},
	{"not a list", "{retry_on: 5xx}", RetryOn{}, []string{`routes[0].retry.retry_on (line 8): must be a list of conditions, got "5xx"`}},
	// The walker's error alone: the item it blanked is not also unknown.
	{"a mapping item", "{retry_on: [5xx, {a: 1}]}", RetryOn{}, []string{`routes[0].retry.retry_on[1] (line 8): must be a single value, got a mapping`}},
	{"a null item", "{retry_on: [~]}", RetryOn{}, []string{`routes[0].retry.retry_on[0] (line 8): unknown condition "~"`}},
}

func TestRetryOn(t *testing.T) {
	for _, tt := range retryOnTests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(base + "    retry: " + tt.block + "\n"))
			checkErrors(t, err, tt.errs, true)
			if err == nil && c.Routes[0].Retry.RetryOn != tt.want {
				t.Errorf("retry_on = %+v; want %+v", c.Routes[0].Retry.RetryOn, tt.want)
			}
		})
	}
}

var fallbackOnTests = []struct {
	name  string
	block string // the route's fallback block
	want  FallbackOn
	errs  []string
}{
	{"left out", "{status: 503}", DefaultFallbackOn, nil},
	{"5xx", "{on: [5xx]}", FallbackOn{ServerError: true}, nil},
	{"two", "{on: [breaker_open, timeout]}", FallbackOn{BreakerOpen: true, Timeout: true}, nil},
	{"every failure", "{on: [breaker_open, overloaded, timeout, no_healthy_upstream, upstream_reset, 5xx, no_quorum, invariant_violation, quiesced]}", DefaultFallbackOn, nil},
	{"correctness failures", "{on: [no_quorum, invariant_violation]}", FallbackOn{NoQuorum: true, InvariantViolation: true}, nil},
	{"unknown", "{on: [teapot]}", FallbackOn{}, []string{
		`routes[0].fallback.on[0] (line 8): unknown condition "teapot"; want one of breaker_open, overloaded, timeout, no_healthy_upstream, upstream_reset, 5xx, no_quorum, invariant_violation, quiesced`,
	}},
	{"a reason the fallback never answers", "{on: [rate_limited]}", FallbackOn{}, []string{`routes[0].fallback.on[0] (line 8): unknown condition "rate_limited"`}},
}

func TestFallbackOn(t *testing.T) {
	for _, tt := range fallbackOnTests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(base + "    fallback: " + tt.block + "\n"))
			checkErrors(t, err, tt.errs, true)
			if err == nil && c.Routes[0].Fallback.On != tt.want {
				t.Errorf("fallback.on = %+v; want %+v", c.Routes[0].Fallback.On, tt.want)
			}
		})
	}
}

// rateLimitKeyTests seed FuzzParseRateLimitKey.
var rateLimitKeyTests = []struct {
	key  string
	want RateLimitKey
	err  string // "" for valid
}{
	{"route", RateLimitKey{}, ""},
	{"ip", RateLimitKey{Kind: KeyIP}, ""},
	{"header:X-User-Id", RateLimitKey{Kind: KeyHeader, Header: "X-User-Id"}, ""},
	{"header:x-user-id", RateLimitKey{Kind: KeyHeader, Header: "X-User-Id"}, ""},
	{"header:authorization", RateLimitKey{Kind: KeyHeader, Header: "Authorization"}, ""},
	{"cookie", RateLimitKey{}, `must be route, ip or header:NAME, got "cookie"`},
	{"IP", RateLimitKey{}, `must be route, ip or header:NAME, got "IP"`},
	{"header:", RateLimitKey{}, `must be route, ip or header:NAME, got "header:"`},
	{"", RateLimitKey{}, `must be route, ip or header:NAME, got ""`},
	// These were accepted, and keyed every request to one bucket: no
	// request carries a header by a name that is no header name.
	{"header:X User", RateLimitKey{}, `must be header:NAME with NAME a header field name, got "header:X User"`},
	{"header:X-User:", RateLimitKey{}, `must be header:NAME with NAME a header field name, got "header:X-User:"`},
	{"header: X-User", RateLimitKey{}, `must be header:NAME with NAME a header field name, got "header: X-User"`},
}

func TestParseRateLimitKey(t *testing.T) {
	for _, tt := range rateLimitKeyTests {
		got, err := ParseRateLimitKey(tt.key)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("ParseRateLimitKey(%q): %v; want %+v", tt.key, err, tt.want)
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("ParseRateLimitKey(%q) = %+v, %v; want error %s", tt.key, got, err, tt.err)
		case tt.err == "" && got != tt.want:
			t.Errorf("ParseRateLimitKey(%q) = %+v; want %+v", tt.key, got, tt.want)
		}
	}
}

func TestRateLimitKeyInAFile(t *testing.T) {
	tests := []struct {
		name, block string
		want        RateLimitKey
		errs        []string
	}{
		{"left out", "{requests_per_second: 5}", RateLimitKey{}, nil},
		{"header", "{requests_per_second: 5, key: 'header:x-tenant'}", RateLimitKey{Kind: KeyHeader, Header: "X-Tenant"}, nil},
		{"bad header name", "{requests_per_second: 5, key: 'header:x tenant'}", RateLimitKey{},
			[]string{`routes[0].rate_limit.key (line 8): must be header:NAME with NAME a header field name, got "header:x tenant"`}},
		{"a list", "{requests_per_second: 5, key: [ip]}", RateLimitKey{},
			[]string{`routes[0].rate_limit.key (line 8): must be route, ip or header:NAME, got a list`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(base + "    rate_limit: " + tt.block + "\n"))
			checkErrors(t, err, tt.errs, true)
			if err == nil && c.Routes[0].RateLimit.Key != tt.want {
				t.Errorf("key = %+v; want %+v", c.Routes[0].RateLimit.Key, tt.want)
			}
		})
	}
}

// TestTypedValuesEncode checks that the typed values encode as the file
// spells them, so that the running config shows them so.
func TestTypedValuesEncode(t *testing.T) {
	r := Retry{RetryOn: RetryOn{Reset: true, ServerError: true}}
	f := Fallback{On: FallbackOn{Timeout: true}}
	k := RateLimit{Key: RateLimitKey{Kind: KeyHeader, Header: "X-User-Id"}}
	for _, tt := range []struct {
		v    any
		want string
	}{
		{r.RetryOn, "- reset\n- 5xx\n"},
		{f.On, "- timeout\n"},
		{k.Key, "header:X-User-Id\n"},
		{RetryOn{}, "[]\n"},
	} {
		b, err := yaml.Marshal(tt.v)
		if err != nil || string(b) != tt.want {
			t.Errorf("yaml.Marshal(%+v) = %q, %v; want %q", tt.v, b, err, tt.want)
		}
	}
}

// FuzzParseRateLimitKey checks that a key parses without panicking, and
// that what parses is spelt back as a key that parses to the same.
func FuzzParseRateLimitKey(f *testing.F) {
	for _, tt := range rateLimitKeyTests {
		f.Add(tt.key)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseRateLimitKey(s)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("ParseRateLimitKey(%q): %T; want *Error", s, err)
			}
			return
		}
		again, err := ParseRateLimitKey(k.String())
		if err != nil || again != k {
			t.Fatalf("ParseRateLimitKey(%q) = %+v, spelt %q, parses to %+v, %v", s, k, k.String(), again, err)
		}
		if k.Kind == KeyHeader && (k.Header == "" || strings.ContainsAny(k.Header, " \t:")) {
			t.Fatalf("ParseRateLimitKey(%q): header %q is no header name", s, k.Header)
		}
	})
}

// FuzzConditions checks that lists of condition names decode without
// panicking, that every error names an item, and that what decodes lists
// back to a set that decodes to the same.
func FuzzConditions(f *testing.F) {
	for _, tt := range retryOnTests {
		f.Add(tt.block)
	}
	for _, tt := range fallbackOnTests {
		f.Add(tt.block)
	}
	f.Fuzz(func(t *testing.T, src string) {
		var n yaml.Node
		if yaml.Unmarshal([]byte(src), &n) != nil || len(n.Content) == 0 {
			return
		}
		root := n.Content[0]
		for _, v := range []*yaml.Node{root, mappingValue(root, "retry_on"), mappingValue(root, "on")} {
			if v == nil {
				continue
			}
			var r RetryOn
			checkConditionErrors(t, retryConditions.decode(v, &r))
			var again RetryOn
			if err := again.UnmarshalYAML(listNode(r.Names())); err != nil || again != r {
				t.Fatalf("RetryOn %+v lists as %v, which decodes to %+v, %v", r, r.Names(), again, err)
			}
			var fo FallbackOn
			checkConditionErrors(t, fallbackConditions.decode(v, &fo))
			var fagain FallbackOn
			if err := fagain.UnmarshalYAML(listNode(fo.Names())); err != nil || fagain != fo {
				t.Fatalf("FallbackOn %+v lists as %v, which decodes to %+v, %v", fo, fo.Names(), fagain, err)
			}
		}
	})
}

func checkConditionErrors(t *testing.T, err error) {
	t.Helper()
	switch e := err.(type) {
	case nil:
	case *Error:
		if e.Line == 0 {
			t.Fatalf("error without a line: %v", e)
		}
	case Errors:
		for _, e := range e {
			if !strings.HasPrefix(e.Path, "[") || e.Line == 0 {
				t.Fatalf("error %+v names no item", e)
			}
		}
	default:
		t.Fatalf("error %T %v; want *Error or Errors", err, err)
	}
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func listNode(names []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, s := range slices.Clone(names) {
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s})
	}
	return n
}
