//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package upstream

import "syscall"

// peeker looks into one socket, to tell whether its peer closed its end or
// sent bytes nobody asked for. It is made once per connection, so that a
// look allocates nothing: the callback and the byte it peeks into live in
// it, where a closure would escape on every call.
type peeker struct {
	rc     syscall.RawConn
	fn     func(fd uintptr)
	buf    [1]byte
	closed bool
}

// newPeeker returns a peeker of rc, or nil when there is no socket to look
// into (rc is nil).
func newPeeker(rc syscall.RawConn) *peeker {
	if rc == nil {
		return nil
	}
	p := &peeker{rc: rc}
	p.fn = p.peek
	return p
}

func (p *peeker) peek(fd uintptr) {
	n, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	switch {
	case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK || err == syscall.EINTR:
		// Nothing to read: open and quiet, as an idle connection is.
	case err != nil, n >= 0:
		// A reset, end of file (n == 0), or stray bytes.
		p.closed = true
	}
}

// peerClosed reports whether the peer of p's socket has closed its end, or
// sent bytes nobody asked for, by peeking at it without blocking. A pooled
// connection that received anything while idle must not carry a request:
// those bytes answer none of ours. A nil p (a connection it cannot look
// into) is taken to be open and quiet. It must not be called from two
// goroutines at once; a pooled connection has one owner.
func peerClosed(p *peeker) bool {
	if p == nil {
		return false
	}
	p.closed = false
	// Control, not Read: the peek never blocks, so it needs neither the
	// poller's read lock nor its readiness.
	err := p.rc.Control(p.fn)
	return p.closed || err != nil
}
