package proxy

import (
	"errors"
	"syscall"
	"time"
)

// A connection's side of parking (the parker is h1park_linux.go's).
//
// A parked connection is connParked, with no goroutine and no read
// buffer; whoever takes it out of that state holds stateMu and unparks it
// first: the parker when the client sends (a goroutine serves it again),
// its idle timer when the idle timeout passes, and the server when it
// shuts down or closes (both close it and untrack it, as no goroutine of
// its own will).

// errParked tells the serving goroutine to end: the parker has the
// connection.
var errParked = errors.New("parked")

// park hands the idle connection, its read buffer given back and its read
// deadline set to deadline, to the parker, and reports whether it did.
func (c *h1Conn) park(deadline time.Time) bool {
	p := theParker()
	if p == nil {
		return false
	}
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	c.stateMu.Lock()
	if c.state.Load() != connIdle {
		c.stateMu.Unlock()
		return false // closing: the read that follows fails
	}
	var id uint64
	parked := false
	// Inside Control the socket cannot be closed; after it, only those
	// who hold stateMu close a parked connection, and they unregister it
	// first.
	err = rc.Control(func(fd uintptr) {
		id, parked = p.park(c, int(fd))
		c.parkFD = int(fd)
	})
	if err != nil || !parked {
		c.stateMu.Unlock()
		return false
	}
	c.state.Store(connParked)
	c.parkedIn, c.parkID = p, id
	if !deadline.IsZero() {
		c.parkTimer = time.AfterFunc(time.Until(deadline), func() { c.expire(id) })
	}
	c.stateMu.Unlock()
	if h := c.srv.hooks; h != nil && h.parked != nil {
		h.parked()
	}
	return true
}

// unparkLocked takes the connection back from the parker; the caller
// holds stateMu and sets the state next.
func (c *h1Conn) unparkLocked() {
	c.parkedIn.unregister(c.parkID, c.parkFD)
	if c.parkTimer != nil {
		c.parkTimer.Stop()
		c.parkTimer = nil
	}
	c.parkedIn, c.parkID, c.parkFD = nil, 0, 0
}

// unpark serves the connection parked as id again: its client sent, or
// left. It is the parker's.
func (c *h1Conn) unpark(id uint64) {
	c.stateMu.Lock()
	if c.state.Load() != connParked || c.parkID != id {
		c.stateMu.Unlock()
		return // closed meanwhile
	}
	c.unparkLocked()
	c.state.Store(connIdle)
	c.stateMu.Unlock()
	go c.resume()
}

// expire closes the connection parked as id, idle for the idle timeout.
func (c *h1Conn) expire(id uint64) {
	c.stateMu.Lock()
	if c.state.Load() != connParked || c.parkID != id {
		c.stateMu.Unlock()
		return // woken or closed meanwhile
	}
	c.unparkLocked()
	c.state.Store(connClosed)
	c.stateMu.Unlock()
	c.srv.untrack(c)
	c.nc.Close()
}
