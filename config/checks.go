package config

import (
	"fmt"
	"math"
	"regexp"
	"time"

	"github.com/holdfast-dev/holdfast/internal/yamlpath"
	"github.com/holdfast-dev/holdfast/vote"
)

// Defaults and bounds of a route's response checks.
const (
	// DefaultChecksMaxBodyBytes is checks_max_body_bytes: the most of a
	// response body buffered to judge its json checks.
	DefaultChecksMaxBodyBytes = 1 << 20
	// MaxChecksMaxBodyBytes bounds checks_max_body_bytes: the body is held
	// in memory until it is judged.
	MaxChecksMaxBodyBytes = 64 << 20
	// MaxChecks bounds a route's checks: each response is judged by all.
	MaxChecks = 64
)

// ResponseChecks are a route's response invariants: a response that breaks
// one is never relayed. It sits inline in [Route], so its keys are the
// route's own: checks, checks_max_body_bytes, checks_on_oversize.
type ResponseChecks struct {
	// Checks are the invariants, each one of status, header or json.
	// Default none: responses are relayed unjudged, at no cost.
	Checks []Check `yaml:"checks" json:"checks,omitempty"`
	// ChecksMaxBodyBytes is the most of a response body buffered to judge
	// the json checks; the body is read only when the route has one.
	// Default 1 MiB; at most 64 MiB.
	ChecksMaxBodyBytes int64 `yaml:"checks_max_body_bytes" json:"checks_max_body_bytes,omitempty"`
	// ChecksOnOversize is what a body over ChecksMaxBodyBytes is: fail (a
	// violation, like any other) or pass (relayed without its json checks,
	// and counted). Default fail.
	ChecksOnOversize OnOversize `yaml:"checks_on_oversize" json:"checks_on_oversize,omitempty"`
}

// OnOversize is checks_on_oversize.
type OnOversize string

// The values of checks_on_oversize.
const (
	OnOversizeFail OnOversize = "fail"
	OnOversizePass OnOversize = "pass"
)

// Check is one response invariant: exactly one of Status, Header and JSON.
type Check struct {
	// Status lists the statuses a response may have.
	Status []int `yaml:"status" json:"status,omitempty"`
	// Header is a header that must be present, or match a regex.
	Header *HeaderCheck `yaml:"header" json:"header,omitempty"`
	// JSON is a condition on the value at a JSON Pointer of the body.
	JSON *JSONCheck `yaml:"json" json:"json,omitempty"`
}

// HeaderCheck is a check's header: Name must be present and, with Regex,
// one of its values must match it.
type HeaderCheck struct {
	// Name is the header's name, in any case; required.
	Name string `yaml:"name" json:"name"`
	// Regex, when set, is an RE2 expression one of the header's values
	// must match (unanchored: use ^ and $).
	Regex string `yaml:"regex" json:"regex,omitempty"`
}

// JSONCheck is a check's json: a condition on the value at Pointer in the
// body, which must be JSON. With no condition but Pointer, the value must
// exist. Every condition set must hold.
type JSONCheck struct {
	// Pointer is an RFC 6901 JSON Pointer to the value; "*" is an ordinary
	// member name here, not a wildcard. Default "": the whole body.
	Pointer string `yaml:"pointer" json:"pointer"`
	// Exists, when set, says whether the value must be there (true) or
	// must not (false, which allows no other condition).
	Exists *bool `yaml:"exists" json:"exists,omitempty"`
	// Equals is the value the JSON value must equal (numbers by value).
	Equals any `yaml:"equals" json:"equals,omitempty"`
	// In lists the values the JSON value must be one of.
	In []any `yaml:"in" json:"in,omitempty"`
	// Min and Max bound a number, both inclusive; the value must then be
	// a number.
	Min *float64 `yaml:"min" json:"min,omitempty"`
	Max *float64 `yaml:"max" json:"max,omitempty"`
	// Regex is an RE2 expression a string value must match (unanchored).
	Regex string `yaml:"regex" json:"regex,omitempty"`
	// Type is the JSON type the value must have.
	Type JSONType `yaml:"type" json:"type,omitempty"`
}

// JSONType is a json check's type.
type JSONType string

// The values of a json check's type.
const (
	JSONString  JSONType = "string"
	JSONNumber  JSONType = "number"
	JSONBoolean JSONType = "boolean"
	JSONObject  JSONType = "object"
	JSONArray   JSONType = "array"
	JSONNull    JSONType = "null"
)

// NeedsBody reports whether any check reads the body (a json check).
func (rc *ResponseChecks) NeedsBody() bool {
	for _, c := range rc.Checks {
		if c.JSON != nil {
			return true
		}
	}
	return false
}

func (rc *ResponseChecks) applyDefaults() {
	if len(rc.Checks) == 0 {
		return
	}
	if rc.ChecksMaxBodyBytes == 0 {
		rc.ChecksMaxBodyBytes = DefaultChecksMaxBodyBytes
	}
	if rc.ChecksOnOversize == "" {
		rc.ChecksOnOversize = OnOversizeFail
	}
}

func (c *Config) applyChecksDefaults() {
	for _, r := range c.Routes {
		if r != nil {
			r.ResponseChecks.applyDefaults()
		}
	}
}

// validateChecks checks the route at p's response checks.
func validateChecks(errs *errorList, p string, r *Route) {
	rc := &r.ResponseChecks
	if len(rc.Checks) == 0 {
		if rc.ChecksMaxBodyBytes != 0 {
			errs.add(p+".checks_max_body_bytes", "needs checks")
		}
		if rc.ChecksOnOversize != "" {
			errs.add(p+".checks_on_oversize", "needs checks")
		}
		return
	}
	if r.LongLived && rc.NeedsBody() {
		errs.add(p+".checks", "json checks buffer the body, and a long_lived route streams it: use status and header checks only")
	}
	if len(rc.Checks) > MaxChecks {
		errs.add(p+".checks", "must list at most %d checks, got %d", MaxChecks, len(rc.Checks))
	}
	for i := range rc.Checks {
		rc.Checks[i].validate(errs, yamlpath.Index(p+".checks", i))
	}
	if rc.ChecksMaxBodyBytes < 1 || rc.ChecksMaxBodyBytes > MaxChecksMaxBodyBytes {
		errs.add(p+".checks_max_body_bytes", "must be in [1, %d] (64 MiB), got %d", MaxChecksMaxBodyBytes, rc.ChecksMaxBodyBytes)
	}
	switch rc.ChecksOnOversize {
	case OnOversizeFail, OnOversizePass:
	default:
		errs.add(p+".checks_on_oversize", "must be fail or pass, got %q", string(rc.ChecksOnOversize))
	}
}

func (c *Check) validate(errs *errorList, p string) {
	n := 0
	if c.Status != nil {
		n++
	}
	if c.Header != nil {
		n++
	}
	if c.JSON != nil {
		n++
	}
	if n != 1 {
		errs.add(p, "must set exactly one of status, header and json, got %d", n)
		return
	}
	switch {
	case c.Status != nil:
		if len(c.Status) == 0 {
			errs.add(p+".status", "must list at least one status")
		}
		for j, s := range c.Status {
			if s < 100 || s > 599 {
				errs.add(yamlpath.Index(p+".status", j), "must be an HTTP status in [100, 599], got %d", s)
			}
		}
	case c.Header != nil:
		h := c.Header
		switch {
		case h.Name == "":
			errs.add(p+".header.name", "is required")
		case !headerToken.MatchString(h.Name):
			errs.add(p+".header.name", "not a header name: %q", h.Name)
		}
		if _, err := regexp.Compile(h.Regex); err != nil {
			errs.add(p+".header.regex", "does not compile: %v", err)
		}
	default:
		c.JSON.validate(errs, p+".json")
	}
}

// headerToken is a header field name (RFC 9110 §5.1: a token).
var headerToken = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

func (j *JSONCheck) validate(errs *errorList, p string) {
	if _, err := vote.ParsePointer(j.Pointer); err != nil {
		errs.add(p+".pointer", "invalid JSON pointer %q: %v", j.Pointer, err)
	}
	if j.Exists != nil && !*j.Exists && (j.Equals != nil || j.In != nil || j.Min != nil || j.Max != nil || j.Regex != "" || j.Type != "") {
		errs.add(p+".exists", "exists: false allows no other condition")
	}
	if j.Equals != nil {
		if why := notJSON(j.Equals); why != "" {
			errs.add(p+".equals", "not a JSON value: %s", why)
		}
	}
	if j.In != nil && len(j.In) == 0 {
		errs.add(p+".in", "must list at least one value")
	}
	for k, v := range j.In {
		if why := notJSON(v); why != "" {
			errs.add(yamlpath.Index(p+".in", k), "not a JSON value: %s", why)
		}
	}
	for _, b := range []struct {
		key string
		v   *float64
	}{{"min", j.Min}, {"max", j.Max}} {
		if b.v != nil && (math.IsNaN(*b.v) || math.IsInf(*b.v, 0)) {
			errs.add(p+"."+b.key, "must be a finite number, got %v", *b.v)
		}
	}
	if j.Min != nil && j.Max != nil && *j.Min > *j.Max {
		errs.add(p+".min", "%v is above max %v", *j.Min, *j.Max)
	}
	if _, err := regexp.Compile(j.Regex); err != nil {
		errs.add(p+".regex", "does not compile: %v", err)
	}
	switch j.Type {
	case "", JSONString, JSONNumber, JSONBoolean, JSONObject, JSONArray, JSONNull:
	default:
		errs.add(p+".type", "must be string, number, boolean, object, array or null, got %q", string(j.Type))
	}
}

// notJSON says why a value decoded from YAML is not a JSON value, or "":
// a YAML timestamp (unquoted 2024-01-01), a mapping with keys that are not
// strings, a number that is not finite.
func notJSON(v any) string {
	switch x := v.(type) {
	case nil, bool, string, int, int64, uint64:
		return ""
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "unsupported value " + fmt.Sprint(x)
		}
		return ""
	case time.Time:
		return "a YAML timestamp; quote it to compare a string"
	case []any:
		for _, e := range x {
			if why := notJSON(e); why != "" {
				return why
			}
		}
		return ""
	case map[string]any:
		for _, e := range x {
			if why := notJSON(e); why != "" {
				return why
			}
		}
		return ""
	}
	return fmt.Sprintf("unsupported type %T (a mapping needs string keys)", v)
}
