package config

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxAliasValues bounds what YAML aliases may add to a file: the values
// they repeat, counted each time they are repeated (an alias of a list of
// three strings adds four: the list and its items), may number at most
// 100,000 in all. Without a bound a few kilobytes of aliases of aliases
// ("billion laughs") expand to gigabytes; with it, aliases cost at most a
// few tens of megabytes however they nest. Real configs that share a retry
// block among a few hundred routes stay far below it.
const MaxAliasValues = 100_000

// aliasCheck walks a node tree once, in file order, without following
// aliases, and works out what each alias adds: the size of what it names,
// aliases inside that expanded too. It stops at the first alias that takes
// the total past the budget, or that names a value containing the alias
// itself (yaml accepts "&a [*a]"; following it never ends).
type aliasCheck struct {
	budget int
	extra  int                // values added by the aliases seen so far
	size   map[*yaml.Node]int // expanded size of each anchored node done
	open   map[*yaml.Node]bool
	path   []string // key path components of the node being visited
	err    *Error
}

// checkAliases returns an *Error naming the alias, with its key path and
// line, that makes the aliases of root add more than [MaxAliasValues]
// values or that names a value it is part of, or nil.
func checkAliases(root *yaml.Node) *Error {
	a := &aliasCheck{budget: MaxAliasValues}
	if !hasAlias(root) {
		return nil
	}
	a.size = map[*yaml.Node]int{}
	a.open = map[*yaml.Node]bool{}
	a.visit(root)
	return a.err
}

func hasAlias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		return true
	}
	for _, c := range n.Content {
		if hasAlias(c) {
			return true
		}
	}
	return false
}

// visit returns the size of n with its aliases expanded, at most
// budget+1 past what the file holds (sizes saturate so that nested aliases
// cannot overflow), or -1 once an error is found.
func (a *aliasCheck) visit(n *yaml.Node) int {
	if n.Kind == yaml.AliasNode {
		t := n.Alias
		if t == nil {
			return 1
		}
		if a.open[t] {
			a.fail(n, "alias *%s names a value that contains it, which would repeat without end", n.Value)
			return -1
		}
		s := a.size[t]
		a.extra = satAdd(a.extra, s)
		if a.extra > a.budget {
			a.fail(n, "alias *%s takes the values that aliases repeat past %d; a config file may repeat at most %d values through aliases", n.Value, a.budget, a.budget)
			return -1
		}
		return s
	}
	if n.Anchor != "" {
		a.open[n] = true
	}
	size := 1
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			a.path = append(a.path, "."+n.Content[i].Value)
			s := a.visit(n.Content[i+1])
			a.path = a.path[:len(a.path)-1]
			if s < 0 {
				return -1
			}
			// Keys count one each; an alias as a key is rare, and is not
			// expanded when the key is used as a name.
			size = satAdd(size, 1+s)
		}
	default:
		for i, c := range n.Content {
			if n.Kind == yaml.SequenceNode {
				a.path = append(a.path, "["+strconv.Itoa(i)+"]")
			}
			s := a.visit(c)
			if n.Kind == yaml.SequenceNode {
				a.path = a.path[:len(a.path)-1]
			}
			if s < 0 {
				return -1
			}
			size = satAdd(size, s)
		}
	}
	if n.Anchor != "" {
		delete(a.open, n)
		a.size[n] = size
	}
	return size
}

func (a *aliasCheck) fail(n *yaml.Node, format string, args ...any) {
	path := strings.TrimPrefix(strings.Join(a.path, ""), ".")
	a.err = newError(path, n.Line, fmt.Sprintf(format, args...))
}

// satAdd adds two sizes, saturating well below overflow.
func satAdd(a, b int) int {
	const ceiling = 1 << 40
	if a+b > ceiling || a+b < 0 {
		return ceiling
	}
	return a + b
}
