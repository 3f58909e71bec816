package config

import (
	"slices"
	"time"

	"github.com/holdfast-dev/holdfast/internal/yamlpath"
	"github.com/holdfast-dev/holdfast/vote"
)

// Defaults and bounds of a route's vote block.
const (
	// DefaultVoteTimeout is vote.timeout when the block leaves it out (or
	// the route's timeout, when that is shorter).
	DefaultVoteTimeout = vote.DefaultTimeout
	// DefaultVoteMaxBodyBytes is vote.max_body_bytes: the most of each
	// voter's response body that is read to compare it.
	DefaultVoteMaxBodyBytes = 1 << 20
	// MaxVoteMaxBodyBytes bounds vote.max_body_bytes: every voter's body
	// is held in memory until the vote is decided.
	MaxVoteMaxBodyBytes = 64 << 20
	// MaxVoters bounds vote.upstreams: each request is sent to every one.
	MaxVoters = 16
	// DefaultQuarantineDisagreements, DefaultQuarantineWindow and
	// DefaultQuarantineReadmitAfter are vote.quarantine's defaults.
	DefaultQuarantineDisagreements = 5
	DefaultQuarantineWindow        = time.Minute
	DefaultQuarantineReadmitAfter  = 20
	// maxQuarantineCount bounds disagreements and readmit_after, as the
	// guard package bounds violations and recovery probes.
	maxQuarantineCount = 10_000
)

// Vote is a route's vote block: the request goes to every voter upstream
// at once, and the client gets the answer a quorum of them agree on. A
// route with a vote block has no upstream or split.
type Vote struct {
	// Upstreams are the voters: diverse implementations of one API, each
	// reached through its own upstream (balancer, breaker, outlier
	// detection, the route's retry policy). 2 to 16, each named once.
	Upstreams []string `yaml:"upstreams" json:"upstreams"`
	// Quorum is how many voters must agree. Default 0: a majority of all
	// the upstreams, N/2+1; quarantined voters do not count toward it and
	// never lower it. At most the number of upstreams.
	Quorum int `yaml:"quorum" json:"quorum"`
	// Timeout is how long the voters have to answer; one that has not by
	// then counts as missing and is cancelled. Default 1s, or the route's
	// timeout when that is shorter; at most the route's timeout.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// Compare is how answers are compared: exact (status and body bytes)
	// or json (status, and the bodies as JSON documents under ignore and
	// unordered). Default exact.
	Compare VoteCompare `yaml:"compare" json:"compare"`
	// JSONOptions are ignore (JSON Pointers of values left out of the
	// comparison, such as /generated_at) and unordered (arrays compared as
	// multisets), for compare json only; "*" matches any member or index.
	vote.JSONOptions `yaml:",inline" json:",inline"`
	// Methods lists request methods that vote although they are not
	// idempotent, such as POST. Default none: only idempotent methods (GET,
	// HEAD, OPTIONS, PUT, DELETE, TRACE) and requests with an
	// Idempotency-Key vote; another request gets 405. Listing a method
	// makes every voter carry out each such request: N side effects where
	// the client asked for one.
	Methods []string `yaml:"methods" json:"methods,omitempty"`
	// MaxBodyBytes is the most of each voter's response body read to
	// compare it; a longer body makes that voter fail (it counts as
	// missing, not as a dissent). Default 1 MiB; at most 64 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes" json:"max_body_bytes"`
	// Quarantine silences a voter that keeps dissenting. Default on, with
	// its defaults.
	Quarantine *Quarantine `yaml:"quarantine" json:"quarantine"`
}

// VoteCompare is vote.compare.
type VoteCompare string

// The values of vote.compare.
const (
	VoteCompareExact VoteCompare = "exact"
	VoteCompareJSON  VoteCompare = "json"
)

// Quarantine is vote.quarantine: a voter that dissents Disagreements times
// within Window stops counting (it is still called, and its answers still
// compared, as probes) until it agrees ReadmitAfter times in a row.
type Quarantine struct {
	// Disagreements within Window quarantine a voter. Default 5; in [1,
	// 10000].
	Disagreements int `yaml:"disagreements" json:"disagreements"`
	// Window is how far back disagreements count. Default 1m.
	Window time.Duration `yaml:"window" json:"window"`
	// ReadmitAfter is how many agreements in a row re-admit a quarantined
	// voter. Default 20; in [1, 10000].
	ReadmitAfter int `yaml:"readmit_after" json:"readmit_after"`
}

func (c *Config) applyVoteDefaults() {
	for _, r := range c.Routes {
		if r == nil || r.Vote == nil {
			continue
		}
		v := r.Vote
		if v.Timeout == 0 {
			v.Timeout = DefaultVoteTimeout
			if r.Timeout > 0 && r.Timeout < v.Timeout {
				v.Timeout = r.Timeout
			}
		}
		if v.Compare == "" {
			v.Compare = VoteCompareExact
		}
		if v.MaxBodyBytes == 0 {
			v.MaxBodyBytes = DefaultVoteMaxBodyBytes
		}
		if v.Quarantine == nil {
			v.Quarantine = &Quarantine{}
		}
		q := v.Quarantine
		if q.Disagreements == 0 {
			q.Disagreements = DefaultQuarantineDisagreements
		}
		if q.Window == 0 {
			q.Window = DefaultQuarantineWindow
		}
		if q.ReadmitAfter == 0 {
			q.ReadmitAfter = DefaultQuarantineReadmitAfter
		}
		// A vote cannot become a tunnel to one voter: no upgrades unless
		// the route names them (which validation refuses).
		if r.Upgrades == nil {
			r.Upgrades = []string{}
		}
	}
}

// vote checks a route's vote block at p, in place of its targets.
func (v *routeCheck) vote(p string, r *Route) {
	errs, vt := v.errs, r.Vote
	p += ".vote"
	if r.Upstream != "" || len(r.Split) > 0 {
		errs.add(p, "a vote route sends to vote.upstreams; set upstream, split or vote, not two")
	}
	switch n := len(vt.Upstreams); {
	case n < 2 || n > MaxVoters:
		errs.add(p+".upstreams", "must list 2 to %d upstreams, got %d", MaxVoters, n)
	}
	for j, name := range vt.Upstreams {
		up := yamlpath.Index(p+".upstreams", j)
		if _, ok := v.upstreams[name]; !ok {
			errs.add(up, "unknown upstream %q%s", name, v.haveNames())
		} else if k := slices.Index(vt.Upstreams, name); k < j {
			errs.add(up, "duplicate upstream %q (also upstreams[%d]): a voter votes once", name, k)
		}
	}
	if vt.Quorum < 0 || vt.Quorum > len(vt.Upstreams) {
		errs.add(p+".quorum", "must be in [0, %d] (0 is a majority), the number of upstreams; got %d", len(vt.Upstreams), vt.Quorum)
	}
	if vt.Timeout <= 0 {
		errs.add(p+".timeout", "must be positive, got %s", vt.Timeout)
	} else if r.Timeout > 0 && vt.Timeout > r.Timeout {
		errs.add(p+".timeout", "%s is longer than the route timeout %s", vt.Timeout, r.Timeout)
	}
	switch vt.Compare {
	case VoteCompareExact:
		if len(vt.Ignore) > 0 {
			errs.add(p+".ignore", "needs compare: json (exact compares bodies byte for byte)")
		}
		if len(vt.Unordered) > 0 {
			errs.add(p+".unordered", "needs compare: json (exact compares bodies byte for byte)")
		}
	case VoteCompareJSON:
	default:
		errs.add(p+".compare", "must be exact or json, got %q", string(vt.Compare))
	}
	// The comparator's pointer errors are keyed json.ignore[i] as they
	// read in the library's block; here ignore sits in vote itself.
	errs.addPolicy(p, stripKeyPrefix(vt.JSONOptions.Validate(), "json."))
	for j, m := range vt.Methods {
		if !methodToken.MatchString(m) {
			errs.add(yamlpath.Index(p+".methods", j), "not an HTTP method: %q", m)
		}
	}
	if vt.MaxBodyBytes < 1 || vt.MaxBodyBytes > MaxVoteMaxBodyBytes {
		errs.add(p+".max_body_bytes", "must be in [1, %d] (64 MiB), got %d", MaxVoteMaxBodyBytes, vt.MaxBodyBytes)
	}
	q := vt.Quarantine
	if q.Disagreements < 1 || q.Disagreements > maxQuarantineCount {
		errs.add(p+".quarantine.disagreements", "must be in [1, %d], got %d", maxQuarantineCount, q.Disagreements)
	}
	if q.Window <= 0 {
		errs.add(p+".quarantine.window", "must be positive, got %s", q.Window)
	}
	if q.ReadmitAfter < 1 || q.ReadmitAfter > maxQuarantineCount {
		errs.add(p+".quarantine.readmit_after", "must be in [1, %d], got %d", maxQuarantineCount, q.ReadmitAfter)
	}
	if len(r.Upgrades) > 0 {
		errs.add(yamlpath.Index(p[:len(p)-len(".vote")]+".upgrades", 0), "a vote route cannot upgrade: past the upgrade only one voter would answer")
	}
}
