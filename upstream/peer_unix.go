//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package upstream

import "syscall"

// peerClosed reports whether the peer of the socket rc has closed its end,
// or sent bytes nobody asked for, by peeking at it without blocking. A
// pooled connection that received anything while idle must not carry a
// request: those bytes answer none of ours. A nil rc (a connection it cannot
// look into) is taken to be open and quiet.
func peerClosed(rc syscall.RawConn) bool {
	if rc == nil {
		return false
	}
	closed := false
	var buf [1]byte
	// Control, not Read: the peek never blocks, so it needs neither the
	// poller's read lock nor its readiness.
	err := rc.Control(func(fd uintptr) {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK || err == syscall.EINTR:
			// Nothing to read: open and quiet, as an idle connection is.
		case err != nil, n >= 0:
			// A reset, end of file (n == 0), or stray bytes.
			closed = true
		}
	})
	return closed || err != nil
}
