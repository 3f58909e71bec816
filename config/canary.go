package config

import (
	"slices"

	"github.com/holdfast-dev/holdfast/canary"
)

// Canary is a route's canary block: the route splits its traffic between
// Baseline and Candidate (its split lists exactly those two upstreams, whose
// weights the rollout then sets), and the candidate's share moves through
// Steps, each judged on the candidate's errors and latency against the
// baseline's (package canary). It promotes the candidate after the step
// before 100, or rolls it back to 0 at the first failed step.
type Canary struct {
	// Baseline is the split's upstream running the current version.
	Baseline string `yaml:"baseline" json:"baseline"`
	// Candidate is the split's upstream running the new version.
	Candidate string `yaml:"candidate" json:"candidate"`
	// Config is steps, interval, min_requests, max_error_rate_increase,
	// max_latency_ratio and confidence, with canary's defaults.
	canary.Config `yaml:",inline" json:",inline"`
}

func (c *Config) applyCanaryDefaults() {
	for _, r := range c.Routes {
		if r != nil && r.Canary != nil {
			r.Canary.Config = r.Canary.Config.WithDefaults()
		}
	}
}

// canary checks a route's canary block at p.
func (v *routeCheck) canary(p string, r *Route) {
	errs, c := v.errs, r.Canary
	p += ".canary"
	if len(r.Split) != 2 {
		errs.add(p, "needs a split of exactly two upstreams, the baseline and the candidate; the route has %d", len(r.Split))
	}
	has := func(name string) bool {
		return slices.ContainsFunc(r.Split, func(s Split) bool { return s.Upstream == name })
	}
	for _, side := range []struct{ key, name string }{{"baseline", c.Baseline}, {"candidate", c.Candidate}} {
		switch {
		case side.name == "":
			errs.add(p+"."+side.key, "is required: one of the route's split upstreams")
		case !has(side.name):
			errs.add(p+"."+side.key, "%q is not one of the route's split upstreams", side.name)
		}
	}
	if c.Baseline != "" && c.Baseline == c.Candidate {
		errs.add(p+".candidate", "is the baseline too (%q): a canary compares two upstreams", c.Candidate)
	}
	errs.addPolicy(p, c.Config.Validate())
}
