package globalrate

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults for the zero values of [ClientConfig].
const (
	DefaultTimeout    = 5 * time.Millisecond
	DefaultBackoff    = 100 * time.Millisecond
	DefaultMaxBackoff = 2 * time.Second

	// MaxTimeout is the longest Timeout accepted: a rate-limit decision
	// that may hold a request longer is not worth its round trip.
	MaxTimeout = time.Second

	// dialTimeout bounds one connection attempt. Dials run in go-redis's
	// own goroutines, never on a request's time (which Timeout bounds), so
	// this only bounds how long a dial to a black hole occupies one.
	dialTimeout = time.Second
	// maxDials bounds the dials in progress at once, so that a Redis that
	// comes back is not met by a dial from every waiting request.
	maxDials = 4
)

// ClientConfig configures a [Client]: the one Redis a process's global
// rate limits share. Address has no default; every other zero value stands
// for the default named on its field.
type ClientConfig struct {
	// Address is the Redis server's host:port. Required.
	Address string
	// Password authenticates to Redis (AUTH). Default none.
	Password string
	// Timeout bounds each decision's round trip; past it the decision is
	// made as the limiter's OnError says. Default 5ms; at most 1s.
	Timeout time.Duration
	// Backoff is how long Redis is left alone after a failed call: every
	// decision meanwhile is made as OnError says, without a round trip,
	// and then one call probes Redis while the others still fall back. Each
	// failure in a row doubles it, up to MaxBackoff; each wait is drawn in
	// [d/2, d) so that proxies do not probe in step. Default 100ms.
	Backoff time.Duration
	// MaxBackoff caps Backoff's doubling. Default 2s.
	MaxBackoff time.Duration
	// Logger receives a warning when Redis fails and the limiters fall
	// back, and a record when it answers again. Default nil: silent.
	Logger *slog.Logger
}

// Client is a connection pool to one Redis server and the short circuit in
// front of it: after a failed call, Redis is skipped for a backoff
// interval, then one call probes it, so that a Redis that is down costs no
// round trip per request and a Redis that comes back is not met by a
// storm. It is safe for concurrent use and shared by every [Limiter] of a
// process. The zero value is not usable: make one with [NewClient] and
// [Client.Close] it when done.
type Client struct {
	rdb        *redis.Client
	timeout    time.Duration
	backoff    time.Duration
	maxBackoff time.Duration
	logger     *slog.Logger
	epoch      time.Time

	degraded atomic.Bool  // the last call failed and no call has succeeded since
	retryAt  atomic.Int64 // while degraded, when (ns since epoch) the next probe may go
	probing  atomic.Bool  // while degraded, a probe is in flight
	errs     atomic.Uint64

	// mu guards failures and serialises the transitions of degraded.
	mu       sync.Mutex
	failures int // failed calls in a row
}

// quietRedis silences go-redis's own logger, which is process-wide and
// writes to standard error: a Client logs what matters (Redis failing and
// answering again, with the error) to its Logger, once per change, where
// go-redis would log every failed dial.
var quietRedis sync.Once

type discardLogger struct{}

func (discardLogger) Printf(context.Context, string, ...any) {}

// NewClient returns a Client for c. It does not connect: the first
// decision does, within its Timeout.
func NewClient(c ClientConfig) (*Client, error) {
	switch {
	case c.Address == "":
		return nil, errors.New("globalrate: redis address is required")
	case c.Timeout < 0 || c.Timeout > MaxTimeout:
		return nil, errors.New("globalrate: redis timeout must be in (0, 1s]")
	case c.Backoff < 0 || c.MaxBackoff < 0:
		return nil, errors.New("globalrate: redis backoff must not be negative")
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Backoff == 0 {
		c.Backoff = DefaultBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = max(DefaultMaxBackoff, c.Backoff)
	}
	quietRedis.Do(func() { redis.SetLogger(discardLogger{}) })
	rdb := redis.NewClient(&redis.Options{
		Addr:     c.Address,
		Password: c.Password,
		// RESP2 and no CLIENT SETINFO: a new connection is ready after the
		// TCP handshake (and AUTH when there is a password), not after
		// HELLO and two SETINFO round trips.
		Protocol:        2,
		DisableIdentity: true,
		// One round trip per decision: a failed one is not retried, the
		// short circuit takes over.
		MaxRetries:            -1,
		ContextTimeoutEnabled: true,
		ReadTimeout:           c.Timeout,
		WriteTimeout:          c.Timeout,
		PoolTimeout:           c.Timeout,
		DialTimeout:           dialTimeout,
		DialerRetries:         1,
		MaxConcurrentDials:    maxDials,
	})
	return &Client{
		rdb:        rdb,
		timeout:    c.Timeout,
		backoff:    c.Backoff,
		maxBackoff: c.MaxBackoff,
		logger:     c.Logger,
		epoch:      time.Now(),
	}, nil
}

// Close closes the connection pool. Decisions after it fail over to their
// limiters' OnError. It is idempotent.
func (c *Client) Close() error {
	err := c.rdb.Close()
	if errors.Is(err, redis.ErrClosed) {
		return nil
	}
	return err
}

// Redis returns the connection pool, for the other users of the same
// Redis (the fleet's shared breakers), which bound their own calls.
func (c *Client) Redis() *redis.Client { return c.rdb }

// Timeout returns the bound on each decision's round trip.
func (c *Client) Timeout() time.Duration { return c.timeout }

// Degraded reports whether the last call to Redis failed and none has
// succeeded since: decisions are then made by their limiters' OnError.
func (c *Client) Degraded() bool { return c.degraded.Load() }

// Errors returns how many calls to Redis have failed.
func (c *Client) Errors() uint64 { return c.errs.Load() }

func (c *Client) at(t time.Time) int64 { return int64(t.Sub(c.epoch)) }

// admit reports whether a call may go to Redis at now: always while Redis
// is sound; while degraded, only one probe at a time once the backoff is
// over.
func (c *Client) admit(now time.Time) bool {
	if !c.degraded.Load() {
		return true
	}
	if c.at(now) < c.retryAt.Load() {
		return false
	}
	return c.probing.CompareAndSwap(false, true)
}

// retryIn returns how long until Redis is probed again, or 0 when it is
// not degraded or a probe may go now.
func (c *Client) retryIn(now time.Time) time.Duration {
	if !c.degraded.Load() {
		return 0
	}
	return time.Duration(max(0, c.retryAt.Load()-c.at(now)))
}

// failed records a failed call at now: Redis is skipped for the next
// backoff interval.
func (c *Client) failed(now time.Time, err error) {
	c.errs.Add(1)
	c.mu.Lock()
	c.failures++
	d := c.backoff
	for i := 1; i < c.failures && d < c.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.maxBackoff)
	d = d/2 + rand.N(d/2+1)
	c.retryAt.Store(c.at(now) + int64(d))
	first := !c.degraded.Swap(true)
	c.probing.Store(false)
	c.mu.Unlock()
	if first && c.logger != nil {
		c.logger.Warn("redis unavailable; global rate limits fall back to on_error", "error", err, "retry_in", d.String())
	}
}

// succeeded records a call that Redis answered: global limiting resumes.
func (c *Client) succeeded() {
	if !c.degraded.Load() {
		return
	}
	c.mu.Lock()
	c.failures = 0
	was := c.degraded.Swap(false)
	c.probing.Store(false)
	c.mu.Unlock()
	if was && c.logger != nil {
		c.logger.Info("redis answers again; global rate limits resume")
	}
}
