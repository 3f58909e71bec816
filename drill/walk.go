package drill

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast-dev/holdfast/config"
	"go.yaml.in/yaml/v3"
)

// The experiment file is checked the way config checks holdfast.yaml:
// before decoding, a walk over the YAML node tree compares it with the Go
// types it will decode into, and reports unknown keys (with a suggestion),
// values of the wrong kind, durations without a unit and duplicate keys,
// each with its key path and line; it also indexes every key path to its
// line so that validation errors afterwards carry lines too. Decoding then
// cannot fail on anything the walk passed. The errors are config.Error, so
// both files read alike.

// problems collects errors with their lines.
type problems struct {
	lines map[string]int // key path -> line
	errs  config.Errors
}

func (p *problems) addAt(path string, line int, format string, args ...any) {
	p.errs = append(p.errs, &config.Error{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// add reports a problem at path, on the line of path or of its nearest
// parent present in the file (a defaulted key has no line of its own).
func (p *problems) add(path, format string, args ...any) {
	line := 0
	for q := path; q != ""; q = parentPath(q) {
		if n, ok := p.lines[q]; ok {
			line = n
			break
		}
	}
	p.addAt(path, line, format, args...)
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i <= 0 {
		return ""
	}
	return p[:i]
}

// err returns the problems in file order, or nil.
func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	sort.SliceStable(p.errs, func(i, j int) bool {
		a, b := p.errs[i].Line, p.errs[j].Line
		if a == 0 || b == 0 {
			return a != 0 && b == 0
		}
		return a < b
	})
	return p.errs
}

// yamlChecker is implemented by types that decode themselves: the walker
// gives them their node, and reports their error at their key and line.
type yamlChecker interface {
	checkYAML(n *yaml.Node) error
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	checkerType  = reflect.TypeFor[yamlChecker]()
)

type walker struct{ p *problems }

func (w *walker) walk(path string, n *yaml.Node, t reflect.Type) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if path != "" {
		if _, ok := w.p.lines[path]; !ok {
			w.p.lines[path] = n.Line
		}
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if isNull(n) {
		return
	}
	if reflect.PointerTo(t).Implements(checkerType) {
		if err := reflect.New(t).Interface().(yamlChecker).checkYAML(n); err != nil {
			w.p.addAt(path, n.Line, "%s", err.Error())
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		w.walk(path, n, t.Elem())
	case reflect.Struct:
		w.walkStruct(path, n, t)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.p.addAt(path, n.Line, "must be a mapping, got %s", describe(n))
			return
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := joinPath(path, k.Value)
			if k.Kind != yaml.ScalarNode {
				w.p.addAt(path, k.Line, "a key must be a single value, got %s", describe(k))
				continue
			}
			if seen[k.Value] {
				w.p.addAt(p, k.Line, "duplicate key")
				continue
			}
			seen[k.Value] = true
			w.p.lines[p] = k.Line
			w.walk(p, v, t.Elem())
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.p.addAt(path, n.Line, "must be a list, got %s", describe(n))
			return
		}
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			w.p.lines[p] = item.Line
			w.walk(p, item, t.Elem())
		}
	default:
		w.walkScalar(path, n, t)
	}
}

func (w *walker) walkStruct(path string, n *yaml.Node, t reflect.Type) {
	if n.Kind != yaml.MappingNode {
		what := ""
		if path == "" {
			what = "the file "
		}
		w.p.addAt(path, n.Line, "%smust be a mapping, got %s", what, describe(n))
		return
	}
	fields := yamlFields(t)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := joinPath(path, k.Value)
		if seen[k.Value] {
			w.p.addAt(p, k.Line, "duplicate key")
			continue
		}
		seen[k.Value] = true
		ft, ok := fields[k.Value]
		if !ok {
			w.p.addAt(p, k.Line, "unknown key%s", suggest(k.Value, fields))
			continue
		}
		w.p.lines[p] = k.Line
		w.walk(p, v, ft)
	}
}

func (w *walker) walkScalar(path string, n *yaml.Node, t reflect.Type) {
	if n.Kind != yaml.ScalarNode {
		w.p.addAt(path, n.Line, "must be a single value, got %s", describe(n))
		return
	}
	v := n.Value
	if t == durationType {
		if n.Tag == "!!int" || n.Tag == "!!float" {
			if v == "0" {
				return
			}
			w.p.addAt(path, n.Line, "must be a duration with a unit, such as %ss or %sms; got %s", v, v, v)
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			w.p.addAt(path, n.Line, "must be a duration such as 250ms or 2s; got %q", v)
			return
		}
		if d < 0 {
			w.p.addAt(path, n.Line, "must not be negative; got %s", v)
		}
		return
	}
	switch t.Kind() {
	case reflect.String:
		if n.Tag != "!!str" && n.Tag != "!!int" && n.Tag != "!!float" && n.Tag != "!!bool" && n.Tag != "!!timestamp" {
			w.p.addAt(path, n.Line, "must be a string; got %s", describe(n))
		}
	case reflect.Bool:
		if n.Tag != "!!bool" {
			w.p.addAt(path, n.Line, "must be true or false; got %q", v)
		}
	case reflect.Int, reflect.Int64:
		if _, err := strconv.ParseInt(v, 0, t.Bits()); err != nil || n.Tag != "!!int" {
			w.p.addAt(path, n.Line, "must be a whole number; got %q", v)
		}
	case reflect.Float64:
		f, err := strconv.ParseFloat(v, 64)
		if (n.Tag != "!!int" && n.Tag != "!!float") || err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			w.p.addAt(path, n.Line, "must be a number; got %q", v)
		}
	default:
		w.p.addAt(path, n.Line, "cannot be decoded (a %s field)", t)
	}
}

// yamlFields maps each YAML key of struct t to its field type.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// suggest names the known key closest to key, when one is close.
func suggest(key string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for k := range fields {
		if d := editDistance(key, k); d < bestD || (d == bestD && best != "" && k < best) {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
