package importer

import (
	"maps"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/holdfast-dev/holdfast/internal/yamlpath"
)

// This file reads the YAML of one resource. Every mapping is read through
// an [object], which remembers the keys it was asked for: [object.done]
// names every other key as not translated, so that a field the importer
// does not know (a new API field, a typo) is reported, never dropped.

// resource is the resource being read: where its findings point.
type resource struct {
	imp  *importer
	file string
	name string // "VirtualService default/reviews"
	// budget is how many more values reading this resource may visit.
	// Aliases let a small document name the same values many times over
	// ("billion laughs"); each visit spends one, so reading is bounded by
	// the document's size plus [aliasBudget].
	budget *int
}

// aliasBudget is how many values past a document's own reading its
// aliases may add, as config.MaxAliasValues bounds a config file's.
const aliasBudget = 100_000

// value is one YAML value of a resource and its path: "spec.http[0]".
type value struct {
	r    *resource
	path string
	n    *yaml.Node
}

func (v value) line() int {
	if v.n == nil {
		return 0
	}
	return v.n.Line
}

// notTranslated reports v as a field holdfast has no equivalent for.
func (v value) notTranslated(format string, args ...any) {
	v.r.imp.add(v.r, v.path, v.line(), NotTranslated, format, args...)
}

// note reports that v was translated to something near, not equal.
func (v value) note(format string, args ...any) {
	v.r.imp.add(v.r, v.path, v.line(), Note, format, args...)
}

// spend takes one value from the budget, and reports once when it runs
// out; every read after that fails.
func (r *resource) spend(v value) bool {
	if *r.budget <= 0 {
		if *r.budget == 0 {
			v.notTranslated("the document's aliases repeat more than %d values; the rest of %s is not read", aliasBudget, r.name)
			*r.budget = -1
		}
		return false
	}
	*r.budget--
	return true
}

// deref follows an alias to the value it names.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// object is a YAML mapping being read. The zero of a missing object is
// nil; every method of a nil *object finds nothing.
type object struct {
	value
	keys  map[string]int // key -> index of its value in n.Content
	order []string
	used  map[string]bool // keys read
	asked map[string]bool // keys looked for, present or not: the known fields
}

// object returns v as a mapping, or reports it and returns nil. A null
// value is an empty mapping.
func (v value) object() *object {
	if !v.r.spend(v) {
		return nil
	}
	o := &object{value: v, keys: map[string]int{}, used: map[string]bool{}, asked: map[string]bool{}}
	if isNull(v.n) {
		return o
	}
	if v.n.Kind != yaml.MappingNode {
		v.notTranslated("must be a mapping, got %s", yamlpath.Describe(v.n))
		return nil
	}
	for i := 0; i+1 < len(v.n.Content); i += 2 {
		k := deref(v.n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			v.notTranslated("a key must be a string, got %s", describe(k))
			continue
		}
		if _, dup := o.keys[k.Value]; dup {
			value{v.r, yamlpath.Join(v.path, k.Value), k}.notTranslated("duplicate key; the first one is read")
			continue
		}
		o.keys[k.Value] = i + 1
		o.order = append(o.order, k.Value)
	}
	return o
}

func describe(n *yaml.Node) string {
	if n == nil {
		return "an alias that names nothing"
	}
	return yamlpath.Describe(n)
}

// get returns the value of key, marking it read; ok is false when the key
// is missing or null.
func (o *object) get(key string) (value, bool) {
	if o == nil {
		return value{}, false
	}
	o.asked[key] = true
	i, ok := o.keys[key]
	if !ok {
		return value{}, false
	}
	o.used[key] = true
	v := value{o.r, yamlpath.Join(o.path, key), deref(o.n.Content[i])}
	if v.n == nil {
		v.n = o.n.Content[i]
		v.notTranslated("alias names nothing")
		return value{}, false
	}
	if isNull(v.n) || !o.r.spend(v) {
		return value{}, false
	}
	return v, true
}

// has reports whether key is present (and not null), without reading it.
func (o *object) has(key string) bool {
	if o == nil {
		return false
	}
	o.asked[key] = true
	i, ok := o.keys[key]
	return ok && !isNull(deref(o.n.Content[i]))
}

// obj returns the mapping under key, or nil.
func (o *object) obj(key string) *object {
	v, ok := o.get(key)
	if !ok {
		return nil
	}
	return v.object()
}

// list returns the items of the list under key.
func (o *object) list(key string) []value {
	v, ok := o.get(key)
	if !ok {
		return nil
	}
	return v.list()
}

func (v value) list() []value {
	if v.n.Kind != yaml.SequenceNode {
		v.notTranslated("must be a list, got %s", yamlpath.Describe(v.n))
		return nil
	}
	out := make([]value, 0, len(v.n.Content))
	for i, c := range v.n.Content {
		item := value{v.r, yamlpath.Index(v.path, i), deref(c)}
		if item.n == nil {
			item.n = c
			item.notTranslated("alias names nothing")
			continue
		}
		if !v.r.spend(item) {
			return out
		}
		out = append(out, item)
	}
	return out
}

// entries returns the keys and values of the mapping under key, in file
// order.
func (o *object) entries(key string) ([]string, []value) {
	m := o.obj(key)
	if m == nil {
		return nil, nil
	}
	vals := make([]value, 0, len(m.order))
	for _, k := range m.order {
		v, ok := m.get(k)
		if !ok {
			// A null value: an empty match ("header: {}" written as
			// "header:"), kept as a null.
			v = value{m.r, yamlpath.Join(m.path, k), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}}
		}
		vals = append(vals, v)
	}
	return m.order, vals
}

// scalar returns v's text, or reports v and returns false.
func (v value) scalar(want string) (string, bool) {
	if v.n.Kind != yaml.ScalarNode {
		v.notTranslated("must be %s, got %s", want, yamlpath.Describe(v.n))
		return "", false
	}
	return v.n.Value, true
}

// str returns the string under key.
func (o *object) str(key string) (string, value, bool) {
	v, ok := o.get(key)
	if !ok {
		return "", v, false
	}
	s, ok := v.scalar("a string")
	return s, v, ok
}

// int returns the integer under key, which must fit in an int32 (the
// APIs' own type) and be at least min.
func (o *object) int(key string, min int64) (int, value, bool) {
	v, ok := o.get(key)
	if !ok {
		return 0, v, false
	}
	n, ok := v.intValue(min)
	return n, v, ok
}

func (v value) intValue(min int64) (int, bool) {
	s, ok := v.scalar("an integer")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v.n.Tag == "!!str" && v.n.Style != 0 {
		v.notTranslated("must be an integer, got %s", yamlpath.Describe(v.n))
		return 0, false
	}
	if n < min || n > math.MaxUint32 {
		v.notTranslated("must be an integer from %d to %d, got %d", min, int64(math.MaxUint32), n)
		return 0, false
	}
	return int(n), true
}

// float returns the number under key.
func (o *object) float(key string) (float64, value, bool) {
	v, ok := o.get(key)
	if !ok {
		return 0, v, false
	}
	s, ok := v.scalar("a number")
	if !ok {
		return 0, v, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || v.n.Tag == "!!str" && v.n.Style != 0 {
		v.notTranslated("must be a number, got %s", yamlpath.Describe(v.n))
		return 0, v, false
	}
	return f, v, true
}

// bool returns the boolean under key.
func (o *object) bool(key string) (bool, value, bool) {
	v, ok := o.get(key)
	if !ok {
		return false, v, false
	}
	s, ok := v.scalar("true or false")
	if !ok {
		return false, v, false
	}
	switch s {
	case "true", "True", "TRUE":
		return true, v, true
	case "false", "False", "FALSE":
		return false, v, true
	}
	v.notTranslated("must be true or false, got %s", yamlpath.Describe(v.n))
	return false, v, false
}

// duration returns the duration under key: a Go duration string, which
// covers both the protobuf JSON form ("1.5s") and the "1h/1m/1s/1ms" the
// Istio docs give. It must not be negative.
func (o *object) duration(key string) (time.Duration, value, bool) {
	v, ok := o.get(key)
	if !ok {
		return 0, v, false
	}
	d, ok := v.durationValue()
	return d, v, ok
}

func (v value) durationValue() (time.Duration, bool) {
	s, ok := v.scalar("a duration such as 10s")
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d < 0 {
		v.notTranslated("must be a duration such as 10s or 250ms, got %s", yamlpath.Describe(v.n))
		return 0, false
	}
	return d, true
}

// skip reports key, if present, as not translated, for why.
func (o *object) skip(key, why string, args ...any) {
	v, ok := o.get(key)
	if !ok {
		return
	}
	v.notTranslated(why, args...)
}

// done reports every key of o that was not read.
func (o *object) done() {
	if o == nil {
		return
	}
	for _, k := range o.order {
		if o.used[k] {
			continue
		}
		o.used[k] = true
		i := o.keys[k]
		v := value{o.r, yamlpath.Join(o.path, k), o.n.Content[i-1]}
		v.notTranslated("unknown field%s", yamlpath.Suggest(k, maps.Keys(o.asked)))
	}
}
