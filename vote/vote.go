package vote

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// Impl is one implementation taking part in a vote.
type Impl[T any] struct {
	// Name identifies the implementation in the result and report. Default
	// "#i", its index in the list given to Run. Names should be unique.
	Name string
	// Fn computes the implementation's answer. It runs on a goroutine of
	// its own, concurrently with the others, and should return when ctx is
	// done: after the vote its result is ignored.
	Fn func(ctx context.Context) (T, error)
}

// Voter runs several implementations of the same computation and returns the
// answer a quorum of them agree on; see the package documentation for the
// model. Build one with [New]; the zero Voter is not usable. A Voter is
// immutable after New and safe for concurrent use.
type Voter[T any] struct {
	s   settings
	cmp func(a, b T) bool
}

// settings is the part of a Config that does not depend on T.
type settings struct {
	name     string
	timeout  time.Duration
	quorum   int // 0: majority
	waitAll  bool
	replicas int
	listener holdfast.Listener
	logger   *slog.Logger
}

var (
	_ holdfast.Policy = (*Voter[int])(nil)
	_ holdfast.Named  = (*Voter[int])(nil)
	_ holdfast.Kinded = (*Voter[int])(nil)
)

// New returns a Voter for cfg after applying defaults, or the
// [*holdfast.ConfigError]s that make cfg invalid.
func New[T any](cfg Config[T]) (*Voter[T], error) {
	// Validate applies the defaults itself, and must see whether Replicas
	// was set: only an explicit one bounds Quorum.
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	v := &Voter[T]{
		s: settings{
			name:     cfg.Name,
			timeout:  cfg.Timeout,
			quorum:   cfg.Quorum,
			waitAll:  cfg.WaitAll,
			replicas: cfg.Replicas,
			listener: cfg.Listener,
			logger:   cfg.Logger,
		},
		cmp: cfg.Compare,
	}
	switch {
	case v.cmp != nil:
	case cfg.JSON != nil:
		v.cmp = MustJSON[T](*cfg.JSON) // validated above
	default:
		v.cmp = defaultCompare[T]()
	}
	return v, nil
}

// MustNew is like [New] but panics on an invalid config. It is meant for
// examples, tests and package-level variables.
func MustNew[T any](cfg Config[T]) *Voter[T] {
	v, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return v
}

// Name returns the configured name, "vote" by default.
func (v *Voter[T]) Name() string { return v.s.name }

// Kind returns [holdfast.KindVote], which sorts innermost in
// [holdfast.Recommended]: a vote has no place of its own there.
func (v *Voter[T]) Kind() holdfast.Kind { return holdfast.KindVote }

// Concurrent reports true: a voter calls its voters at once, so a pipeline
// must lock the per-call state it shares with them.
func (v *Voter[T]) Concurrent() bool { return true }

// Run runs impls concurrently under Config.Timeout and returns the answer a
// quorum of them agree on. Without a quorum it returns a [*NoQuorumError];
// the Result is returned either way and says how each implementation voted.
// If ctx is cancelled (rather than reaching a deadline) Run returns ctx.Err()
// at once, with a Result holding the answers gathered so far, unjudged: the
// Status of a vote is zero unless it failed. Run never waits for
// implementations that missed the deadline or were cancelled.
//
// With fewer implementations than the quorum (or none), Run runs none of them
// and returns a *NoQuorumError.
func (v *Voter[T]) Run(ctx context.Context, impls ...Impl[T]) (Result[T], error) {
	return run(ctx, &v.s, v.cmp, impls)
}

// Execute runs Config.Replicas copies of next concurrently, implementing
// [holdfast.Policy], and returns nil when a quorum of them succeed: a
// quorum write. Otherwise it returns a [*NoQuorumError] whose report lists
// the failed and missing copies, named "replica-1" and so on. Errors are
// not compared; any error is a failed vote.
func (v *Voter[T]) Execute(ctx context.Context, next func(context.Context) error) error {
	impls := make([]Impl[struct{}], v.s.replicas)
	for i := range impls {
		impls[i] = Impl[struct{}]{
			Name: "replica-" + strconv.Itoa(i+1),
			Fn:   func(ctx context.Context) (struct{}, error) { return struct{}{}, next(ctx) },
		}
	}
	_, err := run(ctx, &v.s, func(struct{}, struct{}) bool { return true }, impls)
	return err
}

// ballot is what one implementation reports.
type ballot[T any] struct {
	i    int
	val  T
	err  error
	took time.Duration
	at   time.Time // when it answered
}

// run is the vote behind Run and Execute.
func run[T any](ctx context.Context, s *settings, compare func(a, b T) bool, impls []Impl[T]) (Result[T], error) {
	n := len(impls)
	quorum := s.quorum
	if quorum == 0 {
		quorum = n/2 + 1
	}
	res := Result[T]{Votes: make([]Vote[T], n), Report: Report{Quorum: quorum, Voters: n}}
	for i, im := range impls {
		res.Votes[i].Name = im.Name
		if im.Name == "" {
			res.Votes[i].Name = "#" + strconv.Itoa(i)
		}
	}
	if quorum > n {
		err := &NoQuorumError{Policy: s.name, Report: res.Report}
		s.report(ctx, res.Report, err)
		return res, err
	}

	tctx, stop := context.WithTimeout(ctx, s.timeout)
	defer stop()
	rctx, cancel := context.WithCancelCause(tctx)
	defer cancel(ErrDecided)
	ballots := make(chan ballot[T], n) // room for all: a late voter must not block
	for i, im := range impls {
		go func() {
			start := time.Now()
			v, err := im.Fn(rctx)
			at := time.Now()
			ballots <- ballot[T]{i: i, val: v, err: err, took: at.Sub(start), at: at}
		}()
	}

	// An answer counts if it came strictly before the deadline. Judging by
	// the answer's own time, not by when this goroutine sees it, keeps an
	// answer that races the deadline from counting on one run and not on
	// the next.
	dl, _ := tctx.Deadline()
	answered := make([]bool, n) // answered, with a value or an error
	values := make([]T, n)
	g := grouping[T]{cmp: compare, values: values}
	pending, deadline := n, false
	record := func(b ballot[T]) {
		pending--
		answered[b.i] = true
		vote := &res.Votes[b.i]
		vote.Latency = b.took
		if b.err != nil {
			vote.Err = b.err
			vote.Status = StatusFailed
			return
		}
		vote.Value = b.val
		values[b.i] = b.val
		g.add(b.i)
	}
collect:
	for pending > 0 {
		select {
		case b := <-ballots:
			if !b.at.Before(dl) {
				continue // too late; tctx is done or about to be
			}
			record(b)
			if !s.waitAll {
				first, second := g.largest()
				if decide(first, second, pending, quorum) != undecided {
					break collect
				}
			}
		case <-tctx.Done():
			deadline = true
			for {
				select {
				case b := <-ballots:
					if b.at.Before(dl) {
						record(b) // answered in time, but not yet seen
					}
				default:
					break collect
				}
			}
		}
	}
	if deadline && ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return res, ctx.Err() // the caller gave up: no verdict
	}

	groups := g.sorted()
	first, second := g.largest()
	won := decide(first, second, 0, quorum) == agreed
	if won {
		for _, i := range groups[0] {
			res.Votes[i].Status = StatusAgreed
		}
		res.Value = res.Votes[groups[0][0]].Value
	}
	r := &res.Report
	for i := range res.Votes {
		vote := &res.Votes[i]
		switch {
		case !answered[i] && deadline:
			vote.Status = StatusMissing
			r.Missing = append(r.Missing, vote.Name)
		case !answered[i]:
			vote.Status = StatusCancelled
			r.Cancelled = append(r.Cancelled, vote.Name)
		case vote.Status == StatusFailed:
			r.Failed = append(r.Failed, Failure{Name: vote.Name, Err: vote.Err})
		case vote.Status == StatusAgreed:
			r.Agreed = append(r.Agreed, vote.Name)
		default:
			vote.Status = StatusDissented
			r.Dissenters = append(r.Dissenters, vote.Name)
		}
	}
	for _, members := range groups {
		names := make([]string, len(members))
		for k, i := range members {
			names[k] = res.Votes[i].Name
		}
		r.Groups = append(r.Groups, names)
	}

	var err error
	if !won {
		err = &NoQuorumError{Policy: s.name, Report: res.Report}
	}
	s.report(ctx, res.Report, err)
	return res, err
}

// report emits the vote's event and log line.
func (s *settings) report(ctx context.Context, r Report, err error) {
	reason := "agreed"
	switch {
	case err != nil:
		reason = "no_quorum"
	case !r.Unanimous():
		reason = "dissent"
	}
	holdfast.EmitContext(ctx, s.listener, holdfast.Event{Source: holdfast.KindVote, Policy: s.name, Kind: holdfast.EventVote, Reason: reason, Value: float64(len(r.Agreed)), Err: err})
	if s.logger == nil {
		return
	}
	if reason == "agreed" {
		s.logger.DebugContext(ctx, "vote", "policy", s.name, "outcome", reason, "report", r.String())
	} else {
		s.logger.WarnContext(ctx, "vote", "policy", s.name, "outcome", reason, "report", r.String())
	}
}

// Agree reports whether two answers agree by the voter's comparator
// ([Config.Compare], [Config.JSON] or the default): what Run groups answers
// by. It lets a caller judge an answer that did not take part in the vote,
// such as a quarantined implementation's, against the agreed one.
func (v *Voter[T]) Agree(a, b T) bool { return v.cmp(a, b) }
