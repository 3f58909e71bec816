package upstream

import (
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// checker runs the active health checks of one upstream: a round of checks
// of every endpoint at once, then a wait of the interval plus jitter, until
// stopped. Its goroutine, and the goroutines of each round, are owned by the
// Upstream, whose Close stops them.
type checker struct {
	u      *Upstream
	cfg    HealthCheckConfig
	client *http.Client
	ctx    context.Context // canceled by stop; aborts checks under way
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns

	// passes and fails count each endpoint's results in a row. Entry i is
	// touched only by the goroutine checking endpoint i in the current
	// round, and rounds do not overlap.
	passes, fails []int
}

func newChecker(u *Upstream, cfg HealthCheckConfig) *checker {
	ctx, cancel := context.WithCancel(context.Background())
	return &checker{
		u:   u,
		cfg: cfg,
		client: &http.Client{
			Transport: u.transport,
			// A redirect is an answer; checks judge its status.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
		passes: make([]int, len(u.eps)),
		fails:  make([]int, len(u.eps)),
	}
}

// run checks every endpoint right away, then once per interval plus jitter.
func (c *checker) run() {
	defer close(c.done)
	for {
		c.round()
		wait := c.cfg.Interval
		if c.cfg.Jitter > 0 {
			wait += time.Duration(below(c.u.rnd(), int(c.cfg.Jitter)+1))
		}
		t := time.NewTimer(wait)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// stop ends run and waits for it. It is called once, by Upstream.Close.
func (c *checker) stop() {
	c.cancel()
	<-c.done
}

// round checks all endpoints concurrently, so that one hanging endpoint
// delays no other's check, and returns when all are done.
func (c *checker) round() {
	var wg sync.WaitGroup
	for i, e := range c.u.eps {
		wg.Go(func() {
			err := c.check(e)
			if c.ctx.Err() != nil {
				return // stopped: the result says nothing about the endpoint
			}
			c.result(i, e, err)
		})
	}
	wg.Wait()
}

// check makes one health check request to e and returns why it failed, or
// nil.
func (c *checker) check(e *Endpoint) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.addr.String()+c.cfg.Path, nil)
	if err != nil {
		return &HealthCheckError{Endpoint: e.String(), Err: err}
	}
	if c.cfg.Host != "" {
		req.Host = c.cfg.Host
	}
	req.Header.Set("User-Agent", "holdfast-health-check")
	resp, err := c.client.Do(req)
	if err != nil {
		return &HealthCheckError{Endpoint: e.String(), Err: err}
	}
	// Read a little of the body so the connection can be reused, but never
	// let a huge or endless body hold the check.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if !c.expected(resp.StatusCode) {
		return &HealthCheckError{Endpoint: e.String(), Status: resp.StatusCode, Err: ErrHealthCheckStatus}
	}
	return nil
}

// expected reports whether a check answered with code passes.
func (c *checker) expected(code int) bool {
	if len(c.cfg.ExpectedStatuses) == 0 {
		return code >= 200 && code < 400
	}
	return slices.Contains(c.cfg.ExpectedStatuses, code)
}

// result records the outcome of one check of endpoint i and flips its health
// when a threshold is reached.
func (c *checker) result(i int, e *Endpoint, err error) {
	if err == nil {
		c.passes[i]++
		c.fails[i] = 0
	} else {
		c.fails[i]++
		c.passes[i] = 0
	}
	u := c.u
	var changes []Change
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return
	}
	e.checkErr = err
	e.checkedAt = time.Now()
	switch healthy := e.healthy.Load(); {
	case healthy && c.fails[i] >= c.cfg.UnhealthyThreshold:
		e.healthy.Store(false)
		changes = u.publishLocked([]Change{{Kind: EndpointUnhealthy, Endpoint: e, Reason: ReasonHealthCheck, Err: err}})
	case !healthy && c.passes[i] >= c.cfg.HealthyThreshold:
		e.healthy.Store(true)
		changes = u.publishLocked([]Change{{Kind: EndpointHealthy, Endpoint: e, Reason: ReasonHealthCheck}})
	}
	u.mu.Unlock()
	u.emit(changes...)
}
