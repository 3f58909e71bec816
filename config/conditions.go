package config

import (
	"encoding/json"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/holdfast-dev/holdfast/internal/yamlpath"
)

// condition is one name a list of conditions (retry_on, fallback.on) may
// hold, and the field of the typed set it turns on.
type condition[T any] struct {
	name  string
	field func(*T) *bool
}

// conditionList decodes and encodes a set T of conditions from and to the
// YAML list of their names. conds is in the order the docs list them,
// which is the order they encode in.
type conditionList[T any] []condition[T]

// decode sets in *set the conditions n lists. An unknown name is an
// *Error whose path is the item's ("[1]"), as for any type that decodes
// itself; every one is reported, and the known names still take effect.
func (cl conditionList[T]) decode(n *yaml.Node, set *T) error {
	var zero T
	*set = zero
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return &Error{Line: n.Line, Msg: "must be a list of conditions, got " + yamlpath.Describe(n)}
	}
	var errs Errors
	for i, item := range n.Content {
		if item.Kind == yaml.AliasNode && item.Alias != nil {
			item = item.Alias
		}
		c, ok := cl.lookup(item)
		if !ok {
			errs = append(errs, &Error{Path: yamlpath.Index("", i), Line: item.Line,
				Msg: "unknown condition " + yamlpath.Describe(item) + "; want one of " + cl.names()})
			continue
		}
		*c.field(set) = true
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func (cl conditionList[T]) lookup(n *yaml.Node) (condition[T], bool) {
	if n.Kind == yaml.ScalarNode {
		for _, c := range cl {
			if c.name == n.Value {
				return c, true
			}
		}
	}
	return condition[T]{}, false
}

// list returns the names of the conditions set has, in cl's order.
func (cl conditionList[T]) list(set T) []string {
	out := []string{}
	for _, c := range cl {
		if *c.field(&set) {
			out = append(out, c.name)
		}
	}
	return out
}

func (cl conditionList[T]) names() string {
	s := make([]string, len(cl))
	for i, c := range cl {
		s[i] = c.name
	}
	return strings.Join(s, ", ")
}

// conditionsShape is the walker's view of a list of conditions: a list of
// strings.
func conditionsShape(n *yaml.Node) (reflect.Type, string) {
	if n.Kind == yaml.SequenceNode {
		return stringSliceType, ""
	}
	return nil, "must be a list of conditions"
}

// RetryOn is the set of conditions under which a route retries, the
// retry_on list decoded once. The zero value, which a left-out or empty
// list decodes to, means the default, [DefaultRetryOn]. What each
// condition retries is in docs/config.md.
type RetryOn struct {
	// ConnectFailure, "connect_failure": no connection could be made.
	// (A connect failure is retried under any condition.)
	ConnectFailure bool
	// Reset, "reset": the connection broke before a full response head,
	// or the per-try timeout passed.
	Reset bool
	// GatewayError, "gateway_error": a 502, 503 or 504 answer, or the
	// per-try timeout passed.
	GatewayError bool
	// ServerError, "5xx": an answer of 500 or above, a reset, or the
	// per-try timeout.
	ServerError bool
	// RetriableStatus, "retriable_status": the route's
	// retriable_statuses, which are retried even without it.
	RetriableStatus bool
}

// DefaultRetryOn is the retry_on of a route that lists none:
// [connect_failure, reset, gateway_error], and retriable_status too when
// the route has retriable_statuses.
var DefaultRetryOn = RetryOn{ConnectFailure: true, Reset: true, GatewayError: true}

var retryConditions = conditionList[RetryOn]{
	{"connect_failure", func(r *RetryOn) *bool { return &r.ConnectFailure }},
	{"reset", func(r *RetryOn) *bool { return &r.Reset }},
	{"gateway_error", func(r *RetryOn) *bool { return &r.GatewayError }},
	{"5xx", func(r *RetryOn) *bool { return &r.ServerError }},
	{"retriable_status", func(r *RetryOn) *bool { return &r.RetriableStatus }},
}

// UnmarshalYAML decodes a list of condition names; an unknown one is an
// error naming its item.
func (r *RetryOn) UnmarshalYAML(n *yaml.Node) error { return retryConditions.decode(n, r) }

// MarshalYAML encodes r as the list of its condition names.
func (r RetryOn) MarshalYAML() (any, error) { return retryConditions.list(r), nil }

// MarshalJSON encodes r as the list of its condition names.
func (r RetryOn) MarshalJSON() ([]byte, error) { return json.Marshal(retryConditions.list(r)) }

// Names returns the names of r's conditions, as retry_on lists them.
func (r RetryOn) Names() []string { return retryConditions.list(r) }

func (RetryOn) yamlShape(n *yaml.Node) (reflect.Type, string) { return conditionsShape(n) }

// FallbackOn is the set of failures a route's fallback answers, the
// fallback.on list decoded once. Each is named as the reason of the local
// reply it replaces. The zero value, which a left-out or empty list
// decodes to, means the default, [DefaultFallbackOn].
type FallbackOn struct {
	// BreakerOpen, "breaker_open": the upstream's circuit breaker is open.
	BreakerOpen bool
	// Overloaded, "overloaded": the concurrency limit refused the attempt.
	Overloaded bool
	// Timeout, "timeout": the route timeout or the last attempt's per-try
	// timeout passed.
	Timeout bool
	// NoHealthyUpstream, "no_healthy_upstream": no endpoint could be
	// picked, or no connection could be made.
	NoHealthyUpstream bool
	// UpstreamReset, "upstream_reset": the connection broke before a
	// response head.
	UpstreamReset bool
	// ServerError, "5xx": the final upstream answer, after retries, was
	// 500 or above.
	ServerError bool
	// NoQuorum, "no_quorum": a vote route's voters did not agree.
	NoQuorum bool
	// InvariantViolation, "invariant_violation": no answer passed the
	// route's checks. The withheld answer is never relayed; the canned
	// reply is.
	InvariantViolation bool
	// Quiesced, "quiesced": the route is quiesced (quiesce.go).
	Quiesced bool
}

// DefaultFallbackOn is the fallback.on of a fallback that lists none:
// every failure.
var DefaultFallbackOn = FallbackOn{
	BreakerOpen: true, Overloaded: true, Timeout: true, NoHealthyUpstream: true, UpstreamReset: true, ServerError: true,
	NoQuorum: true, InvariantViolation: true, Quiesced: true,
}

var fallbackConditions = conditionList[FallbackOn]{
	{"breaker_open", func(f *FallbackOn) *bool { return &f.BreakerOpen }},
	{"overloaded", func(f *FallbackOn) *bool { return &f.Overloaded }},
	{"timeout", func(f *FallbackOn) *bool { return &f.Timeout }},
	{"no_healthy_upstream", func(f *FallbackOn) *bool { return &f.NoHealthyUpstream }},
	{"upstream_reset", func(f *FallbackOn) *bool { return &f.UpstreamReset }},
	{"5xx", func(f *FallbackOn) *bool { return &f.ServerError }},
	{"no_quorum", func(f *FallbackOn) *bool { return &f.NoQuorum }},
	{"invariant_violation", func(f *FallbackOn) *bool { return &f.InvariantViolation }},
	{"quiesced", func(f *FallbackOn) *bool { return &f.Quiesced }},
}

// UnmarshalYAML decodes a list of failure names; an unknown one is an
// error naming its item.
func (f *FallbackOn) UnmarshalYAML(n *yaml.Node) error { return fallbackConditions.decode(n, f) }

// MarshalYAML encodes f as the list of its failure names.
func (f FallbackOn) MarshalYAML() (any, error) { return fallbackConditions.list(f), nil }

// MarshalJSON encodes f as the list of its failure names.
func (f FallbackOn) MarshalJSON() ([]byte, error) { return json.Marshal(fallbackConditions.list(f)) }

// Names returns the names of f's failures, as fallback.on lists them.
func (f FallbackOn) Names() []string { return fallbackConditions.list(f) }

func (FallbackOn) yamlShape(n *yaml.Node) (reflect.Type, string) { return conditionsShape(n) }
