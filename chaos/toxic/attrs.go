package toxic

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"sort"
	"strings"

	"github.com/holdfast-dev/holdfast"
)

// Bounds shared by the attribute parsers. Times are whole milliseconds, as in
// Toxiproxy; a day is far beyond any useful fault and keeps every conversion
// to time.Duration clear of overflow.
const (
	maxMillis = 24 * 60 * 60 * 1000
	maxMicros = maxMillis * 1000
	maxBytes  = 1 << 50
)

// attrs reads one toxic's "attributes" object. Each getter marks its key as
// known, checks type and range, and records a key-named error instead of
// returning one, so that a single request reports every bad value; finish
// adds the unknown keys.
type attrs struct {
	prefix string // "attributes."
	m      map[string]json.RawMessage
	used   map[string]bool
	errs   []error
}

func newAttrs(prefix string, raw json.RawMessage) (*attrs, error) {
	a := &attrs{prefix: prefix, m: map[string]json.RawMessage{}, used: map[string]bool{}}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return a, nil
	}
	if raw[0] != '{' {
		return nil, holdfast.ConfigErrorf("toxic", strings.TrimSuffix(prefix, "."), "must be a JSON object")
	}
	if err := json.Unmarshal(raw, &a.m); err != nil {
		return nil, holdfast.ConfigErrorf("toxic", strings.TrimSuffix(prefix, "."), "%v", err)
	}
	return a, nil
}

func (a *attrs) fail(key, format string, args ...any) {
	a.errs = append(a.errs, holdfast.ConfigErrorf("toxic", a.prefix+key, format, args...))
}

// take returns the raw value of key, or false when it is absent or null.
func (a *attrs) take(key string) (json.RawMessage, bool) {
	a.used[key] = true
	v, ok := a.m[key]
	if !ok || string(bytes.TrimSpace(v)) == "null" {
		return nil, false
	}
	return v, true
}

// number parses key as a finite JSON number.
func (a *attrs) number(key string) (float64, bool) {
	v, ok := a.take(key)
	if !ok {
		return 0, false
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		a.fail(key, "must be a number, got %s", short(v))
		return 0, false
	}
	return f, true
}

// integer parses key as a whole number in [lo, hi]; def when absent.
func (a *attrs) integer(key string, def, lo, hi int64) int64 {
	f, ok := a.number(key)
	if !ok {
		return def
	}
	if f != math.Trunc(f) {
		a.fail(key, "must be a whole number, got %g", f)
		return def
	}
	if f < float64(lo) || f > float64(hi) {
		a.fail(key, "must be in [%d, %d], got %.0f", lo, hi, f)
		return def
	}
	return int64(f)
}

// real parses key as a number in [lo, hi]; def when absent.
func (a *attrs) real(key string, def, lo, hi float64) float64 {
	f, ok := a.number(key)
	if !ok {
		return def
	}
	if f < lo || f > hi {
		a.fail(key, "must be in [%g, %g], got %g", lo, hi, f)
		return def
	}
	return f
}

// millis parses a non-negative whole number of milliseconds.
func (a *attrs) millis(key string) int64 { return a.integer(key, 0, 0, maxMillis) }

func (a *attrs) str(key, def string) string {
	v, ok := a.take(key)
	if !ok {
		return def
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		a.fail(key, "must be a string, got %s", short(v))
		return def
	}
	return s
}

func (a *attrs) strMap(key string) map[string]string {
	v, ok := a.take(key)
	if !ok {
		return nil
	}
	var m map[string]string
	if err := json.Unmarshal(v, &m); err != nil {
		a.fail(key, "must be an object of strings, got %s", short(v))
		return nil
	}
	return m
}

// finish reports the keys no getter asked for, then every recorded error.
func (a *attrs) finish() error {
	var unknown []string
	for k := range a.m {
		if !a.used[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		a.fail(k, "unknown attribute")
	}
	return errors.Join(a.errs...)
}

// short quotes a raw JSON value for an error message, cut to a sane length.
func short(v json.RawMessage) string {
	s := string(bytes.TrimSpace(v))
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return s
}
