package drill

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// jsonPath is a JSONPath of the subset holdfast reads: the root $, then
// children by name (.name, ['name'] or ["name"]), by index ([0], [-1] from
// the end), every child (.* or [*]), and descendants (..name, ..*, ..[0]).
// Filters ([?(...)]), slices ([0:2]) and unions ([0,1]) are refused when
// the path is parsed, so that a tolerance never judges by a path it read
// differently from Chaos Toolkit.
type jsonPath []pathStep

// pathStep is one step: a name, an index or every child (all), searched
// among descendants when deep.
type pathStep struct {
	name  string
	index int
	kind  byte // 'n' name, 'i' index, '*' every child
	deep  bool
}

// maxPathSteps bounds a path's steps, and maxFound what a path gathers at
// any step: descendants of descendants grow fast.
const (
	maxPathSteps = 64
	maxFound     = 100000
)

func parseJSONPath(s string) (jsonPath, error) {
	if !strings.HasPrefix(s, "$") {
		return nil, fmt.Errorf("a JSONPath starts with $, got %q", s)
	}
	var p jsonPath
	i := 1
	for i < len(s) {
		if len(p) == maxPathSteps {
			return nil, fmt.Errorf("more than %d steps", maxPathSteps)
		}
		deep := false
		switch {
		case strings.HasPrefix(s[i:], ".."):
			deep = true
			i += 2
		case s[i] == '.':
			i++
		case s[i] == '[':
		default:
			return nil, fmt.Errorf("unexpected %q at %d in %q", s[i], i, s)
		}
		if i >= len(s) {
			return nil, fmt.Errorf("%q ends after a dot", s)
		}
		switch {
		case s[i] == '*':
			p = append(p, pathStep{kind: '*', deep: deep})
			i++
		case s[i] == '[':
			if i+1 < len(s) && (s[i+1] == '\'' || s[i+1] == '"') {
				// A quoted name may hold a ']': find the closing quote.
				q := s[i+1]
				end := strings.IndexByte(s[i+2:], q)
				if end < 0 {
					return nil, fmt.Errorf("unclosed quote at %d in %q", i+1, s)
				}
				j := i + 2 + end + 1
				if j >= len(s) || s[j] != ']' {
					return nil, fmt.Errorf("only one quoted name fits in [...] at %d in %q", i, s)
				}
				p = append(p, pathStep{kind: 'n', name: s[i+2 : i+2+end], deep: deep})
				i = j + 1
				continue
			}
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unclosed [ at %d in %q", i, s)
			}
			inner := strings.TrimSpace(s[i+1 : i+end])
			step, err := bracket(inner)
			if err != nil {
				return nil, fmt.Errorf("[%s] in %q: %v", inner, s, err)
			}
			step.deep = deep
			p = append(p, step)
			i += end + 1
		default:
			j := i
			for j < len(s) && s[j] != '.' && s[j] != '[' {
				j++
			}
			name := s[i:j]
			if strings.ContainsAny(name, "()?@,:' \"") {
				return nil, fmt.Errorf("%q in %q is not a name (holdfast reads names, indexes, * and ..)", name, s)
			}
			p = append(p, pathStep{kind: 'n', name: name, deep: deep})
			i = j
		}
	}
	return p, nil
}

func bracket(inner string) (pathStep, error) {
	if inner == "*" {
		return pathStep{kind: '*'}, nil
	}
	if strings.ContainsAny(inner, "?():,") {
		return pathStep{}, fmt.Errorf("filters, slices and unions are not supported (holdfast reads names, indexes, * and ..)")
	}
	n, err := strconv.Atoi(inner)
	if err != nil {
		return pathStep{}, fmt.Errorf("want an index, a quoted name or *")
	}
	return pathStep{kind: 'i', index: n}, nil
}

// find returns what p finds in v: children in order (a mapping's by sorted
// key, since a decoded JSON object has no order), descendants breadth
// first; at most maxFound.
func (p jsonPath) find(v any) []any {
	cur := []any{v}
	for _, st := range p {
		var next []any
		for _, c := range cur {
			if st.deep {
				for _, d := range descendants(c) {
					next = append(next, st.children(d)...)
				}
				if len(next) > maxFound {
					next = next[:maxFound]
					break
				}
				continue
			}
			next = append(next, st.children(c)...)
			if len(next) > maxFound {
				next = next[:maxFound]
				break
			}
		}
		cur = next
	}
	return cur
}

// descendants are v and everything below it, up to maxFound of them.
func descendants(v any) []any {
	out := []any{v}
	for i := 0; i < len(out) && len(out) < maxFound; i++ {
		out = append(out, allChildren(out[i])...)
	}
	if len(out) > maxFound {
		out = out[:maxFound]
	}
	return out
}

func allChildren(v any) []any {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([]any, 0, len(x))
		for _, k := range keys {
			out = append(out, x[k])
		}
		return out
	case []any:
		return x
	}
	return nil
}

func (st pathStep) children(v any) []any {
	switch st.kind {
	case '*':
		return allChildren(v)
	case 'n':
		if m, ok := v.(map[string]any); ok {
			if c, ok := m[st.name]; ok {
				return []any{c}
			}
		}
	case 'i':
		if l, ok := v.([]any); ok {
			i := st.index
			if i < 0 {
				i += len(l)
			}
			if i >= 0 && i < len(l) {
				return []any{l[i]}
			}
		}
	}
	return nil
}
