package vote

import (
	"errors"
	"log/slog"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// Defaults for the zero fields of [Config].
const (
	DefaultTimeout  = time.Second
	DefaultReplicas = 3
)

// maxVoters bounds quorum and replicas: deciding compares every answer with
// every group, so a vote is meant for a handful of implementations.
const maxVoters = 1000

// Config configures a [Voter]. The zero value is valid: a majority of the
// implementations must agree within one second, compared with [Equal]-like
// equality.
//
// In a config file it is the "vote" block:
//
//	vote: {timeout: 500ms, quorum: 2, json: {ignore: [/generated_at], unordered: [/items]}}
type Config[T any] struct {
	// Name is reported as Event.Policy and in errors. Default "vote".
	Name string `yaml:"name" json:"name"`

	// Timeout is how long the implementations have to answer. One that has
	// not answered by then counts as missing and is not waited for; its
	// context is cancelled. The caller's context may end the vote sooner.
	// Default 1s.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`

	// Quorum is how many implementations must agree. Default 0: a majority
	// of those voting, N/2+1. A quorum at or below half of N allows two
	// groups to reach it; a tie between the largest groups is then no
	// quorum. At most 1000.
	Quorum int `yaml:"quorum" json:"quorum"`

	// WaitAll makes Run wait for every implementation (until Timeout) even
	// once the outcome is certain, so that the report names every
	// dissenter. Default false: Run returns as soon as a quorum agrees (or
	// can no longer agree) and cancels the implementations still running,
	// with cause [ErrDecided]; they are reported as cancelled.
	WaitAll bool `yaml:"wait_all" json:"wait_all"`

	// Replicas is how many copies of next [Voter.Execute] runs. It does not
	// affect Run. Default 3; at most 1000.
	Replicas int `yaml:"replicas" json:"replicas"`

	// Compare reports whether two answers agree. It should be an
	// equivalence relation (the answers are grouped by it). Default: the
	// JSON comparator when JSON is set; otherwise == for types that hold no
	// pointers, interfaces, slices, maps or funcs, and reflect.DeepEqual
	// for the others. See [Equal] and [JSON].
	Compare func(a, b T) bool `yaml:"-" json:"-"`

	// JSON, when set, compares answers as JSON documents; see [JSONOptions].
	// Setting both JSON and Compare is an error.
	JSON *JSONOptions `yaml:"json" json:"json"`

	// Listener receives an EventVote for every vote. Default nil: no
	// events.
	Listener holdfast.Listener `yaml:"-" json:"-"`

	// Logger logs votes that were not unanimous (warn) and those that were
	// (debug). Default nil: silent.
	Logger *slog.Logger `yaml:"-" json:"-"`
}

// withDefaults returns c with its zero fields replaced by their defaults.
// Compare is resolved by New, which may fail on JSON.
func (c Config[T]) withDefaults() Config[T] {
	if c.Name == "" {
		c.Name = "vote"
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Replicas == 0 {
		c.Replicas = DefaultReplicas
	}
	return c
}

// Validate reports every invalid field of c (after defaults) as a
// [*holdfast.ConfigError] keyed under "vote", joined with errors.Join.
func (c Config[T]) Validate() error {
	explicitReplicas := c.Replicas != 0
	c = c.withDefaults()
	var errs []error
	if c.Timeout < 0 {
		errs = append(errs, holdfast.ConfigErrorf("vote", "timeout", "must not be negative, got %v", c.Timeout))
	}
	if c.Quorum < 0 || c.Quorum > maxVoters {
		errs = append(errs, holdfast.ConfigErrorf("vote", "quorum", "must be in [0, %d], got %d", maxVoters, c.Quorum))
	}
	if c.Replicas < 1 || c.Replicas > maxVoters {
		errs = append(errs, holdfast.ConfigErrorf("vote", "replicas", "must be in [1, %d], got %d", maxVoters, c.Replicas))
	} else if explicitReplicas && c.Quorum > c.Replicas {
		errs = append(errs, holdfast.ConfigErrorf("vote", "quorum", "must not exceed replicas=%d, got %d", c.Replicas, c.Quorum))
	}
	if c.JSON != nil {
		if c.Compare != nil {
			errs = append(errs, holdfast.ConfigErrorf("vote", "json", "set json or compare, not both"))
		}
		if err := c.JSON.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
