package toxic

import (
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
)

// conn is one client connection through a TCP proxy: the client side, the
// upstream side (nil when a blackhole swallowed it) and a link per
// direction.
type conn struct {
	p        *proxy
	client   net.Conn
	upstream net.Conn
	links    []*link

	done   chan struct{} // closed by teardown
	once   sync.Once
	active atomic.Int32 // goroutines still carrying data; the last one tears down

	// rollMu guards rolls: each toxic's toxicity is rolled once per
	// connection, shared by both directions.
	rollMu sync.Mutex
	rolls  map[*entry]bool
}

func newConn(p *proxy, client net.Conn) *conn {
	return &conn{p: p, client: client, done: make(chan struct{}), rolls: map[*entry]bool{}}
}

// rolled reports whether e applies to this connection, rolling its toxicity
// the first time e is seen; a first roll that hits counts e as applied.
func (c *conn) rolled(e *entry) bool {
	c.rollMu.Lock()
	hit, ok := c.rolls[e]
	if !ok {
		hit = roll(e.toxicity)
		c.rolls[e] = hit
	}
	c.rollMu.Unlock()
	if hit && !ok {
		e.countApplied()
	}
	return hit
}

// prune forgets the rolls of toxics that are no longer installed.
func (c *conn) prune(set *toxicSet) {
	c.rollMu.Lock()
	defer c.rollMu.Unlock()
	for e := range c.rolls {
		if !set.has(e) {
			delete(c.rolls, e)
		}
	}
}

// roll returns true with probability p.
func roll(p float64) bool {
	return p >= 1 || (p > 0 && rand.Float64() < p)
}

// linkDone is called as each data-carrying goroutine ends; the last one
// closes the connection.
func (c *conn) linkDone() {
	if c.active.Add(-1) == 0 {
		c.teardown(false)
	}
}

// teardown closes both sides, with a TCP reset when rst is set, and stops
// everything working for the connection. It is idempotent and must not be
// called with p.mu held.
func (c *conn) teardown(rst bool) {
	c.once.Do(func() {
		if rst {
			setLinger0(c.client)
			setLinger0(c.upstream)
		}
		_ = c.client.Close()
		if c.upstream != nil {
			_ = c.upstream.Close()
		}
		close(c.done)
		c.p.forget(c)
	})
}

// setLinger0 makes Close send a TCP reset instead of a FIN.
func setLinger0(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
}

// swallow reads and drops everything the client sends until it gives up:
// the blackhole for a new connection. What it reads counts as received
// upstream, as it is read: a blackholed connection can last for hours.
func (c *conn) swallow() {
	defer c.linkDone()
	pc := c.p.pc
	_, _ = io.Copy(io.Discard, &countingConn{Conn: c.client, in: pc.received[upstream], out: pc.sent[downstream]})
}
