package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// checksBase has one upstream and a route whose checks start on line 6.
const checksBase = `upstreams:
  accounts: {endpoints: [{address: http://127.0.0.1:1}]}
routes:
  - name: accounts
    upstream: accounts
`

func withChecks(s string) string { return checksBase + s }

func TestChecksParse(t *testing.T) {
	c, err := Parse([]byte(withChecks(`    checks:
      - status: [200, 404]
      - header: {name: content-type, regex: "^application/json"}
      - header: {name: x-version}
      - json: {pointer: /balance, min: 0, max: 1e9}
      - json: {pointer: /currency, in: [USD, EUR, GBP]}
      - json: {pointer: /id, exists: true, type: string, regex: "^a"}
      - json: {pointer: /kind, equals: {a: [1, 2]}}
      - json: {type: object}
`)))
	if err != nil {
		t.Fatal(err)
	}
	zero, big, yes := 0.0, 1e9, true
	want := ResponseChecks{
		Checks: []Check{
			{Status: []int{200, 404}},
			{Header: &HeaderCheck{Name: "content-type", Regex: "^application/json"}},
			{Header: &HeaderCheck{Name: "x-version"}},
			{JSON: &JSONCheck{Pointer: "/balance", Min: &zero, Max: &big}},
			{JSON: &JSONCheck{Pointer: "/currency", In: []any{"USD", "EUR", "GBP"}}},
			{JSON: &JSONCheck{Pointer: "/id", Exists: &yes, Type: JSONString, Regex: "^a"}},
			{JSON: &JSONCheck{Pointer: "/kind", Equals: map[string]any{"a": []any{1, 2}}}},
			{JSON: &JSONCheck{Type: JSONObject}},
		},
		ChecksMaxBodyBytes: DefaultChecksMaxBodyBytes,
		ChecksOnOversize:   OnOversizeFail,
	}
	if diff := cmp.Diff(want, c.Routes[0].ResponseChecks, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
	if !c.Routes[0].NeedsBody() {
		t.Error("NeedsBody = false; want true with json checks")
	}
}

func TestChecksDefaultsOff(t *testing.T) {
	c, err := Parse([]byte(withChecks("    checks: [{status: [200]}]\n")))
	if err != nil {
		t.Fatal(err)
	}
	rc := c.Routes[0].ResponseChecks
	if rc.NeedsBody() || rc.ChecksMaxBodyBytes != DefaultChecksMaxBodyBytes || rc.ChecksOnOversize != OnOversizeFail {
		t.Errorf("got %+v, NeedsBody %v; want defaults and no body", rc, rc.NeedsBody())
	}
	c, err = Parse([]byte(checksBase))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Routes[0].ResponseChecks; got.ChecksMaxBodyBytes != 0 || got.ChecksOnOversize != "" || got.Checks != nil {
		t.Errorf("a route without checks got %+v; want the zero value", got)
	}
}

var badChecksConfigs = []struct {
	name, src string
	want      []string
}{
	{"two kinds in one check", withChecks("    checks: [{status: [200], header: {name: a}}]\n"),
		[]string{"routes[0].checks[0] (line 6): must set exactly one of status, header and json, got 2"}},
	{"empty check", withChecks("    checks: [{}]\n"),
		[]string{"routes[0].checks[0] (line 6): must set exactly one of status, header and json, got 0"}},
	{"bad status", withChecks("    checks:\n      - status: [200, 99]\n"),
		[]string{"routes[0].checks[0].status[1] (line 7): must be an HTTP status in [100, 599], got 99"}},
	{"empty status", withChecks("    checks:\n      - status: []\n"),
		[]string{"routes[0].checks[0].status (line 7): must list at least one status"}},
	{"header without a name", withChecks("    checks:\n      - header: {regex: a}\n"),
		[]string{"routes[0].checks[0].header.name (line 7): is required"}},
	{"bad header name", withChecks("    checks:\n      - header: {name: 'a b'}\n"),
		[]string{`routes[0].checks[0].header.name (line 7): not a header name: "a b"`}},
	{"header regex does not compile", withChecks("    checks:\n      - status: [200]\n      - header: {name: a, regex: '('}\n"),
		[]string{"routes[0].checks[1].header.regex (line 8): does not compile: error parsing regexp"}},
	{"invalid pointer", withChecks("    checks:\n      - json: {pointer: balance}\n      - json: {pointer: '/a~2'}\n"),
		[]string{`routes[0].checks[0].json.pointer (line 7): invalid JSON pointer "balance"`,
			`routes[0].checks[1].json.pointer (line 8): invalid JSON pointer "/a~2"`}},
	{"json regex does not compile", withChecks("    checks:\n      - json: {pointer: /a, regex: '[z-a]'}\n"),
		[]string{"routes[0].checks[0].json.regex (line 7): does not compile"}},
	{"min above max", withChecks("    checks:\n      - json: {pointer: /a, min: 2, max: 1}\n"),
		[]string{"routes[0].checks[0].json.min (line 7): 2 is above max 1"}},
	{"infinite min", withChecks("    checks:\n      - json: {pointer: /a, min: .inf}\n"),
		[]string{`routes[0].checks[0].json.min (line 7): must be a number, got ".inf"`}},
	{"unknown type", withChecks("    checks:\n      - json: {pointer: /a, type: integer}\n"),
		[]string{`routes[0].checks[0].json.type (line 7): must be string, number, boolean, object, array or null, got "integer"`}},
	{"exists false with a condition", withChecks("    checks:\n      - json: {pointer: /a, exists: false, min: 1}\n"),
		[]string{"routes[0].checks[0].json.exists (line 7): exists: false allows no other condition"}},
	{"empty in", withChecks("    checks:\n      - json: {pointer: /a, in: []}\n"),
		[]string{"routes[0].checks[0].json.in (line 7): must list at least one value"}},
	{"in with a non-JSON value", withChecks("    checks:\n      - json: {pointer: /a, in: [1, .nan]}\n"),
		[]string{"routes[0].checks[0].json.in[1] (line 7): not a JSON value: unsupported value NaN"}},
	{"equals a timestamp", withChecks("    checks:\n      - json: {pointer: /d, equals: 2024-01-01}\n      - json: {pointer: /m, in: [{1: a}]}\n"),
		[]string{"routes[0].checks[0].json.equals (line 7): not a JSON value: a YAML timestamp; quote it to compare a string",
			"routes[0].checks[1].json.in[0] (line 8): not a JSON value: unsupported type map[interface {}]interface {}"}},
	{"unknown key", withChecks("    checks:\n      - json: {pointer: /a, minimum: 0}\n"),
		[]string{"routes[0].checks[0].json.minimum (line 7): unknown key"}},
	{"cap bounds", withChecks("    checks: [{json: {pointer: /a}}]\n    checks_max_body_bytes: 1073741824\n    checks_on_oversize: truncate\n"),
		[]string{"routes[0].checks_max_body_bytes (line 7): must be in [1, 67108864] (64 MiB), got 1073741824",
			`routes[0].checks_on_oversize (line 8): must be fail or pass, got "truncate"`}},
	{"json checks on a long-lived route", withChecks("    long_lived: true\n    checks: [{status: [200]}, {json: {pointer: /a}}]\n"),
		[]string{"routes[0].checks (line 7): json checks buffer the body, and a long_lived route streams it"}},
	{"cap without checks", withChecks("    checks_max_body_bytes: 10\n"),
		[]string{"routes[0].checks_max_body_bytes (line 6): needs checks"}},
	{"negative consecutive_invariant_violations", "upstreams:\n  accounts:\n    endpoints: [{address: http://127.0.0.1:1}]\n" +
		"    outlier_detection: {consecutive_invariant_violations: -1}\nroutes:\n  - name: accounts\n    upstream: accounts\n",
		[]string{"upstreams.accounts.outlier_detection.consecutive_invariant_violations (line 4): must not be negative, got -1"}},
	{"consecutive_invariant_violations not a number", "upstreams:\n  accounts:\n    endpoints: [{address: http://127.0.0.1:1}]\n" +
		"    outlier_detection:\n      consecutive_invariant_violations: many\nroutes:\n  - name: accounts\n    upstream: accounts\n",
		[]string{"upstreams.accounts.outlier_detection.consecutive_invariant_violations (line 5)"}},
}

func TestChecksErrorsNameKeyAndLine(t *testing.T) {
	for _, tt := range badChecksConfigs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src))
			checkErrors(t, err, tt.want, true)
		})
	}
}

// FuzzParseChecks: whatever parses is a set of checks the proxy can
// compile (one kind each, pointers that parse, sane bounds).
func FuzzParseChecks(f *testing.F) {
	for _, tt := range badChecksConfigs {
		f.Add([]byte(tt.src))
	}
	f.Add([]byte(withChecks("    checks: [{status: [200, 404]}, {header: {name: content-type, regex: '^application/json'}}, {json: {pointer: /balance, min: 0}}, {json: {pointer: /currency, in: [USD, EUR]}}]\n")))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		for _, rt := range c.Routes {
			rc := rt.ResponseChecks
			if len(rc.Checks) == 0 {
				continue
			}
			if rc.ChecksMaxBodyBytes < 1 || rc.ChecksMaxBodyBytes > MaxChecksMaxBodyBytes || (rc.ChecksOnOversize != OnOversizeFail && rc.ChecksOnOversize != OnOversizePass) {
				t.Errorf("parsed checks with cap %d, on_oversize %q", rc.ChecksMaxBodyBytes, rc.ChecksOnOversize)
			}
			for i, ch := range rc.Checks {
				n := 0
				for _, set := range []bool{ch.Status != nil, ch.Header != nil, ch.JSON != nil} {
					if set {
						n++
					}
				}
				if n != 1 {
					t.Errorf("checks[%d] parsed with %d kinds", i, n)
				}
			}
		}
	})
}
