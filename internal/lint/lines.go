package lint

import (
	"bytes"

	"go.yaml.in/yaml/v3"

	"github.com/holdfast-dev/holdfast/internal/yamlpath"
)

// Lines maps the key paths of one file, named as config's errors name them
// ("routes[2].retry.attempts"), to the lines they are on. The zero value
// knows no key, and every line it gives is 0. A Lines is read-only once
// built and safe for concurrent use.
type Lines struct {
	m map[string]int
}

// maxIndexNodes bounds the nodes [IndexLines] visits, aliases followed:
// config already refuses a file whose aliases expand past its own bound, so
// this only keeps a hand-made tree from taking forever.
const maxIndexNodes = 1 << 20

// IndexLines records the line of every mapping key and list item of the
// YAML document in data. A document that does not parse gives an empty
// Lines: config's own errors describe it.
func IndexLines(data []byte) Lines {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil {
		return Lines{}
	}
	x := indexer{l: Lines{m: map[string]int{}}}
	x.walk("", &root)
	return x.l
}

type indexer struct {
	l     Lines
	nodes int
}

func (x *indexer) walk(path string, n *yaml.Node) {
	if x.nodes++; x.nodes > maxIndexNodes {
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return
		}
		n = n.Alias
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			x.walk(path, c)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			p := yamlpath.Join(path, k.Value)
			x.set(p, k.Line)
			x.walk(p, n.Content[i+1])
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p := yamlpath.Index(path, i)
			x.set(p, item.Line)
			x.walk(p, item)
		}
	}
}

// set keeps the first line seen for a path, as config's index does.
func (x *indexer) set(path string, line int) {
	if _, ok := x.l.m[path]; !ok {
		x.l.m[path] = line
	}
}

// Has reports whether the file spells out path itself, rather than leaving
// it to its default.
func (l Lines) Has(path string) bool {
	_, ok := l.m[path]
	return ok
}

// Line returns the line of path, or of its nearest parent the file has (a
// key left to its default has no line of its own), or 0.
func (l Lines) Line(path string) int {
	for p := path; p != ""; p = yamlpath.Parent(p) {
		if n, ok := l.m[p]; ok {
			return n
		}
	}
	return 0
}

// key returns the first of paths the file spells out, or the last one: a
// finding names the key a reader would change, or else the block where it
// would go.
func (l Lines) key(paths ...string) string {
	for _, p := range paths {
		if l.Has(p) {
			return p
		}
	}
	return paths[len(paths)-1]
}
