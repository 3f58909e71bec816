package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/adaptive"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/bulkhead"
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/retry"
	"github.com/holdfast-dev/holdfast/upstream"
)

// cluster is the live state of one configured upstream: its endpoints and
// the policies that guard all of them together.
type cluster struct {
	name     string
	cfg      *config.Upstream
	up       *upstream.Upstream
	rt       http.RoundTripper
	h1       *h1Transport // nil for h2c upstreams
	dialer   *net.Dialer  // for upgrades
	breaker  *breaker.Breaker
	bulkhead *bulkhead.Bulkhead
	adaptive *adaptive.Limiter
	budget   *retry.Budget // shared by routes that set no budget of their own
}

// defaultBudget is every upstream's retry budget unless its config says
// otherwise: retries may add 20% to the load, plus 10 a second.
var defaultBudget = retry.BudgetConfig{Ratio: 0.2, MinPerSecond: 10}

func newCluster(name string, c *config.Upstream, l holdfast.Listener) (*cluster, error) {
	uc := c.Config
	uc.Name = name
	uc.Listener = l
	cl := &cluster{name: name, cfg: c}
	connect := uc.ConnectTimeout
	if connect == 0 {
		connect = time.Second
	}
	cl.dialer = &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	if uc.Protocol != upstream.ProtocolH2C {
		maxIdle := uc.MaxIdlePerEndpoint
		if maxIdle == 0 {
			maxIdle = 64
		}
		idle := uc.IdleTimeout
		if idle == 0 {
			idle = 90 * time.Second
		}
		cl.h1 = newH1Transport(connect, maxIdle, idle)
		uc.Transport = cl.h1
	}
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
	bcfg := defaultBudget
	if c.RetryBudget != nil {
		bcfg = *c.RetryBudget
	}
	if cl.budget, err = retry.NewBudget(bcfg); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// Close stops health checks and closes idle connections; it is idempotent.
func (c *cluster) Close() {
	if c.up != nil {
		c.up.Close()
	}
	if c.h1 != nil {
		c.h1.Close()
	}
}

// errUpstreamStatus marks an attempt that got an answer the breaker and
// retry count as a failure (a 5xx).
var errUpstreamStatus = errors.New("proxy: upstream answered with a server error")

// admit takes the upstream's breaker permit and concurrency slot for one
// attempt. The returned release must be called with the attempt's error
// (nil for success) once it is over.
func (c *cluster) admit(ctx context.Context) (release func(err error, took time.Duration), reason string, err error) {
	var permit breaker.Permit
	hasPermit := false
	if c.breaker != nil {
		p, err := c.breaker.Allow()
		if err != nil {
			return nil, ReasonBreakerOpen, err
		}
		permit, hasPermit = p, true
	}
	var token adaptive.Token
	hasToken, hasSlot := false, false
	switch {
	case c.adaptive != nil:
		t, err := c.adaptive.Acquire()
		if err != nil {
			if hasPermit {
				permit.Release()
			}
			return nil, ReasonOverloaded, err
		}
		token, hasToken = t, true
	case c.bulkhead != nil:
		if err := c.bulkhead.Acquire(ctx); err != nil {
			if hasPermit {
				permit.Release()
			}
			if ctx.Err() != nil {
				return nil, ReasonTimeout, ctx.Err()
			}
			return nil, ReasonOverloaded, err
		}
		hasSlot = true
	}
	if !hasPermit && !hasToken && !hasSlot {
		return noRelease, "", nil
	}
	return func(err error, took time.Duration) {
		if hasPermit {
			permit.Done(err) // a cancelled call is not recorded, as with Release
		}
		if hasToken {
			token.Finish(err)
		}
		if hasSlot {
			c.bulkhead.Release()
		}
	}, "", nil
}

func noRelease(error, time.Duration) {}
