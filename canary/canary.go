// Package canary moves traffic to a new version of a service step by step,
// judging each step on the candidate's errors and latency against the
// baseline's, and promotes the candidate or rolls it back on its own.
//
// A [Rollout] holds the candidate's share of traffic ([Rollout.Weight]).
// The caller sends that share to the candidate, reports every answered
// call of either version with [Rollout.Observe], and calls [Rollout.Tick]
// now and then. A step passes once it has lasted Interval with at least
// MinRequests calls on each side and no significant regression; it fails,
// at once, as soon as it has MinRequests calls on each side and the
// candidate is significantly worse:
//
//   - errors: the candidate's error rate is more than MaxErrorRateIncrease
//     percentage points above the baseline's, and a one-sided
//     two-proportion z-test ([ProportionTest]) finds it higher at the
//     configured confidence;
//   - latency: the candidate's p99 is more than MaxLatencyRatio times the
//     baseline's, and a one-sided Mann-Whitney U test ([MannWhitney], as
//     Kayenta uses) finds its latencies larger at that confidence.
//
// Requiring both the practical threshold and statistical significance
// keeps a rollout from failing on noise and from passing on a regression
// too small to matter. Passing the step before the last (100) promotes the
// candidate; the first failed step rolls it back to 0. Latency samples are
// bounded: each side keeps a uniform reservoir of at most [MaxSamples] per
// step. Times are the caller's (explicit), so a rollout is deterministic
// under test.
package canary

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// Defaults for a zero field of [Config].
const (
	DefaultInterval             = time.Minute
	DefaultMinRequests          = 200
	DefaultMaxErrorRateIncrease = 0.5 // percentage points
	DefaultMaxLatencyRatio      = 1.2
	DefaultConfidence           = 0.95
)

// DefaultSteps are the candidate's shares of traffic, in percent, when
// Config.Steps is empty.
var DefaultSteps = []int{1, 5, 25, 50, 100}

// MaxSamples bounds the latencies each side keeps per step.
const MaxSamples = 2048

// Config is a rollout's plan and its pass criteria.
type Config struct {
	// Steps are the candidate's shares, in percent, strictly increasing,
	// each in 1..100, ending at 100. Default DefaultSteps.
	Steps []int `yaml:"steps" json:"steps"`
	// Interval is the shortest a step lasts before it may pass.
	Interval time.Duration `yaml:"interval" json:"interval"`
	// MinRequests is the calls each side needs in a step before it is
	// judged.
	MinRequests int `yaml:"min_requests" json:"min_requests"`
	// MaxErrorRateIncrease is the most the candidate's error rate may
	// exceed the baseline's, in percentage points.
	MaxErrorRateIncrease float64 `yaml:"max_error_rate_increase" json:"max_error_rate_increase"`
	// MaxLatencyRatio is the most the candidate's p99 may be, as a
	// multiple of the baseline's.
	MaxLatencyRatio float64 `yaml:"max_latency_ratio" json:"max_latency_ratio"`
	// Confidence is the confidence a regression must be shown at, in
	// (0, 1): 0.95 fails a step on a one-sided p-value below 0.05.
	Confidence float64 `yaml:"confidence" json:"confidence"`

	// Name names the rollout in its events. Default "canary".
	Name string `yaml:"-" json:"-"`
	// Listener receives an EventStateChange, Source KindCanary, for every
	// judged step and every change of state: From and To are the states
	// or, for a passed step, "step N%" and the next; Reason is the
	// judgment's. Nil is silent.
	Listener holdfast.Listener `yaml:"-" json:"-"`
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if len(c.Steps) == 0 {
		c.Steps = slices.Clone(DefaultSteps)
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.MinRequests == 0 {
		c.MinRequests = DefaultMinRequests
	}
	if c.MaxErrorRateIncrease == 0 {
		c.MaxErrorRateIncrease = DefaultMaxErrorRateIncrease
	}
	if c.MaxLatencyRatio == 0 {
		c.MaxLatencyRatio = DefaultMaxLatencyRatio
	}
	if c.Confidence == 0 {
		c.Confidence = DefaultConfidence
	}
	return c
}

// Validate reports the first invalid field of c (after defaults), as a
// [*holdfast.ConfigError] keyed by the field's YAML name.
func (c Config) Validate() error {
	c = c.WithDefaults()
	bad := func(field, format string, args ...any) error {
		return holdfast.ConfigErrorf("canary", field, format, args...)
	}
	for i, s := range c.Steps {
		if s < 1 || s > 100 {
			return bad(fmt.Sprintf("steps[%d]", i), "must be a percentage in 1..100, got %d", s)
		}
		if i > 0 && s <= c.Steps[i-1] {
			return bad(fmt.Sprintf("steps[%d]", i), "must be above the step before it (%d), got %d", c.Steps[i-1], s)
		}
	}
	if last := c.Steps[len(c.Steps)-1]; last != 100 {
		return bad("steps", "must end at 100, which promotes the candidate; ends at %d", last)
	}
	if len(c.Steps) < 2 {
		return bad("steps", "need at least one step below 100 to judge the candidate on")
	}
	switch {
	case c.Interval < 0:
		return bad("interval", "must be positive, got %v", c.Interval)
	case c.MinRequests < 1:
		return bad("min_requests", "must be at least 1, got %d", c.MinRequests)
	case c.MaxErrorRateIncrease < 0 || c.MaxErrorRateIncrease > 100:
		return bad("max_error_rate_increase", "must be in 0..100 percentage points, got %g", c.MaxErrorRateIncrease)
	case c.MaxLatencyRatio < 1:
		return bad("max_latency_ratio", "must be at least 1, got %g", c.MaxLatencyRatio)
	case c.Confidence <= 0 || c.Confidence >= 1:
		return bad("confidence", "must be in (0, 1), got %g", c.Confidence)
	}
	return nil
}

// State is where a rollout stands.
type State string

const (
	Running    State = "running"     // judging its current step
	Paused     State = "paused"      // held at its current step, judging nothing
	Promoted   State = "promoted"    // every step passed, or promoted by hand: the candidate takes all
	RolledBack State = "rolled_back" // a step failed: the candidate takes nothing
	Aborted    State = "aborted"     // stopped by hand: the candidate takes nothing
)

// Side is one side of the comparison.
type Side uint8

const (
	Baseline Side = iota
	Candidate
)

// arm is one side's calls in the current step.
type arm struct {
	requests, errors int
	seen             int       // latencies offered to the reservoir
	latencies        []float64 // seconds; a uniform sample of at most MaxSamples
}

func (a *arm) observe(failed bool, latency time.Duration, rng *rand.Rand) {
	a.requests++
	if failed {
		a.errors++
	}
	a.seen++
	v := latency.Seconds()
	if len(a.latencies) < MaxSamples {
		a.latencies = append(a.latencies, v)
		return
	}
	if i := rng.IntN(a.seen); i < MaxSamples {
		a.latencies[i] = v
	}
}

// Judgment is the numbers behind one step's verdict.
type Judgment struct {
	Step               int       `json:"step"`   // the step's index in Steps
	Weight             int       `json:"weight"` // the candidate's share in it, percent
	Verdict            string    `json:"verdict"`
	Reason             string    `json:"reason,omitempty"`
	BaselineRequests   int       `json:"baseline_requests"`
	CandidateRequests  int       `json:"candidate_requests"`
	BaselineErrorRate  float64   `json:"baseline_error_rate"`  // percent
	CandidateErrorRate float64   `json:"candidate_error_rate"` // percent
	ErrorZ             float64   `json:"error_z"`
	ErrorP             float64   `json:"error_p"`
	BaselineP99        float64   `json:"baseline_p99_seconds"`
	CandidateP99       float64   `json:"candidate_p99_seconds"`
	LatencyRatio       float64   `json:"latency_ratio"`
	LatencyU           float64   `json:"latency_u"`
	LatencyZ           float64   `json:"latency_z"`
	LatencyP           float64   `json:"latency_p"`
	At                 time.Time `json:"at"`
}

// Verdicts of a [Judgment].
const (
	VerdictPass = "pass"
	VerdictFail = "fail"
)

// Failure reasons of a [Judgment].
const (
	ReasonErrorRate = "error_rate"
	ReasonLatency   = "latency"
)

// judge compares one step's sides by c (with defaults). It says nothing of
// how many calls there were: the caller asks it once each side has
// MinRequests.
func judge(c Config, base, cand *arm) Judgment {
	c = c.WithDefaults()
	j := Judgment{
		BaselineRequests: base.requests, CandidateRequests: cand.requests,
		BaselineErrorRate:  percent(base.errors, base.requests),
		CandidateErrorRate: percent(cand.errors, cand.requests),
		Verdict:            VerdictPass,
	}
	alpha := 1 - c.Confidence
	j.ErrorZ, j.ErrorP = ProportionTest(base.errors, base.requests, cand.errors, cand.requests)
	bl, cl := slices.Clone(base.latencies), slices.Clone(cand.latencies)
	slices.Sort(bl)
	slices.Sort(cl)
	j.BaselineP99, j.CandidateP99 = quantile(bl, 0.99), quantile(cl, 0.99)
	if j.BaselineP99 > 0 {
		j.LatencyRatio = j.CandidateP99 / j.BaselineP99
	}
	j.LatencyU, j.LatencyZ, j.LatencyP = MannWhitney(bl, cl)
	switch {
	case j.CandidateErrorRate-j.BaselineErrorRate > c.MaxErrorRateIncrease && j.ErrorP < alpha:
		j.Verdict = VerdictFail
		j.Reason = fmt.Sprintf("%s: candidate %.2f%% errors against baseline %.2f%% (more than %g points; z %.2f, p %.2g)",
			ReasonErrorRate, j.CandidateErrorRate, j.BaselineErrorRate, c.MaxErrorRateIncrease, j.ErrorZ, j.ErrorP)
	case j.BaselineP99 > 0 && j.LatencyRatio > c.MaxLatencyRatio && j.LatencyP < alpha:
		j.Verdict = VerdictFail
		j.Reason = fmt.Sprintf("%s: candidate p99 %.4gs is %.2f× the baseline's %.4gs (more than %g×; Mann-Whitney z %.2f, p %.2g)",
			ReasonLatency, j.CandidateP99, j.LatencyRatio, j.BaselineP99, c.MaxLatencyRatio, j.LatencyZ, j.LatencyP)
	}
	return j
}

func percent(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

// Rollout is one candidate's way through the steps. It is safe for
// concurrent use.
type Rollout struct {
	cfg Config

	mu        sync.Mutex
	state     State
	step      int // index into cfg.Steps
	stepStart time.Time
	base      arm
	cand      arm
	history   []Judgment
	reason    string // why it stopped, for a rollout that did
	rng       *rand.Rand
}

// MaxHistory bounds the judgments a rollout keeps.
const MaxHistory = 64

// New starts a rollout of c at its first step, at now. It returns the
// error of [Config.Validate] for an invalid c.
func New(c Config, now time.Time) (*Rollout, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Rollout{cfg: c.WithDefaults(), state: Running, stepStart: now, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}, nil
}

// Config returns the rollout's config, with defaults.
func (r *Rollout) Config() Config { return r.cfg }

// Weight returns the candidate's share of traffic, in percent.
func (r *Rollout) Weight() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.weightLocked()
}

func (r *Rollout) weightLocked() int {
	switch r.state {
	case Promoted:
		return 100
	case RolledBack, Aborted:
		return 0
	}
	return r.cfg.Steps[r.step]
}

// Observe records one answered call of side: whether it failed, and how
// long it took. Calls are counted only while the rollout runs.
func (r *Rollout) Observe(side Side, failed bool, latency time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != Running {
		return
	}
	if side == Candidate {
		r.cand.observe(failed, latency, r.rng)
	} else {
		r.base.observe(failed, latency, r.rng)
	}
}

// Tick judges the current step at now, when it has the calls for it: it
// fails the step as soon as the candidate is significantly worse, and
// passes it once it has also lasted Interval. It returns the judgment, if
// one was made.
func (r *Rollout) Tick(now time.Time) (Judgment, bool) {
	r.mu.Lock()
	if r.state != Running || r.base.requests < r.cfg.MinRequests || r.cand.requests < r.cfg.MinRequests {
		r.mu.Unlock()
		return Judgment{}, false
	}
	j := judge(r.cfg, &r.base, &r.cand)
	if j.Verdict == VerdictPass && now.Sub(r.stepStart) < r.cfg.Interval {
		r.mu.Unlock()
		return Judgment{}, false // not long enough yet to pass
	}
	j.Step, j.Weight, j.At = r.step, r.cfg.Steps[r.step], now
	r.record(j)
	from := stepName(j.Weight)
	var to string
	if j.Verdict == VerdictFail {
		r.state, r.reason = RolledBack, j.Reason
		to = string(RolledBack)
	} else {
		r.nextStepLocked(now)
		to = stepName(r.cfg.Steps[r.step])
		if r.state == Promoted {
			to = string(Promoted)
		}
	}
	r.mu.Unlock()
	r.emit(from, to, j.Reason)
	return j, true
}

func stepName(weight int) string { return "step " + strconv.Itoa(weight) + "%" }

// emit reports a change, outside the rollout's lock.
func (r *Rollout) emit(from, to, reason string) {
	name := r.cfg.Name
	if name == "" {
		name = "canary"
	}
	holdfast.Emit(r.cfg.Listener, holdfast.Event{Source: holdfast.KindCanary, Policy: name, Kind: holdfast.EventStateChange, From: from, To: to, Reason: reason})
}

// change sets a running or paused rollout's state to to, by hand, and
// reports it; it returns ErrNotRunning for one that has ended.
func (r *Rollout) change(to State, reason string, now time.Time) error {
	r.mu.Lock()
	from := r.state
	switch {
	case from != Running && from != Paused:
		r.mu.Unlock()
		return ErrNotRunning
	case from == to:
		r.mu.Unlock()
		return nil
	}
	r.state = to
	switch to {
	case Running:
		r.base, r.cand, r.stepStart = arm{}, arm{}, now
	case Promoted, Aborted:
		r.reason = reason
	}
	r.mu.Unlock()
	r.emit(string(from), string(to), reason)
	return nil
}

func (r *Rollout) record(j Judgment) {
	r.history = append(r.history, j)
	if len(r.history) > MaxHistory {
		r.history = slices.Delete(r.history, 0, len(r.history)-MaxHistory)
	}
}

func (r *Rollout) nextStepLocked(now time.Time) {
	r.step++
	r.base, r.cand = arm{}, arm{}
	r.stepStart = now
	if r.cfg.Steps[r.step] == 100 {
		r.state, r.reason = Promoted, "every step passed"
	}
}

// ErrNotRunning is an action that needs a running (or paused) rollout.
var ErrNotRunning = errors.New("canary: the rollout has ended")

// Pause holds the rollout at its current step: its weight stays, and
// nothing is judged until Resume.
func (r *Rollout) Pause() error { return r.change(Paused, "paused by hand", time.Time{}) }

// Resume continues a paused rollout at now: the step starts afresh, its
// calls counted from now.
func (r *Rollout) Resume(now time.Time) error { return r.change(Running, "resumed by hand", now) }

// Promote gives the candidate all traffic at once, by hand.
func (r *Rollout) Promote() error { return r.change(Promoted, "promoted by hand", time.Time{}) }

// Abort takes all traffic from the candidate at once, by hand.
func (r *Rollout) Abort() error { return r.change(Aborted, "aborted by hand", time.Time{}) }

// Status is a rollout's state and history, as /status shows it.
type Status struct {
	State             State      `json:"state"`
	Step              int        `json:"step"`
	Steps             []int      `json:"steps"`
	Weight            int        `json:"weight"` // the candidate's share, percent
	StepStarted       time.Time  `json:"step_started"`
	BaselineRequests  int        `json:"baseline_requests"`  // in this step
	CandidateRequests int        `json:"candidate_requests"` // in this step
	Reason            string     `json:"reason,omitempty"`   // why it ended
	History           []Judgment `json:"history"`
}

// Status returns the rollout's state and its judgments so far.
func (r *Rollout) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Status{
		State: r.state, Step: r.step, Steps: slices.Clone(r.cfg.Steps), Weight: r.weightLocked(),
		StepStarted: r.stepStart, BaselineRequests: r.base.requests, CandidateRequests: r.cand.requests,
		Reason: r.reason, History: slices.Clone(r.history),
	}
}
