package upstream

import (
	"context"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// Upstream is a cluster of endpoints behind one balancer. It keeps each
// endpoint's health (active checks) and ejection state (passive outlier
// detection), routes to the lowest priority group with a usable endpoint, and
// falls back to every endpoint (panic mode) when none is usable.
//
// Create one with [New]; the zero value is not usable. All methods are safe
// for concurrent use. [Upstream.Close] stops its health checker.
type Upstream struct {
	name      string
	cfg       Config // with defaults applied
	eps       []*Endpoint
	all       Mask
	groups    []Mask // members of each priority group, lowest priority first
	bal       Balancer
	transport http.RoundTripper
	built     *Transport // the transport New built, or nil if given one
	epoch     time.Time  // origin of nanotime
	rnd       func() uint64
	checker   *checker // nil without health checks
	closeOnce sync.Once

	// route is the routing state Pick reads, republished under mu whenever
	// an endpoint's usability changes.
	route atomic.Pointer[routing]

	// mu guards nEjected, ejectionsRefused, closed, the publication of route
	// and the Endpoint fields documented as guarded by it.
	mu               sync.Mutex
	nEjected         int
	ejectionsRefused int64
	closed           bool
}

// routing is an immutable snapshot of which endpoints take traffic.
type routing struct {
	usable []Mask // usable endpoints of each priority group, as in Upstream.groups
	active int    // index of the group taking traffic; -1 in panic mode
}

var _ holdfast.Policy = (*Upstream)(nil)

// New returns an Upstream for c after applying defaults and validating it
// (see [Config.Validate]), and starts its health checker when c.HealthCheck
// is set. Every endpoint starts healthy and not ejected.
func New(c Config) (*Upstream, error) {
	return newUpstream(c, defaultRand)
}

// MustNew is like [New] but panics on an invalid config. It is meant for
// examples and tests.
func MustNew(c Config) *Upstream {
	u, err := New(c)
	if err != nil {
		panic(err)
	}
	return u
}

// newUpstream is New with a chosen random source, which must be safe for
// concurrent use; tests pass a seeded one.
func newUpstream(c Config, rnd func() uint64) (*Upstream, error) {
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	u := &Upstream{name: c.Name, cfg: c, epoch: time.Now(), rnd: rnd}
	var priorities []int
	for i, ec := range c.Endpoints {
		addr, _ := parseAddress(ec.Address) // Validate checked it
		e := &Endpoint{addr: addr, weight: ec.Weight, priority: ec.Priority, index: i, u: u}
		e.healthy.Store(true)
		u.eps = append(u.eps, e)
		u.all.Add(i)
		if !slices.Contains(priorities, ec.Priority) {
			priorities = append(priorities, ec.Priority)
		}
	}
	slices.Sort(priorities)
	u.groups = make([]Mask, len(priorities))
	for _, e := range u.eps {
		u.groups[slices.Index(priorities, e.priority)].Add(e.index)
	}
	u.bal = newBalancer(c.Balancer, u.eps, rnd)
	if c.Transport != nil {
		u.transport = c.Transport
	} else {
		t, err := NewTransport(c)
		if err != nil {
			return nil, err
		}
		u.built = t
		u.transport = t
	}
	u.mu.Lock()
	u.publishLocked(nil)
	u.mu.Unlock()
	if c.HealthCheck != nil {
		u.checker = newChecker(u, *c.HealthCheck)
		go u.checker.run()
	}
	return u, nil
}

// Name returns the upstream's configured name.
func (u *Upstream) Name() string { return u.name }

// Kind returns [holdfast.KindOther]: an upstream sits innermost, just outside
// the call.
func (u *Upstream) Kind() holdfast.Kind { return holdfast.KindOther }

// Endpoints returns the upstream's endpoints in configuration order; an
// endpoint's position is its [Endpoint.Index]. The slice is a copy; the
// endpoints are live.
func (u *Upstream) Endpoints() []*Endpoint { return slices.Clone(u.eps) }

// Transport returns the round tripper requests to this upstream's endpoints
// should use: the [*Transport] built from the config, or Config.Transport
// when one was given. Health checks use the same one.
func (u *Upstream) Transport() http.RoundTripper { return u.transport }

// Panic reports whether the upstream is in panic mode: no endpoint is usable
// (healthy and not ejected), so [Upstream.Pick] spreads traffic over all of
// them rather than failing every request.
func (u *Upstream) Panic() bool { return u.route.Load().active < 0 }

// Pick chooses the endpoint for one attempt of a request, skipping the
// endpoints in exclude (those the request already tried). It looks at the
// priority groups from the lowest up and lets the balancer choose among the
// first group with a usable endpoint not in exclude. When there is none
// anywhere, as in panic mode or when every usable endpoint has been tried, it
// chooses among all endpoints not in exclude, usable or not: an attempt at a
// doubtful endpoint beats failing the request. It returns an error matching
// [ErrNoHealthyUpstream] only when every endpoint is in exclude; a retry loop
// that wants to try the same endpoints again starts over with an empty Mask.
//
// Pick does not allocate on success. The caller brackets the request with
// [Endpoint.Start] and [Endpoint.Done].
func (u *Upstream) Pick(exclude Mask) (*Endpoint, error) {
	r := u.route.Load()
	for i := range r.usable {
		if c := r.usable[i].andNot(exclude); !c.Empty() {
			return u.bal.Pick(c), nil
		}
	}
	c := u.all.andNot(exclude)
	if c.Empty() {
		return nil, &NoHealthyUpstreamError{Upstream: u.name, Endpoints: len(u.eps), Excluded: exclude.and(u.all).Len()}
	}
	return u.bal.Pick(c), nil
}

// PickRetry chooses the endpoint for a retry or a hedge of a request that
// already tried the endpoints in tried, last the one at index last (-1 when
// none). Unlike [Upstream.Pick] it does not send a retry to an endpoint it
// has reason to doubt while a sound one is usable: an endpoint on probation
// (just back from an ejection, not yet proven), one whose last answer
// failed (such as a dead endpoint that max_ejection_percent kept from
// being ejected), or one whose latency estimate is far above its group's
// best (at least [RetryAvoidRatio] times, and [RetryAvoidFloor] more). It looks, in each step from the lowest
// priority group up, for
//
//  1. a sound usable endpoint not tried yet;
//  2. a sound usable endpoint tried before, other than last: one that
//     failed this request once is a better bet than one that is failing
//     every request;
//  3. a doubtful usable endpoint not tried yet, unless condemned: failing
//     as often in a row as ejects an endpoint, kept only by
//     max_ejection_percent;
//  4. a usable endpoint not condemned, even the last one;
//  5. any usable endpoint;
//
// and, when no endpoint is usable (panic mode), any endpoint not tried yet,
// then any at all. Retries never go to an ejected or unhealthy endpoint while
// a usable one exists: the doubt that ejected it is the strongest there is.
// It fails only for an upstream with no endpoints.
func (u *Upstream) PickRetry(tried Mask, last int) (*Endpoint, error) {
	r := u.route.Load()
	var lastMask Mask
	if last >= 0 {
		lastMask.Add(last)
	}
	now := u.nanotime()
	doubt := make([]Mask, len(r.usable))
	condemned := make([]Mask, len(r.usable))
	for i, g := range r.usable {
		doubt[i], condemned[i] = u.doubtful(g, now)
	}
	steps := [...]func(g, d, x Mask) Mask{
		func(g, d, x Mask) Mask { return g.andNot(d).andNot(tried) },
		func(g, d, x Mask) Mask { return g.andNot(d).andNot(lastMask) },
		func(g, d, x Mask) Mask { return g.andNot(x).andNot(tried) },
		func(g, d, x Mask) Mask { return g.andNot(x) },
		func(g, d, x Mask) Mask { return g },
	}
	for _, step := range steps {
		for i, g := range r.usable {
			if c := step(g, doubt[i], condemned[i]); !c.Empty() {
				return u.bal.Pick(c), nil
			}
		}
	}
	if c := u.all.andNot(tried); !c.Empty() {
		return u.bal.Pick(c), nil
	}
	if u.all.Empty() {
		return nil, &NoHealthyUpstreamError{Upstream: u.name, Endpoints: len(u.eps)}
	}
	return u.bal.Pick(u.all), nil
}

// A retry avoids an endpoint whose latency estimate is at least
// RetryAvoidRatio times its group's best and RetryAvoidFloor above it
// ([Upstream.PickRetry]): four times as slow as a peer, and not by a few
// milliseconds of noise.
const (
	RetryAvoidRatio = 4
	RetryAvoidFloor = 25 * time.Millisecond
)

// doubtful returns the endpoints of group g that a retry should avoid: on
// probation, failing (the last answer failed, or was invalid), or far slower than the
// group's fastest; and among them the condemned: failing as often in a row
// as outlier detection ejects for, kept in service only by
// max_ejection_percent.
func (u *Upstream) doubtful(g Mask, now int64) (d, condemned Mask) {
	od := &u.cfg.OutlierDetection
	best := math.Inf(1)
	for i := g.next(0); i >= 0; i = g.next(i + 1) {
		best = min(best, u.eps[i].ewma(now))
	}
	for i := g.next(0); i >= 0; i = g.next(i + 1) {
		e := u.eps[i]
		v := e.ewma(now)
		streak, bad := e.failStreak.Load(), e.badStreak.Load()
		if e.probation.Load() || streak > 0 || bad > 0 || v >= best*RetryAvoidRatio && v-best >= float64(RetryAvoidFloor) {
			d.Add(i)
		}
		if !od.Disabled && (streak >= int32(od.ConsecutiveFailures) || bad >= int32(od.ConsecutiveInvariantViolations)) {
			condemned.Add(i)
		}
	}
	return d, condemned
}

type endpointKey struct{}

// EndpointFromContext returns the endpoint chosen by [Upstream.Execute] for
// the call running under ctx, or nil.
func EndpointFromContext(ctx context.Context) *Endpoint {
	e, _ := ctx.Value(endpointKey{}).(*Endpoint)
	return e
}

// Execute runs next against one endpoint: it picks an endpoint, passes it in
// the context (see [EndpointFromContext]) and records how the call went, with
// the outcome given by [ErrorOutcome]. It returns next's error, or the
// error of [Upstream.Pick]. Storing the endpoint in the context allocates;
// [Do] does not.
func (u *Upstream) Execute(ctx context.Context, next func(context.Context) error) error {
	ep, err := u.Pick(Mask{})
	if err != nil {
		return err
	}
	ep.Start()
	begin := time.Now()
	err = next(context.WithValue(ctx, endpointKey{}, ep))
	ep.Done(time.Since(begin), ErrorOutcome(ctx, err))
	return err
}

// Do calls fn with an endpoint picked from u, skipping those in exclude, and
// records the call's duration and outcome (see [ErrorOutcome]) on it. It does
// not allocate on success beyond what fn does.
func Do[T any](ctx context.Context, u *Upstream, exclude Mask, fn func(context.Context, *Endpoint) (T, error)) (T, error) {
	ep, err := u.Pick(exclude)
	if err != nil {
		var zero T
		return zero, err
	}
	ep.Start()
	begin := time.Now()
	v, err := fn(ctx, ep)
	ep.Done(time.Since(begin), ErrorOutcome(ctx, err))
	return v, err
}

// Close stops the health checker, waiting for checks under way to give up,
// cancels pending ejection timers and closes idle connections of the built
// transport. Endpoint state freezes as it is: Pick keeps working, and Done
// keeps counting requests but ejects no more. Close is idempotent and always
// returns nil.
func (u *Upstream) Close() error {
	u.closeOnce.Do(func() {
		u.mu.Lock()
		u.closed = true
		for _, e := range u.eps {
			if e.ejectTimer != nil {
				e.ejectTimer.Stop()
				e.ejectTimer = nil
			}
		}
		u.mu.Unlock()
		if u.checker != nil {
			u.checker.stop()
		}
		if u.built != nil {
			u.built.Close()
		}
	})
	return nil
}

// nanotime returns the time since u was created, on the monotonic clock.
func (u *Upstream) nanotime() int64 { return int64(time.Since(u.epoch)) }

// publishLocked republishes the routing state after a usability change and
// returns changes with a panic-mode change appended when there was one. u.mu
// must be held.
func (u *Upstream) publishLocked(changes []Change) []Change {
	r := &routing{usable: make([]Mask, len(u.groups)), active: -1}
	for gi, members := range u.groups {
		var m Mask
		for i := members.next(0); i >= 0; i = members.next(i + 1) {
			if u.eps[i].Usable() {
				m.Add(i)
			}
		}
		r.usable[gi] = m
		if r.active < 0 && !m.Empty() {
			r.active = gi
		}
	}
	old := u.route.Swap(r)
	switch {
	case old == nil || (old.active < 0) == (r.active < 0):
	case r.active < 0:
		changes = append(changes, Change{Kind: PanicEntered, Reason: ReasonNoUsableEndpoint})
	default:
		changes = append(changes, Change{Kind: PanicExited, Reason: ReasonEndpointUsable})
	}
	return changes
}
