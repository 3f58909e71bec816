package vote

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/holdfast-dev/holdfast"
)

// JSONOptions configures the comparator built by [JSON]: two documents are
// equal when they are equal as JSON values once the Ignore paths are
// removed, with the Unordered arrays compared as multisets.
//
// Paths are RFC 6901 JSON Pointers ("/items/0/id", with "~0" for "~" and
// "~1" for "/"); "" is the whole document. As an extension, a token that is
// exactly "*" matches any one member name or array index, so "/items/*/ts"
// names the ts member of every element of items. Because of that, a pointer
// cannot name only a member literally called "*": the wildcard covers it
// together with its siblings.
//
// Inside an Unordered array, elements have no fixed position, so only "*"
// matches their index there: "/tags/*/id" applies to every element of an
// unordered tags array, "/tags/0/id" to none.
type JSONOptions struct {
	// Ignore lists values that do not take part in the comparison, such as
	// timestamps or request ids. An ignored member may be present in one
	// document and absent from the other; an ignored array element still
	// counts toward its array's length.
	Ignore []string `yaml:"ignore" json:"ignore"`

	// Unordered lists arrays whose elements may come in any order. Their
	// elements are compared as multisets, each element under the same rules
	// (ignored paths, nested unordered arrays).
	Unordered []string `yaml:"unordered" json:"unordered"`
}

// Validate reports every pointer in o that does not parse, as a
// [*holdfast.ConfigError] under "vote" with key "json.ignore[i]" or
// "json.unordered[i]", joined with errors.Join.
func (o JSONOptions) Validate() error {
	_, err := o.compile()
	return err
}

// compile parses o's pointers.
func (o JSONOptions) compile() (*jsonComparator, error) {
	c := &jsonComparator{}
	var errs []error
	for _, list := range []struct {
		key  string
		ptrs []string
		dst  *[][]string
	}{{"json.ignore", o.Ignore, &c.ignore}, {"json.unordered", o.Unordered, &c.unordered}} {
		for i, p := range list.ptrs {
			tokens, err := parsePointer(p)
			if err != nil {
				errs = append(errs, holdfast.ConfigErrorf("vote", fmt.Sprintf("%s[%d]", list.key, i), "invalid JSON pointer %q: %v", p, err))
				continue
			}
			*list.dst = append(*list.dst, tokens)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// JSON returns a comparator for [Config.Compare] that compares values as
// JSON documents under o. A []byte or json.RawMessage is compared as the
// JSON text it holds; any other T is first marshalled with encoding/json.
//
// Equality is semantic: member order and insignificant whitespace do not
// matter, numbers compare by exact decimal value (1, 1.0 and 10e-1 are
// equal, without rounding through float64), and strings compare after
// unescaping. Text that is not valid JSON, or a value that cannot be
// marshalled, is equal only to byte-identical text (respectively to a
// reflect.DeepEqual value) that is equally invalid. The comparator is
// symmetric and an equivalence relation, and safe for concurrent use.
func JSON[T any](o JSONOptions) (func(a, b T) bool, error) {
	c, err := o.compile()
	if err != nil {
		return nil, err
	}
	return func(a, b T) bool { return c.equal(a, b) }, nil
}

// MustJSON is like [JSON] but panics on an invalid pointer.
func MustJSON[T any](o JSONOptions) func(a, b T) bool {
	f, err := JSON[T](o)
	if err != nil {
		panic(err)
	}
	return f
}

// jsonComparator holds the parsed pointers of a JSONOptions.
type jsonComparator struct {
	ignore    [][]string
	unordered [][]string
}

// equal compares a and b, which are JSON text or values to marshal.
func (c *jsonComparator) equal(a, b any) bool {
	ta, aText := jsonText(a)
	tb, bText := jsonText(b)
	if !aText || !bText {
		// Marshalling failed on at least one side.
		return !aText && !bText && reflect.DeepEqual(a, b)
	}
	ca, errA := c.canonical(ta)
	cb, errB := c.canonical(tb)
	switch {
	case errA == nil && errB == nil:
		return ca == cb
	case errA != nil && errB != nil:
		return bytes.Equal(ta, tb)
	}
	return false
}

// jsonText returns the JSON text of v, and false if v cannot be marshalled.
func jsonText(v any) ([]byte, bool) {
	switch t := v.(type) {
	case []byte:
		return t, true
	case json.RawMessage:
		return t, true
	}
	b, err := json.Marshal(v)
	return b, err == nil
}

// canonical parses the JSON text data and returns a canonical encoding of
// it under c's rules: equal documents, and only those, have equal
// encodings.
func (c *jsonComparator) canonical(data []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", errors.New("vote: trailing data after JSON value")
	}
	var b strings.Builder
	c.write(&b, v, c.ignore, c.unordered)
	return b.String(), nil
}

// ignoredMark stands for an ignored value where its position matters (an
// array element, or the whole document). It is not valid JSON, so it cannot
// collide with a value's encoding.
const ignoredMark = "?"

// write appends the canonical encoding of v, at a position where ignore and
// unordered are the remaining tokens of the pointers still matching it.
func (c *jsonComparator) write(b *strings.Builder, v any, ignore, unordered [][]string) {
	if ended(ignore) {
		b.WriteString(ignoredMark)
		return
	}
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		first := true
		for _, k := range keys {
			ign := step(ignore, k)
			if ended(ign) {
				continue // an ignored member may be present on one side only
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.WriteString(strconv.Quote(k))
			b.WriteByte(':')
			c.write(b, v[k], ign, step(unordered, k))
		}
		b.WriteByte('}')
	case []any:
		if ended(unordered) {
			// Elements have no position: only wildcards reach them, and
			// sorting their encodings turns the multiset into a sequence.
			elems := make([]string, len(v))
			for i, e := range v {
				var eb strings.Builder
				c.write(&eb, e, step(ignore, wildcard), step(unordered, wildcard))
				elems[i] = eb.String()
			}
			slices.Sort(elems)
			b.WriteString("<")
			b.WriteString(strings.Join(elems, ","))
			b.WriteString(">")
			return
		}
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			idx := strconv.Itoa(i)
			c.write(b, e, step(ignore, idx), step(unordered, idx))
		}
		b.WriteByte(']')
	case string:
		b.WriteString(strconv.Quote(v))
	case json.Number:
		b.WriteString(canonicalNumber(string(v)))
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case nil:
		b.WriteString("null")
	}
}

// ended reports whether one of the pointers has no tokens left: it names the
// current value itself.
func ended(ptrs [][]string) bool {
	for _, p := range ptrs {
		if len(p) == 0 {
			return true
		}
	}
	return false
}

// step returns the pointers that continue into the child named token
// (a member name, an array index, or wildcard for an unordered element),
// with that token consumed.
func step(ptrs [][]string, token string) [][]string {
	var out [][]string
	for _, p := range ptrs {
		if len(p) > 0 && (p[0] == wildcard || p[0] == token) {
			out = append(out, p[1:])
		}
	}
	return out
}

// canonicalNumber returns a canonical form of the JSON number s: sign,
// significant digits and a decimal exponent, so that numbers with the same
// exact value, however written, have the same form. s must be a valid JSON
// number, as the decoder guarantees.
func canonicalNumber(s string) string {
	raw := s
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var exp int64
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.ParseInt(strings.TrimPrefix(s[i+1:], "+"), 10, 64)
		if err != nil || e > 1<<60 || e < -(1<<60) {
			return "n" + raw // an absurd exponent: compare as written
		}
		exp, s = e, s[:i]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	exp -= int64(len(frac))
	trimmed := strings.TrimRight(digits, "0")
	exp += int64(len(digits) - len(trimmed))
	if trimmed == "" {
		return "0" // zero, whatever its sign or exponent
	}
	sign := ""
	if neg {
		sign = "-"
	}
	return sign + trimmed + "e" + strconv.FormatInt(exp, 10)
}
