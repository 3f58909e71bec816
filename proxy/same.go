package proxy

import (
	"bytes"
	"encoding/json"
)

// sameJSON reports whether a and b encode to the same JSON: a cheap, exact
// equality for config structs, whose func and listener fields are left out of
// JSON.
func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
