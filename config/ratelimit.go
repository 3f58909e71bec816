package config

import (
	"net/textproto"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/holdfast-dev/holdfast/ratelimit"
)

// RateLimit is a route's rate limit.
type RateLimit struct {
	ratelimit.KeyedConfig `yaml:",inline" json:",inline"`
	// Key partitions the limit into buckets: "route" (one bucket, the
	// default), "ip" or "header:NAME".
	Key RateLimitKey `yaml:"key" json:"key"`
	// Scope is where the buckets live: "local" (this process, the
	// default) or "global" (the redis block's Redis, shared exactly by
	// every holdfast that uses it; the route's name namespaces its keys).
	Scope RateLimitScope `yaml:"scope" json:"scope"`
	// Lease, with scope global, takes up to this many tokens of a bucket
	// per round trip to Redis and spends them in this process (at most
	// lease emission intervals later): fewer Redis calls for keys under
	// their limit, and over any interval the fleet admits at most lease
	// more than the limit. In [2, burst]; default 0, one token per round
	// trip.
	Lease int `yaml:"lease" json:"lease,omitempty"`
}

// KeyKind is what a [RateLimitKey] keys buckets by.
type KeyKind uint8

// The kinds of rate_limit.key.
const (
	// KeyRoute is one bucket for the whole route, "route".
	KeyRoute KeyKind = iota
	// KeyIP is a bucket per client IP address (the TCP peer's, not
	// X-Forwarded-For), "ip".
	KeyIP
	// KeyHeader is a bucket per value of a request header,
	// "header:NAME"; requests without it share one.
	KeyHeader
)

// RateLimitKey is rate_limit.key decoded once: what a route's rate limit
// keys its buckets by. The zero value is "route".
type RateLimitKey struct {
	Kind KeyKind
	// Header is the header's canonical name, such as "X-User-Id" for
	// header:x-user-id, when Kind is KeyHeader.
	Header string
}

// ParseRateLimitKey parses "route", "ip" or "header:NAME", where NAME is a
// header field name (an RFC 9110 token), which it puts in canonical form.
func ParseRateLimitKey(s string) (RateLimitKey, error) {
	switch s {
	case "route":
		return RateLimitKey{}, nil
	case "ip":
		return RateLimitKey{Kind: KeyIP}, nil
	}
	name, ok := strings.CutPrefix(s, "header:")
	if !ok || name == "" {
		return RateLimitKey{}, &Error{Msg: "must be route, ip or header:NAME, got " + strconv.Quote(s)}
	}
	if !methodToken.MatchString(name) {
		return RateLimitKey{}, &Error{Msg: "must be header:NAME with NAME a header field name, got " + strconv.Quote(s)}
	}
	return RateLimitKey{Kind: KeyHeader, Header: textproto.CanonicalMIMEHeaderKey(name)}, nil
}

// String returns k as rate_limit.key spells it.
func (k RateLimitKey) String() string {
	switch k.Kind {
	case KeyIP:
		return "ip"
	case KeyHeader:
		return "header:" + k.Header
	}
	return "route"
}

// UnmarshalYAML decodes a key with [ParseRateLimitKey].
func (k *RateLimitKey) UnmarshalYAML(n *yaml.Node) error {
	if isNull(n) {
		*k = RateLimitKey{}
		return nil
	}
	key, err := ParseRateLimitKey(n.Value)
	if err != nil {
		return err
	}
	*k = key
	return nil
}

// UnmarshalText decodes a key with [ParseRateLimitKey].
func (k *RateLimitKey) UnmarshalText(b []byte) error {
	key, err := ParseRateLimitKey(string(b))
	if err != nil {
		return err
	}
	*k = key
	return nil
}

// MarshalText encodes k as rate_limit.key spells it.
func (k RateLimitKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// yamlShape lets the walker check that the key is a single value.
func (RateLimitKey) yamlShape(n *yaml.Node) (reflect.Type, string) {
	if n.Kind == yaml.ScalarNode {
		return stringType, ""
	}
	return nil, "must be route, ip or header:NAME"
}
