//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package upstream

import (
	"net"
	"syscall"
)

// peerClosed reports whether the peer of c has closed its end, or sent
// bytes nobody asked for, by peeking at the socket without blocking. A
// pooled connection the upstream closed while it sat idle (its keep-alive
// timeout passed) looks fine until a request is written to it and lost;
// for a request that may not be sent twice, that loss is a failed request.
// Connections it cannot look into are taken to be open.
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK || err == syscall.EINTR:
			// Nothing to read: open and quiet, as an idle connection is.
		case err != nil, n >= 0:
			// A reset, end of file (n == 0), or stray bytes.
			closed = true
		}
		return true
	})
	return closed || err != nil
}
