package config

import (
	"strings"

	"github.com/holdfast-dev/holdfast/internal/yamlpath"
)

// PathNormalization says how a request's path is rewritten before routing.
// Dot segments ("." and "..", also percent-encoded as %2e) are always
// removed as RFC 3986 §5.2.4 does, and percent-encoded unreserved characters
// are decoded (RFC 3986 §6.2.2.2), so that "/a/%2e%2e/b", "/b" and "/%62"
// all route as "/b"; the upstream receives the path the route matched. The
// keys choose what happens to the rest, after Envoy's merge_slashes and
// path_with_escaped_slashes_action and Istio's pathNormalization. The zero
// value is the safe default: slashes kept as they are, encoded slashes and
// backslashes refused with 400.
type PathNormalization struct {
	// MergeSlashes collapses each run of slashes into one, after dot
	// segments are removed: "/a//b" becomes "/a/b". Default false.
	MergeSlashes bool `yaml:"merge_slashes" json:"merge_slashes"`
	// EscapedSlashes is what a %2F (or %2f) in the path does. Default
	// reject.
	EscapedSlashes EscapedSlashes `yaml:"escaped_slashes" json:"escaped_slashes"`
	// Backslashes is what a backslash (\ or %5C) in the path does. Default
	// reject.
	Backslashes Backslashes `yaml:"backslashes" json:"backslashes"`
}

// EscapedSlashes names what [PathNormalization] does with an encoded slash.
type EscapedSlashes string

// The values of path_normalization.escaped_slashes.
const (
	// EscapedSlashesReject answers 400: one hop may decode %2F and
	// another not, so "/public/..%2Fadmin" is two different paths.
	EscapedSlashesReject EscapedSlashes = "reject"
	// EscapedSlashesKeep leaves %2F encoded, as data inside a segment
	// rather than a separator. Safe only when the upstream never decodes
	// it before routing.
	EscapedSlashesKeep EscapedSlashes = "keep"
	// EscapedSlashesUnescape decodes %2F to "/" before dot segments are
	// removed, so the route and the upstream see the same separators.
	EscapedSlashesUnescape EscapedSlashes = "unescape"
)

// Backslashes names what [PathNormalization] does with a backslash.
type Backslashes string

// The values of path_normalization.backslashes.
const (
	// BackslashesReject answers 400: some servers (and browsers, for
	// http URLs) read a backslash as a slash.
	BackslashesReject Backslashes = "reject"
	// BackslashesKeep forwards the backslash, encoded as %5C, as data.
	BackslashesKeep Backslashes = "keep"
)

// DefaultUpgrades is the upgrades list of a route that names none.
var DefaultUpgrades = []string{"websocket"}

func (c *Config) applyHTTPDefaults() {
	pn := &c.PathNormalization
	if pn.EscapedSlashes == "" {
		pn.EscapedSlashes = EscapedSlashesReject
	}
	if pn.Backslashes == "" {
		pn.Backslashes = BackslashesReject
	}
	for _, r := range c.Routes {
		// nil is "left out"; an explicit empty list allows no upgrade.
		if r != nil && r.Upgrades == nil {
			r.Upgrades = DefaultUpgrades
		}
	}
}

func (c *Config) validateHTTP(errs *errorList) {
	pn := c.PathNormalization
	switch pn.EscapedSlashes {
	case EscapedSlashesReject, EscapedSlashesKeep, EscapedSlashesUnescape:
	default:
		errs.add("path_normalization.escaped_slashes", "must be reject, keep or unescape, got %q", pn.EscapedSlashes)
	}
	switch pn.Backslashes {
	case BackslashesReject, BackslashesKeep:
	default:
		errs.add("path_normalization.backslashes", "must be reject or keep, got %q", pn.Backslashes)
	}
	for i, r := range c.Routes {
		if r == nil {
			continue
		}
		seen := map[string]int{}
		for j, u := range r.Upgrades {
			p := yamlpath.Index(yamlpath.Index("routes", i)+".upgrades", j)
			lower := strings.ToLower(u)
			switch {
			case !methodToken.MatchString(u):
				errs.add(p, "must be a protocol name such as websocket, got %q", u)
			case lower == "h2c":
				errs.add(p, "h2c cannot be allowed: past the upgrade the client would reach every path of the upstream, whatever the routes; an Upgrade: h2c request is served as plain HTTP/1.1")
			default:
				if k, dup := seen[lower]; dup {
					errs.add(p, "duplicate protocol %q (also upgrades[%d])", u, k)
				}
				seen[lower] = j
			}
		}
	}
}
