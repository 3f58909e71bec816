package proxy

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/canary"
	"github.com/holdfast-dev/holdfast/config"
)

// canaryRoute is a route's canary: the rollout that sets how its split
// divides traffic between baseline and candidate, fed with every answered
// request of either. The judging is the canary package's; this file only
// routes by the rollout's weight and reports to it.
type canaryRoute struct {
	cfg       *config.Canary
	rollout   *canary.Rollout
	baseline  *target // the route's targets
	candidate *target
	lastTick  atomic.Int64 // unix nanoseconds of the last Tick
}

// tickEvery is how often requests give the rollout a chance to judge its
// step (each judgment sorts up to 2 × canary.MaxSamples latencies).
const tickEvery = time.Second

func newCanaryRoute(rc *config.Route, targets []target, l holdfast.Listener, now time.Time) (*canaryRoute, error) {
	c := &canaryRoute{cfg: rc.Canary}
	for i := range targets {
		switch targets[i].cluster.name {
		case rc.Canary.Baseline:
			c.baseline = &targets[i]
		case rc.Canary.Candidate:
			c.candidate = &targets[i]
		}
	}
	if c.baseline == nil || c.candidate == nil {
		return nil, errors.New("canary: baseline and candidate must be the route's split upstreams")
	}
	var err error
	cc := rc.Canary.Config
	cc.Name, cc.Listener = rc.Name, l // events name the route
	if c.rollout, err = canary.New(cc, now); err != nil {
		return nil, err
	}
	return c, nil
}

// keep takes over prev's rollout when prev is the same canary (same
// upstreams and plan), so that a reload does not restart it.
func (c *canaryRoute) keep(prev *canaryRoute) {
	if prev != nil && sameJSON(prev.cfg, c.cfg) {
		c.rollout = prev.rollout
	}
}

// pick returns the target a request goes to.
func (c *canaryRoute) pick() *target {
	if rand.IntN(100) < c.rollout.Weight() {
		return c.candidate
	}
	return c.baseline
}

// observe reports one request that target t answered (or failed to), and
// lets the rollout judge once a tickEvery. A request whose outcome is the
// client's doing (its own bad request or its leaving) says nothing of
// either version and is not counted.
func (c *canaryRoute) observe(t *target, info *RequestInfo, took time.Duration, now time.Time) {
	if clientsFault(info) {
		return
	}
	side := canary.Baseline
	if t == c.candidate {
		side = canary.Candidate
	}
	c.rollout.Observe(side, info.Status >= 500, took)
	last := c.lastTick.Load()
	if now.UnixNano()-last >= int64(tickEvery) && c.lastTick.CompareAndSwap(last, now.UnixNano()) {
		c.rollout.Tick(now)
	}
}

// clientsFault reports whether a request ended by the client's doing: a
// local reply for a request that was bad or too large, or a client that
// left before its answer.
func clientsFault(info *RequestInfo) bool {
	switch info.Reason {
	case ReasonInvalidRequest, ReasonBodyTooLarge, ReasonClientClosed:
		return true
	}
	return info.Status == 0
}

// CanaryStatus is a canary route's rollout, in [RouteStatus].
type CanaryStatus struct {
	Baseline  string `json:"baseline"`
	Candidate string `json:"candidate"`
	canary.Status
}

func (c *canaryRoute) status() *CanaryStatus {
	return &CanaryStatus{Baseline: c.cfg.Baseline, Candidate: c.cfg.Candidate, Status: c.rollout.Status()}
}

// ErrNoCanary is an action on a route that has no canary.
var ErrNoCanary = errors.New("proxy: the route has no canary")

// CanaryAction is what [Proxy.Canary] does to a route's rollout.
type CanaryAction string

// The actions of [Proxy.Canary].
const (
	CanaryPause   CanaryAction = "pause"
	CanaryResume  CanaryAction = "resume"
	CanaryPromote CanaryAction = "promote"
	CanaryAbort   CanaryAction = "abort"
)

// Canary pauses, resumes, promotes or aborts the rollout of the named
// route, and returns its status after. It returns ErrNoCanary for a route
// without one (or none of that name), and canary.ErrNotRunning for an
// action on a rollout that has ended.
func (p *Proxy) Canary(route string, action CanaryAction) (*CanaryStatus, error) {
	r := p.state.Load().route(route)
	if r == nil || r.canary == nil {
		return nil, ErrNoCanary
	}
	ro := r.canary.rollout
	var err error
	switch action {
	case CanaryPause:
		err = ro.Pause()
	case CanaryResume:
		err = ro.Resume(time.Now())
	case CanaryPromote:
		err = ro.Promote()
	case CanaryAbort:
		err = ro.Abort()
	default:
		return nil, errors.New("proxy: unknown canary action " + string(action))
	}
	return r.canary.status(), err
}

// CanaryStatusOf returns the rollout of the named route, or ErrNoCanary.
func (p *Proxy) CanaryStatusOf(route string) (*CanaryStatus, error) {
	r := p.state.Load().route(route)
	if r == nil || r.canary == nil {
		return nil, ErrNoCanary
	}
	return r.canary.status(), nil
}

// CanaryVerdict is the answer of a canary's verdict endpoint: whether the
// candidate stands (running with no failed step, paused, or promoted) or
// has failed (rolled back or aborted), with the latest judgment.
func CanaryVerdict(s *CanaryStatus) (code int, pass bool) {
	switch s.State {
	case canary.RolledBack, canary.Aborted:
		return http.StatusInternalServerError, false
	}
	return http.StatusOK, true
}
