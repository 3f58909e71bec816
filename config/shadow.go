package config

import (
	"math"
	"time"

	"github.com/holdfast-dev/holdfast/vote"
)

// Defaults and bounds of a route's shadow block.
const (
	// DefaultShadowPercent is shadow.percent: the share of idempotent
	// requests shadowed.
	DefaultShadowPercent = 10
	// DefaultShadowMaxConcurrent is shadow.max_concurrent: the shadow
	// comparisons in flight at once; more are dropped and counted.
	DefaultShadowMaxConcurrent = 16
	// MaxShadowMaxConcurrent bounds shadow.max_concurrent.
	MaxShadowMaxConcurrent = 1024
	// DefaultShadowTimeout is shadow.timeout, or the route's timeout when
	// that is shorter.
	DefaultShadowTimeout = 5 * time.Second
	// DefaultShadowMaxBodyBytes is shadow.max_body_bytes: the most of each
	// of the three answers kept to compare them.
	DefaultShadowMaxBodyBytes = 1 << 20
	// MaxShadowMaxBodyBytes bounds shadow.max_body_bytes: three bodies per
	// comparison are held in memory, max_concurrent comparisons at once.
	MaxShadowMaxBodyBytes = 16 << 20
)

// Shadow is a route's shadow block: a share of the route's idempotent
// requests is sent, after the client has its answer, to a candidate
// upstream and once more to the primary, and the answers are compared
// field by field. A field that differs between the primary and the
// candidate but not between the two primary answers is a real difference;
// one that differs between the primary answers is noise. The client only
// ever gets the primary's answer, and never waits for the shadow calls.
type Shadow struct {
	// Upstream is the candidate: called, compared, never returned.
	// Required; not the route's own upstream.
	Upstream string `yaml:"upstream" json:"upstream"`
	// Secondary is the upstream asked a second time for the same request,
	// to learn which fields differ between two answers of the primary.
	// Default the route's upstream.
	Secondary string `yaml:"secondary" json:"secondary"`
	// Percent is the share of the route's idempotent requests shadowed, in
	// (0, 100]. Default 10.
	Percent float64 `yaml:"percent" json:"percent"`
	// MaxConcurrent bounds the comparisons in flight (each is two calls);
	// a request that would start one more is not shadowed, and is counted
	// as dropped. Default 16; in [1, 1024].
	MaxConcurrent int `yaml:"max_concurrent" json:"max_concurrent"`
	// Timeout bounds each comparison, both calls included. Default 5s, or
	// the route's timeout when that is shorter.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// MaxBodyBytes is the most of each answer kept to compare; a request
	// whose primary answer, or shadow answer, is longer is not compared
	// and is counted as oversize. Default 1 MiB; at most 16 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes" json:"max_body_bytes"`
	// JSONOptions are ignore (JSON Pointers of values never compared) and
	// unordered (arrays compared as multisets), as in the vote block; "*"
	// matches any member or index.
	vote.JSONOptions `yaml:",inline" json:",inline"`
}

func (c *Config) applyShadowDefaults() {
	for _, r := range c.Routes {
		if r == nil || r.Shadow == nil {
			continue
		}
		s := r.Shadow
		if s.Secondary == "" {
			s.Secondary = r.Upstream
		}
		if s.Percent == 0 {
			s.Percent = DefaultShadowPercent
		}
		if s.MaxConcurrent == 0 {
			s.MaxConcurrent = DefaultShadowMaxConcurrent
		}
		if s.Timeout == 0 {
			s.Timeout = DefaultShadowTimeout
			if r.Timeout > 0 && r.Timeout < s.Timeout {
				s.Timeout = r.Timeout
			}
		}
		if s.MaxBodyBytes == 0 {
			s.MaxBodyBytes = DefaultShadowMaxBodyBytes
		}
	}
}

// shadow checks a route's shadow block at p.
func (v *routeCheck) shadow(p string, r *Route) {
	errs, s := v.errs, r.Shadow
	p += ".shadow"
	switch {
	case r.Vote != nil:
		errs.add(p, "a vote route has no primary to shadow: use shadow on a route with upstream")
	case len(r.Split) > 0:
		errs.add(p, "a split route has no one primary to shadow: use shadow on a route with upstream")
	case r.LongLived:
		errs.add(p, "a long_lived route streams its answers, which shadow would have to buffer")
	}
	switch _, ok := v.upstreams[s.Upstream]; {
	case s.Upstream == "":
		errs.add(p+".upstream", "is required: the candidate upstream")
	case !ok:
		errs.add(p+".upstream", "unknown upstream %q%s", s.Upstream, v.haveNames())
	case s.Upstream == r.Upstream:
		errs.add(p+".upstream", "%q is the route's own upstream: the candidate must be another", s.Upstream)
	}
	if s.Secondary != "" {
		if _, ok := v.upstreams[s.Secondary]; !ok {
			errs.add(p+".secondary", "unknown upstream %q%s", s.Secondary, v.haveNames())
		} else if s.Secondary == s.Upstream && s.Upstream != r.Upstream {
			errs.add(p+".secondary", "%q is the candidate: the secondary asks the primary again", s.Secondary)
		}
	}
	if !(s.Percent > 0 && s.Percent <= 100) || math.IsNaN(s.Percent) {
		errs.add(p+".percent", "must be in (0, 100], got %g", s.Percent)
	}
	if s.MaxConcurrent < 1 || s.MaxConcurrent > MaxShadowMaxConcurrent {
		errs.add(p+".max_concurrent", "must be in [1, %d], got %d", MaxShadowMaxConcurrent, s.MaxConcurrent)
	}
	if s.Timeout <= 0 {
		errs.add(p+".timeout", "must be positive, got %s", s.Timeout)
	}
	if s.MaxBodyBytes < 1 || s.MaxBodyBytes > MaxShadowMaxBodyBytes {
		errs.add(p+".max_body_bytes", "must be in [1, %d] (16 MiB), got %d", MaxShadowMaxBodyBytes, s.MaxBodyBytes)
	}
	errs.addPolicy(p, stripKeyPrefix(s.JSONOptions.Validate(), "json."))
}
