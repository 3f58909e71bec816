package vote

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
)

// MaxDifferences bounds the differences [DiffJSON] returns: a report of two
// unrelated documents names the first ones, not every leaf.
const MaxDifferences = 100

// maxDiffValue bounds the text of each side kept in a [Difference].
const maxDiffValue = 256

// Difference is one place where two JSON documents differ under a
// [JSONOptions]: a member present on one side only, two values of different
// types or values, arrays of different lengths, or unordered arrays that
// differ as multisets (reported at the array, not an element).
type Difference struct {
	// Pointer is the RFC 6901 JSON Pointer of the value that differs, "" for
	// the whole document.
	Pointer string `json:"pointer"`
	// A and B are the two sides' values there, as compact JSON text cut to
	// 256 bytes (ending in "..." when cut); "" where the side has none.
	A string `json:"a"`
	B string `json:"b"`
}

// DiffJSON returns where the JSON documents a and b differ under o, in
// document order (members sorted by name), at most [MaxDifferences] of
// them; none when the comparator [JSON] would call them equal. It returns
// an error when o's pointers do not parse or a side is not one JSON value.
func DiffJSON(a, b []byte, o JSONOptions) ([]Difference, error) {
	c, err := o.compile()
	if err != nil {
		return nil, err
	}
	va, err := decodeJSON(a)
	if err != nil {
		return nil, err
	}
	vb, err := decodeJSON(b)
	if err != nil {
		return nil, err
	}
	d := differ{c: c}
	d.diff("", va, vb, true, true, false, c.ignore, c.unordered)
	return d.out, nil
}

// decodeJSON parses data as one JSON value, numbers kept as text.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("vote: trailing data after JSON value")
	}
	return v, nil
}

// differ collects the differences of one DiffJSON.
type differ struct {
	c   *jsonComparator
	out []Difference
}

func (d *differ) full() bool { return len(d.out) >= MaxDifferences }

// diff compares a and b at ptr; hasA and hasB say whether each side has a
// value there at all, and member whether the value is an object's member.
// ignore and unordered are as for jsonComparator.write.
func (d *differ) diff(ptr string, a, b any, hasA, hasB, member bool, ignore, unordered [][]string) {
	if d.full() {
		return
	}
	// An ignored member may be absent from one side; an ignored array
	// element still counts toward its array's length, as in the comparator.
	if ended(ignore) && (member || hasA == hasB) {
		return
	}
	if hasA && hasB && !ended(ignore) {
		switch a := a.(type) {
		case map[string]any:
			if b, ok := b.(map[string]any); ok {
				keys := make([]string, 0, len(a)+len(b))
				for k := range a {
					keys = append(keys, k)
				}
				for k := range b {
					if _, dup := a[k]; !dup {
						keys = append(keys, k)
					}
				}
				slices.Sort(keys)
				for _, k := range keys {
					va, okA := a[k]
					vb, okB := b[k]
					d.diff(ptr+"/"+escapeToken(k), va, vb, okA, okB, true, step(ignore, k), step(unordered, k))
				}
				return
			}
		case []any:
			if b, ok := b.([]any); ok && !ended(unordered) {
				for i := range max(len(a), len(b)) {
					var va, vb any
					if i < len(a) {
						va = a[i]
					}
					if i < len(b) {
						vb = b[i]
					}
					idx := strconv.Itoa(i)
					d.diff(ptr+"/"+idx, va, vb, i < len(a), i < len(b), false, step(ignore, idx), step(unordered, idx))
				}
				return
			}
		}
		if d.canonical(a, ignore, unordered) == d.canonical(b, ignore, unordered) {
			return
		}
	}
	diff := Difference{Pointer: ptr}
	if hasA {
		diff.A = compact(a)
	}
	if hasB {
		diff.B = compact(b)
	}
	d.out = append(d.out, diff)
}

// canonical is v's encoding under the comparator's rules at this position.
func (d *differ) canonical(v any, ignore, unordered [][]string) string {
	var b strings.Builder
	d.c.write(&b, v, ignore, unordered)
	return b.String()
}

// compact returns v as JSON text cut to maxDiffValue bytes.
func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	if len(b) > maxDiffValue {
		return string(b[:maxDiffValue]) + "..."
	}
	return string(b)
}

// escapeToken encodes a reference token for a JSON Pointer: "~" as "~0",
// then "/" as "~1" (RFC 6901 section 3).
func escapeToken(t string) string {
	if !strings.ContainsAny(t, "~/") {
		return t
	}
	return strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1")
}
