package config

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// toNode builds the YAML node tree of v the way yaml.Marshal would see it
// (yaml struct tags, inline structs, Marshaler and TextMarshaler, durations
// as strings), without going through YAML text. With omitZero, struct
// fields holding their zero value are left out: in holdfast's configs zero
// means "the default", so what is left is what the file set plus the
// defaults the loader filled in. yaml.Node.Encode does go
// through text, and yaml.v3's emitter writes a literal block that its own
// parser rejects for some multi-line strings inside sequences (a fallback
// body " {\n}" in routes[]), which would break the admin API's GET /config.
func toNode(v reflect.Value, omitZero bool) (*yaml.Node, error) {
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nullNode(), nil
		}
		if m, ok := marshaler(v); ok {
			return m()
		}
		v = v.Elem()
	}
	if !v.IsValid() {
		return nullNode(), nil
	}
	if m, ok := marshaler(v); ok {
		return m()
	}
	if v.Type() == durationType {
		return strNode(time.Duration(v.Int()).String()), nil
	}
	switch v.Kind() {
	case reflect.String:
		return strNode(v.String()), nil
	case reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v.Bool())}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v.Int(), 10)}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatUint(v.Uint(), 10)}, nil
	case reflect.Float32, reflect.Float64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: formatFloat(v.Float())}, nil
	case reflect.Slice, reflect.Array:
		// Like yaml.Marshal, a nil slice is an empty sequence.
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i := range v.Len() {
			c, err := toNode(v.Index(i), omitZero)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		return n, nil
	case reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int {
			return strings.Compare(fmt.Sprint(a.Interface()), fmt.Sprint(b.Interface()))
		})
		for _, k := range keys {
			c, err := toNode(v.MapIndex(k), omitZero)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, strNode(fmt.Sprint(k.Interface())), c)
		}
		return n, nil
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		return n, addFields(n, v, omitZero)
	}
	// Funcs, channels: never part of a config's YAML.
	return nullNode(), nil
}

// addFields appends the YAML fields of struct v to mapping n.
func addFields(n *yaml.Node, v reflect.Value, omitZero bool) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		fv := v.Field(i)
		if strings.Contains(opts, "inline") {
			for fv.Kind() == reflect.Pointer {
				if fv.IsNil() {
					break
				}
				fv = fv.Elem()
			}
			if fv.Kind() == reflect.Struct {
				if err := addFields(n, fv, omitZero); err != nil {
					return err
				}
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if (omitZero || strings.Contains(opts, "omitempty")) && fv.IsZero() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		c, err := toNode(fv, omitZero)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		n.Content = append(n.Content, strNode(name), c)
	}
	return nil
}

// marshaler returns how v encodes itself, if it does.
func marshaler(v reflect.Value) (func() (*yaml.Node, error), bool) {
	if !v.CanInterface() {
		return nil, false
	}
	switch m := v.Interface().(type) {
	case yaml.Marshaler:
		return func() (*yaml.Node, error) {
			out, err := m.MarshalYAML()
			if err != nil {
				return nil, err
			}
			if n, ok := out.(*yaml.Node); ok {
				return n, nil
			}
			return toNode(reflect.ValueOf(out), false)
		}, true
	case encoding.TextMarshaler:
		return func() (*yaml.Node, error) {
			b, err := m.MarshalText()
			if err != nil {
				return nil, err
			}
			return strNode(string(b)), nil
		}, true
	}
	return nil, false
}

func nullNode() *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"} }

// strNode is a string scalar. A multi-line string is written double-quoted,
// which yaml.v3 emits correctly everywhere (see toNode).
// So is a YAML 1.1 boolean such as "on" (a fallback's `on:` key), which
// yaml.v3 reads as a string but older parsers as true.
func strNode(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if strings.ContainsAny(s, "\n\r") || oldBools[strings.ToLower(s)] {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

var oldBools = map[string]bool{"y": true, "yes": true, "n": true, "no": true, "on": true, "off": true}

func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return ".nan"
	case math.IsInf(f, 1):
		return ".inf"
	case math.IsInf(f, -1):
		return "-.inf"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0" // so that it reads back as a float, with no explicit tag
	}
	return s
}
