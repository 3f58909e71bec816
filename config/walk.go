package config

import (
	"fmt"
	"maps"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/holdfast-dev/holdfast/internal/yamlpath"
)

// walker checks a YAML node tree against the Go type it will decode into,
// before decoding: it finds unknown keys, values of the wrong kind, integer
// durations and duplicate keys, each with its key path and line, and it
// indexes every key path to its line for later validation errors. Decoding
// then cannot fail on anything the walker passed. A value it finds fault
// with is blanked (made null) after the error is recorded, so that the rest
// of the file can still be decoded and validated.
type walker struct {
	errs *errorList
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	shapedType      = reflect.TypeFor[shaped]()
)

// shaped is a type that decodes itself (it implements yaml.Unmarshaler) and
// still lets the walker check it, so that its errors are found with the
// rest of the file's instead of stopping decoding: yamlShape returns the
// type whose YAML form n has, such as string for an address and []string
// for a list of them, or nil and what forms are allowed.
type shaped interface {
	yamlShape(n *yaml.Node) (reflect.Type, string)
}

func (w *walker) walk(path string, n *yaml.Node, t reflect.Type) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if path != "" {
		w.errs.lines.Set(path, n.Line)
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if isNull(n) {
		return
	}
	if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(shapedType) {
		st, allowed := reflect.New(t).Interface().(shaped).yamlShape(n)
		if st == nil {
			w.bad(path, n, "%s, got %s", allowed, yamlpath.Describe(n))
			return
		}
		w.walk(path, n, st)
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || t.Implements(unmarshalerType) {
		return // the type checks itself when decoded; its errors carry the line
	}
	switch t.Kind() {
	case reflect.Pointer:
		w.walk(path, n, t.Elem())
	case reflect.Struct:
		w.walkStruct(path, n, t)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.bad(path, n, "must be a mapping, got %s", yamlpath.Describe(n))
			return
		}
		seen := make(map[string]bool, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if seen[k.Value] {
				w.errs.addAt(yamlpath.Join(path, k.Value), k.Line, "duplicate key")
				continue
			}
			seen[k.Value] = true
			p := yamlpath.Join(path, k.Value)
			w.errs.lines.Set(p, k.Line)
			w.walk(p, v, t.Elem())
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.bad(path, n, "must be a list, got %s", yamlpath.Describe(n))
			return
		}
		for i, item := range n.Content {
			p := yamlpath.Index(path, i)
			w.errs.lines.Set(p, item.Line)
			w.walk(p, item, t.Elem())
		}
	case reflect.Interface:
		// free-form value; nothing to check
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
		w.bad(path, n, "%smust be a mapping, got %s", what, yamlpath.Describe(n))
		return
	}
	fields := yamlFields(t)
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := yamlpath.Join(path, k.Value)
		if seen[k.Value] {
			w.errs.addAt(p, k.Line, "duplicate key")
			continue
		}
		seen[k.Value] = true
		f, ok := fields[k.Value]
		if !ok {
			w.errs.addAt(p, k.Line, "unknown key%s", yamlpath.Suggest(k.Value, maps.Keys(fields)))
			continue
		}
		w.errs.lines.Set(p, k.Line)
		w.walk(p, v, f.typ)
	}
}

func (w *walker) walkScalar(path string, n *yaml.Node, t reflect.Type) {
	if n.Kind != yaml.ScalarNode {
		w.bad(path, n, "must be a single value, got %s", yamlpath.Describe(n))
		return
	}
	v := n.Value
	if t == durationType {
		if n.Tag == "!!int" || n.Tag == "!!float" {
			if v == "0" {
				return
			}
			w.bad(path, n, "must be a duration with a unit, such as %ss or %sms, got %s", v, v, v)
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			w.bad(path, n, "must be a duration such as 250ms or 2s, got %q", v)
			return
		}
		if d < 0 {
			w.bad(path, n, "must not be negative, got %s", v)
		}
		return
	}
	switch t.Kind() {
	case reflect.String:
		if n.Tag != "!!str" && n.Tag != "!!int" && n.Tag != "!!float" && n.Tag != "!!bool" {
			w.bad(path, n, "must be a string, got %s", yamlpath.Describe(n))
		}
	case reflect.Bool:
		if n.Tag != "!!bool" {
			w.bad(path, n, "must be true or false, got %q", v)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if _, err := strconv.ParseInt(v, 0, t.Bits()); err != nil || n.Tag != "!!int" {
			w.bad(path, n, "must be a whole number, got %q", v)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if _, err := strconv.ParseUint(v, 0, t.Bits()); err != nil || n.Tag != "!!int" {
			w.bad(path, n, "must be a whole number, 0 or more, got %q", v)
		}
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(v, 64)
		if (n.Tag != "!!int" && n.Tag != "!!float") || err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			w.bad(path, n, "must be a number, got %q", v)
		}
	}
}

// bad records an error about n, at path, and blanks n.
func (w *walker) bad(path string, n *yaml.Node, format string, args ...any) {
	w.errs.addAt(path, n.Line, format, args...)
	*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null", Line: n.Line, Column: n.Column}
}

func (l *errorList) addAt(path string, line int, format string, args ...any) {
	l.errs = append(l.errs, newError(path, line, fmt.Sprintf(format, args...)))
}

// field is one YAML key of a struct: the field's type, and its index path
// from the struct (through inline fields, which may be pointers).
type field struct {
	typ   reflect.Type
	index []int
}

// fieldCache holds yamlFields' answer for each struct type it was asked
// about (reflect.Type -> map[string]field): the walker and the decoder ask
// once per mapping in the file, and the answer never changes.
var fieldCache sync.Map

// yamlFields maps each YAML key of struct t, inline fields included, to its
// field. The map is shared; callers must not change it.
func yamlFields(t reflect.Type) map[string]field {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]field)
	}
	out := map[string]field{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			for k, v := range yamlFields(ft) {
				out[k] = field{typ: v.typ, index: append([]int{i}, v.index...)}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = field{typ: f.Type, index: []int{i}}
	}
	m, _ := fieldCache.LoadOrStore(t, out)
	return m.(map[string]field)
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}
