//go:build !linux

package toxic

import "net"

// rawCopy is the Linux fast path's state; elsewhere there is none, and
// [link.direct] copies with a plain read and write loop.
type rawCopy struct{}

func newRawCopy(*link, net.Conn, net.Conn) *rawCopy { return nil }

func (l *link) copyRaw() (more, ok bool) { return false, false }
