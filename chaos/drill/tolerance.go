package drill

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/yamlpath"
)

// Tolerance is what the output of an http or process probe must be, in
// Chaos Toolkit's terms (chaostoolkit-lib's hypothesis module), written as
// Chaos Toolkit writes it:
//
//   - a boolean or a string: the output equals it;
//   - an integer: the output's status (an HTTP status, a process's exit
//     status) equals it, or the output does;
//   - a list: the output's status is in it; for an output without a
//     status, a list of two is an inclusive range and any other a set;
//   - {type: range, range: [lo, hi], target: key}: the number at key of the
//     output (or the output) lies in [lo, hi];
//   - {type: regex, pattern: ..., target: key}: the string at key matches
//     (anywhere; RE2 syntax, which is Python's for the common cases);
//   - {type: jsonpath, path: ..., target: key, count: n, expect: v}: the
//     path finds something in the value at key (a string is read as JSON
//     first), exactly n things, or exactly v (or the list v).
//
// An HTTP probe's output is {status, headers, body, latency}, the body
// decoded when it is JSON; a process probe's is {status, stdout, stderr}.
// The zero Tolerance is not valid; one comes from a file (UnmarshalYAML)
// or from [ParseTolerance]. A Tolerance is immutable and safe for
// concurrent use.
type Tolerance struct {
	raw    any    // as written, for the journal
	kind   string // value, list, range, regex or jsonpath
	value  any    // value: bool, float64 or string
	list   []any
	lo, hi float64 // range
	target string
	re     *regexp.Regexp
	path   jsonPath
	count  *int
	expect any
	hasExp bool
}

// ParseTolerance reads a tolerance from its plain value, as JSON decodes
// it into an any. Errors name the key within the tolerance.
func ParseTolerance(v any) (*Tolerance, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("drill: tolerance: %v", err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("drill: tolerance: %v", err)
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		return parseTolerance(n.Content[0])
	}
	return nil, fmt.Errorf("drill: tolerance: required")
}

// UnmarshalYAML reads a tolerance; its errors have the line and the key
// within the tolerance.
func (t *Tolerance) UnmarshalYAML(n *yaml.Node) error {
	p, err := parseTolerance(n)
	if err != nil {
		return err
	}
	*t = *p
	return nil
}

// MarshalYAML writes the tolerance as it was written.
func (t *Tolerance) MarshalYAML() (any, error) { return t.raw, nil }

// MarshalJSON writes the tolerance as it was written.
func (t *Tolerance) MarshalJSON() ([]byte, error) { return json.Marshal(t.raw) }

// String is the tolerance as JSON.
func (t *Tolerance) String() string {
	b, _ := json.Marshal(t.raw)
	return string(b)
}

// tolErr is an error at rel (a key within the tolerance) on n's line.
func tolErr(n *yaml.Node, rel, format string, args ...any) error {
	return &config.Error{Path: rel, Line: n.Line, Msg: fmt.Sprintf(format, args...)}
}

func parseTolerance(n *yaml.Node) (*Tolerance, error) {
	raw, err := nodeValue(n)
	if err != nil {
		return nil, tolErr(n, "", "%v", err)
	}
	t := &Tolerance{raw: plain(raw)}
	switch x := t.raw.(type) {
	case bool, string:
		t.kind, t.value = "value", x
	case float64:
		if x != math.Trunc(x) {
			return nil, tolErr(n, "", "a number tolerance must be an integer (a status), got %v; use {type: range, range: [lo, hi]}", x)
		}
		t.kind, t.value = "value", x
	case []any:
		if len(x) == 0 {
			return nil, tolErr(n, "", "an empty list meets nothing")
		}
		t.kind, t.list = "list", x
	case map[string]any:
		if err := t.parseMapping(n, x); err != nil {
			return nil, err
		}
	default:
		return nil, tolErr(n, "", "must be a boolean, an integer, a string, a list or a mapping with a type, got %s", yamlpath.Describe(n))
	}
	return t, nil
}

// field is the node of key in mapping node n, or nil.
func field(n *yaml.Node, key string) *yaml.Node {
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

func (t *Tolerance) parseMapping(n *yaml.Node, m map[string]any) error {
	at := func(key string) *yaml.Node {
		if f := field(n, key); f != nil {
			return f
		}
		return n
	}
	known := map[string][]string{
		"range":    {"type", "range", "target"},
		"regex":    {"type", "pattern", "target"},
		"jsonpath": {"type", "path", "target", "count", "expect"},
	}
	typ, _ := m["type"].(string)
	keys, ok := known[typ]
	switch {
	case typ == "probe":
		return tolErr(at("type"), "type", "a probe tolerance runs a Chaos Toolkit activity on the output, which holdfast drill cannot; use range, regex or jsonpath")
	case !ok:
		return tolErr(at("type"), "type", "must be range, regex or jsonpath, got %s", describeValue(m["type"]))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		found := false
		for _, want := range keys {
			found = found || k == want
		}
		if !found {
			return tolErr(n.Content[i], k, "unknown key in a %s tolerance (it takes %s)", typ, strings.Join(keys, ", "))
		}
	}
	t.kind = typ
	if v, ok := m["target"]; ok {
		s, isStr := v.(string)
		if !isStr || s == "" {
			return tolErr(at("target"), "target", "must be a key of the output such as status or body, got %s", describeValue(v))
		}
		t.target = s
	}
	switch typ {
	case "range":
		r, _ := m["range"].([]any)
		if len(r) != 2 {
			return tolErr(at("range"), "range", "must be two numbers [lo, hi], got %s", describeValue(m["range"]))
		}
		lo, ok1 := r[0].(float64)
		hi, ok2 := r[1].(float64)
		if !ok1 || !ok2 {
			return tolErr(at("range"), "range", "must be two numbers [lo, hi], got %s", describeValue(m["range"]))
		}
		if lo > hi {
			return tolErr(at("range"), "range", "the lower bound %v is above the upper %v", lo, hi)
		}
		t.lo, t.hi = lo, hi
	case "regex":
		p, ok := m["pattern"].(string)
		if !ok {
			return tolErr(at("pattern"), "pattern", "required: a regular expression")
		}
		re, err := regexp.Compile(p)
		if err != nil {
			return tolErr(at("pattern"), "pattern", "%v", err)
		}
		t.re = re
	case "jsonpath":
		p, ok := m["path"].(string)
		if !ok || strings.TrimSpace(p) == "" {
			return tolErr(at("path"), "path", "required: a JSONPath such as $.status")
		}
		jp, err := parseJSONPath(strings.TrimSpace(p))
		if err != nil {
			return tolErr(at("path"), "path", "%v", err)
		}
		t.path = jp
		if v, ok := m["count"]; ok {
			c, isNum := v.(float64)
			if !isNum || c < 0 || c != math.Trunc(c) || c > math.MaxInt32 {
				return tolErr(at("count"), "count", "must be a whole number of matches, got %s", describeValue(v))
			}
			ci := int(c)
			t.count = &ci
		}
		t.expect, t.hasExp = m["expect"]
	}
	return nil
}

func describeValue(v any) string {
	if v == nil {
		return "nothing"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// met judges a probe's output, which must be plain values (see plain), as
// chaostoolkit-lib's within_tolerance does.
func (t *Tolerance) met(out any) bool {
	status, hasStatus := statusOf(out)
	switch t.kind {
	case "value":
		if n, isNum := t.value.(float64); isNum && hasStatus {
			return status == n
		}
		return equal(out, t.value)
	case "list":
		if hasStatus {
			for _, v := range t.list {
				if equal(status, v) {
					return true
				}
			}
			return false
		}
		if len(t.list) == 2 {
			lo, ok1 := t.list[0].(float64)
			hi, ok2 := t.list[1].(float64)
			v, ok3 := out.(float64)
			return ok1 && ok2 && ok3 && lo <= v && v <= hi
		}
		for _, v := range t.list {
			if equal(out, v) {
				return true
			}
		}
		return false
	}
	v := t.targetOf(out)
	switch t.kind {
	case "range":
		f, ok := number(v)
		return ok && t.lo <= f && f <= t.hi
	case "regex":
		s, ok := v.(string)
		return ok && t.re.MatchString(s)
	case "jsonpath":
		if s, ok := v.(string); ok {
			var doc any
			if json.Unmarshal([]byte(s), &doc) == nil {
				v = doc
			}
		}
		found := t.path.find(v)
		ok := len(found) > 0
		if t.count != nil {
			ok = len(found) == *t.count
		}
		if t.hasExp {
			want, isList := t.expect.([]any)
			if !isList {
				want = []any{t.expect}
			}
			ok = len(found) == len(want)
			for i := 0; ok && i < len(want); i++ {
				ok = equal(found[i], want[i])
			}
		}
		return ok
	}
	return false
}

// targetOf is the value at the tolerance's target in out, or out.
func (t *Tolerance) targetOf(out any) any {
	if m, ok := out.(map[string]any); ok && t.target != "" {
		if v, ok := m[t.target]; ok {
			return v
		}
	}
	return out
}

func statusOf(out any) (any, bool) {
	m, ok := out.(map[string]any)
	if !ok {
		return nil, false
	}
	s, ok := m["status"]
	return s, ok
}

func equal(a, b any) bool { return reflect.DeepEqual(a, b) }

// number reads a number as Python's Decimal does: a number, or a string
// that spells one.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil && !math.IsNaN(f)
	}
	return 0, false
}
