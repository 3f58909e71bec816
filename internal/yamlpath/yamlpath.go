package yamlpath

import (
	"fmt"
	"iter"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Join returns the path of key in the mapping at path: "key" at the top of
// the file, "path.key" below it.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Index returns the path of item i of the list at path, "path[i]".
func Index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// Append returns the path of rel, a path relative to the value at path:
// "" is that value itself, "[1]" its second item, "a.b" a key below it.
// Types that decode themselves name their errors so, not knowing where
// they sit in the file.
func Append(path, rel string) string {
	switch {
	case rel == "":
		return path
	case strings.HasPrefix(rel, "["):
		return path + rel
	}
	return Join(path, rel)
}

// Parent returns the path of the value that holds the one at p: the
// mapping of "a.b" is "a", the list of "a[1]" is "a", and the file itself,
// "", holds the top-level keys.
func Parent(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i <= 0 {
		return ""
	}
	return p[:i]
}

// Lines maps key paths to the lines they are on. The zero value is empty
// and ready to use; a Lines is not safe for concurrent writes.
type Lines struct {
	m map[string]int
}

// Set records that path is on line, unless a line is known for it already:
// the first place a path is met, its key, is where a reader looks for it.
func (l *Lines) Set(path string, line int) {
	if _, ok := l.m[path]; ok {
		return
	}
	if l.m == nil {
		l.m = map[string]int{}
	}
	l.m[path] = line
}

// Line returns the line of path, or of its nearest parent the file has, or
// 0 when the file has none of them.
func (l *Lines) Line(path string) int {
	for p := path; p != ""; p = Parent(p) {
		if n, ok := l.m[p]; ok {
			return n
		}
	}
	return 0
}

// Describe names what a node is, for an error about a value of the wrong
// kind: "a mapping", "a list", or a scalar's value, quoted.
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// maxSuggestDistance is one more than the most edits a suggestion may be
// from the key it corrects: two typing slips ("timout", "retyr_on").
const maxSuggestDistance = 3

// Suggest returns ` (did you mean "k"?)` for the known key k nearest to
// key, when one is at most two edits away (the alphabetically first of
// the nearest, when several are), and "" otherwise; an empty known key is
// never suggested. An unknown-key error
// ends with it.
func Suggest(key string, known iter.Seq[string]) string {
	best, bestD := "", maxSuggestDistance
	for k := range known {
		if k == "" {
			continue
		}
		if d := editDistance(key, k); d < bestD || (d == bestD && best != "" && k < best) {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
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
