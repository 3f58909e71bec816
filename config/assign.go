package config

import (
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/holdfast-dev/holdfast/internal/yamlpath"
)

// assign decodes n into v, which must be addressable, after the walker has
// checked n against v's type. It does yaml's Node.Decode work for mappings,
// lists and pointers itself and hands yaml only scalars and the types that
// decode themselves (yaml.Unmarshaler, interfaces): yaml checks a mapping
// for duplicate keys by comparing every key with every other, which takes
// seconds for a mapping of 50,000 keys and hours for one that fills a
// 16 MiB file, and the walker has found the duplicates already. A key the
// walker reported (unknown, or a duplicate) is skipped; a value it blanked
// decodes as null. Anything yaml still refuses is recorded in errs with its
// path and line, and the rest is decoded.
//
// Aliases are followed each time they appear, as yaml does; [checkAliases]
// has bounded what that costs.
func assign(errs *errorList, path string, n *yaml.Node, v reflect.Value) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	t := v.Type()
	if n.Kind != yaml.MappingNode && n.Kind != yaml.SequenceNode || t.Kind() == reflect.Interface ||
		reflect.PointerTo(t).Implements(unmarshalerType) || t.Implements(unmarshalerType) {
		yamlDecode(errs, path, n, v)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		assign(errs, path, n, v.Elem())
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			errs.addAt(path, n.Line, "must be a mapping, got %s", yamlpath.Describe(n))
			return
		}
		fields := yamlFields(t)
		var seen map[string]bool
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok || seen[k.Value] {
				continue
			}
			if seen == nil {
				seen = make(map[string]bool, len(fields))
			}
			seen[k.Value] = true
			assign(errs, yamlpath.Join(path, k.Value), val, fieldByIndex(v, f.index))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			errs.addAt(path, n.Line, "must be a mapping, got %s", yamlpath.Describe(n))
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMapWithSize(t, len(n.Content)/2))
		}
		seen := make(map[string]bool, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if seen[k.Value] {
				continue
			}
			seen[k.Value] = true
			p := yamlpath.Join(path, k.Value)
			key := reflect.New(t.Key()).Elem()
			if t.Key().Kind() == reflect.String && k.Kind == yaml.ScalarNode && k.Tag == "!!str" {
				key.SetString(k.Value)
			} else if !yamlDecode(errs, p, k, key) {
				continue
			}
			e := reflect.New(t.Elem()).Elem()
			assign(errs, p, val, e)
			v.SetMapIndex(key, e)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			errs.addAt(path, n.Line, "must be a list, got %s", yamlpath.Describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			assign(errs, yamlpath.Index(path, i), item, s.Index(i))
		}
		v.Set(s)
	default:
		yamlDecode(errs, path, n, v)
	}
}

// fieldByIndex is v.FieldByIndex that allocates the inline pointers on
// the way.
func fieldByIndex(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

// yamlDecode has yaml decode n into v and records what it refuses, at path.
func yamlDecode(errs *errorList, path string, n *yaml.Node, v reflect.Value) bool {
	err := n.Decode(v.Addr().Interface())
	if err == nil {
		return true
	}
	switch e := err.(type) {
	case *Error:
		errs.addDecoded(path, n, e)
	case Errors:
		for _, e := range e {
			if e != nil {
				errs.addDecoded(path, n, e)
			}
		}
	case *yaml.TypeError:
		for _, m := range e.Errors {
			line := n.Line
			if rest, ok := strings.CutPrefix(m, "line "); ok {
				if num, msg, ok := strings.Cut(rest, ": "); ok {
					if l, err := strconv.Atoi(num); err == nil {
						line, m = l, msg
					}
				}
			}
			errs.addAt(path, line, "%s", m)
		}
	default:
		errs.addAt(path, n.Line, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return false
}

// addDecoded records e, an error of a type that decoded itself from n at
// path. The type does not know where it sits in the file: e's Path is
// relative to path ("" for the value itself, "[1]" for its second item),
// and a Line of 0 is n's.
func (l *errorList) addDecoded(path string, n *yaml.Node, e *Error) {
	line := e.Line
	if line == 0 {
		line = n.Line
	}
	l.errs = append(l.errs, newError(yamlpath.Append(path, e.Path), line, e.Msg))
}
