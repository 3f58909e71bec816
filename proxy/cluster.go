package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/adaptive"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/bulkhead"
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/fleetbreaker"
	"github.com/holdfast-dev/holdfast/internal/globalrate"
	"github.com/holdfast-dev/holdfast/retry"
	"github.com/holdfast-dev/holdfast/upstream"
)

// cluster is the live state of one configured upstream: its endpoints and
// the policies that guard all of them together.
type cluster struct {
	name     string
	cfg      *config.Upstream
	up       *upstream.Upstream
	rt       http.RoundTripper // the upstream's one transport
	breaker  *breaker.Breaker
	bulkhead *bulkhead.Bulkhead
	adaptive *adaptive.Limiter
	// top is the highest priority of the routes that send to the
	// upstream, set with each config the cluster serves (brownout.go).
	top    atomic.Pointer[adaptive.Priority]
	budget *retry.Budget       // shared by routes that set no budget of their own
	fleet  *fleetbreaker.Fleet // shares breaker with the fleet; nil without shared_breaker
}

func newCluster(name string, c *config.Upstream, l holdfast.Listener) (*cluster, error) {
	uc := c.Config
	uc.Name = name
	uc.Listener = l
	cl := &cluster{name: name, cfg: c}
	up, err := upstream.New(uc)
	if err != nil {
		return nil, err
	}
	cl.up = up
	cl.rt = up.Transport()
	if c.CircuitBreaker != nil {
		bc := *c.CircuitBreaker
		bc.Name = name
		bc.Listener = l
		if cl.breaker, err = breaker.New(bc); err != nil {
			cl.Close()
			return nil, err
		}
	}
	if cc := c.Concurrency; cc != nil {
		if cc.Adaptive != nil {
			ac := *cc.Adaptive
			ac.Name = name
			ac.Listener = l
			if cl.adaptive, err = adaptive.New(ac); err != nil {
				cl.Close()
				return nil, err
			}
		} else {
			bc := cc.Config
			bc.Name = name
			bc.Listener = l
			if cl.bulkhead, err = bulkhead.New(bc); err != nil {
				cl.Close()
				return nil, err
			}
		}
	}
	// Unless the config says otherwise, the zero BudgetConfig: the
	// retry package's default budget, which no copy here restates.
	var bcfg retry.BudgetConfig
	if c.RetryBudget != nil {
		bcfg = *c.RetryBudget
	}
	if cl.budget, err = retry.NewBudget(bcfg); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// Close stops health checks, the shared breaker's syncs and closes idle
// connections; it is idempotent.
func (c *cluster) Close() {
	if c.up != nil {
		c.up.Close()
	}
	if c.fleet != nil {
		c.fleet.Close()
	}
}

// shareBreaker makes the cluster's breaker share what it sees with the
// same upstream's breakers of every holdfast using rdb.
func (c *cluster) shareBreaker(rdb *globalrate.Client, sc *config.SharedBreaker, logger *slog.Logger) error {
	if c.breaker == nil || rdb == nil {
		return errors.New("shared_breaker needs circuit_breaker and the redis block")
	}
	f, err := fleetbreaker.New(fleetbreaker.Config{
		Name:     c.name,
		Breaker:  c.breaker,
		Redis:    rdb.Redis(),
		Quorum:   sc.Quorum,
		Interval: sc.SyncInterval,
		Logger:   logger,
	})
	if err != nil {
		return err
	}
	c.fleet = f
	return nil
}

// admit takes the upstream's breaker permit and concurrency slot for one
// attempt. The ticket's done (or, for an upgrade, record then free) must be
// called once the attempt is over.
//
// A request of a route of priority prio is shed first, by
// [adaptive.Shed]: while burning (a P0 alert fires) for a sheddable route,
// and as the adaptive limit fills up for one of a lower priority than the
// upstream's top (brownout.go).
func (c *cluster) admit(ctx context.Context, prio adaptive.Priority, burning bool) (t ticket, reason string, err error) {
	top := c.topPriority()
	if c.adaptive == nil {
		if _, err := (*adaptive.Limiter)(nil).AcquirePriority(prio, top, burning); err != nil {
			return ticket{}, ReasonShed, err
		}
	}
	t.c = c
	if c.breaker != nil {
		p, err := c.breaker.Allow()
		if err != nil {
			return ticket{}, ReasonBreakerOpen, err
		}
		t.permit, t.hasPermit = p, true
	}
	switch {
	case c.adaptive != nil:
		tok, err := c.adaptive.AcquirePriority(prio, top, burning)
		if errors.Is(err, adaptive.ErrShed) {
			t.ignore()
			return ticket{}, ReasonShed, err
		}
		if err != nil {
			t.ignore()
			return ticket{}, ReasonOverloaded, err
		}
		t.token, t.hasToken = tok, true
	case c.bulkhead != nil:
		if err := c.bulkhead.Acquire(ctx); err != nil {
			t.ignore()
			if ctx.Err() != nil {
				return ticket{}, ReasonTimeout, ctx.Err()
			}
			return ticket{}, ReasonOverloaded, err
		}
		t.hasSlot = true
	}
	return t, "", nil
}

// ticket is what one attempt holds of its upstream's breaker and
// concurrency limit. The zero ticket holds nothing.
type ticket struct {
	c         *cluster
	permit    breaker.Permit
	token     adaptive.Token
	hasPermit bool
	hasToken  bool
	hasSlot   bool
}

// done ends the attempt by its error: nil is a success, errUpstreamStatus
// or a transport error a failure, and a cancelled call is not recorded.
func (t *ticket) done(err error) {
	t.record(err)
	if t.hasToken {
		t.token.Finish(err)
		t.hasToken = false
	}
	t.free()
}

// ignore ends an attempt whose outcome says nothing about the upstream:
// the client's fault, or the client gone. Nothing is recorded.
func (t *ticket) ignore() {
	if t.hasPermit {
		t.permit.Release()
		t.hasPermit = false
	}
	if t.hasToken {
		t.token.Ignore()
		t.hasToken = false
	}
	t.free()
}

// record gives the breaker the attempt's result. An upgrade records its
// handshake so, then holds its slot (and adaptive token) for the session
// and ends with ignore, so that a session's length is never a latency.
func (t *ticket) record(err error) {
	if t.hasPermit {
		t.permit.Done(err) // a cancelled call is not recorded, as with Release
		t.hasPermit = false
		if f := t.c.fleet; f != nil {
			f.Record(err)
		}
	}
}

// free gives the concurrency slot back.
func (t *ticket) free() {
	if t.hasSlot {
		t.c.bulkhead.Release()
		t.hasSlot = false
	}
}
