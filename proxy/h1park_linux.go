//go:build linux

package proxy

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Parking idle keep-alive connections without a goroutine each.
//
// A connection waiting for its next request costs the process little
// besides the goroutine blocked in its read: with the read buffer given
// back (awaitRequest), that goroutine's stack, 4 KiB or more, is most of
// what an idle connection holds. So once a connection has been idle for
// the server's grace, its goroutine registers the socket in one epoll set
// of the proxy's own and ends; when the client sends (or closes), the
// parker starts a goroutine for it again. The epoll set is itself waited
// on through Go's poller, so no thread blocks in epoll_wait. The idle
// timeout of a parked connection is a timer of its own, as no read is
// pending for the socket's deadline to end.
//
// This is what HAProxy and nginx do for every connection; here it is
// done only for idle ones, as a busy connection is served best by a
// goroutine of its own. Connections that are not sockets (TLS, net.Pipe,
// a wrapped listener's) are not parked, and keep their goroutine.

// parker holds the parked connections. Its methods are safe for
// concurrent use.
type parker struct {
	ep   int
	file *os.File // ep, in Go's poller
	dead atomic.Bool

	mu    sync.Mutex
	next  uint64
	conns map[uint64]*h1Conn // by park id, unique for the process's life
}

var (
	parkOnce sync.Once
	parkers  *parker // nil when epoll cannot be had
)

// theParker returns the process's parker, starting it on first use; nil
// means connections are not parked.
func theParker() *parker {
	parkOnce.Do(func() { parkers = newParker() })
	if parkers == nil || parkers.dead.Load() {
		return nil
	}
	return parkers
}

func newParker() *parker {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	if err := syscall.SetNonblock(ep, true); err != nil {
		syscall.Close(ep)
		return nil
	}
	f := os.NewFile(uintptr(ep), "holdfast-idle-connections")
	// A file Go's poller does not take has no deadlines: then waiting on
	// it would block a thread, and parking is not worth that.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil
	}
	p := &parker{ep: ep, file: f, conns: make(map[uint64]*h1Conn)}
	go p.run(rc)
	return p
}

// run wakes parked connections as their sockets turn readable (or hung
// up), until waiting fails (not expected: the epoll set is the process's
// own, never closed), when it wakes all of them and parks no more.
func (p *parker) run(rc syscall.RawConn) {
	events := make([]syscall.EpollEvent, 128)
	rc.Read(func(fd uintptr) bool {
		for {
			n, err := syscall.EpollWait(int(fd), events, 0)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			if err != nil {
				return true
			}
			for i := range events[:n] {
				p.wake(uint64(uint32(events[i].Fd)) | uint64(uint32(events[i].Pad))<<32)
			}
			if n < len(events) {
				return false // Go's poller waits for the set to turn readable
			}
		}
	})
	// The connections parked go back to goroutines, which wait in their
	// reads as if parking did not exist.
	p.dead.Store(true)
	p.mu.Lock()
	ids := make([]uint64, 0, len(p.conns))
	for id := range p.conns {
		ids = append(ids, id)
	}
	p.mu.Unlock()
	for _, id := range ids {
		p.wake(id)
	}
}

// wake hands the connection parked as id back to a goroutine.
func (p *parker) wake(id uint64) {
	p.mu.Lock()
	c := p.conns[id]
	delete(p.conns, id)
	p.mu.Unlock()
	if c != nil {
		c.unpark(id)
	}
}

// park registers c, whose stateMu the caller holds, to be woken when its
// socket fd turns readable, and returns its park id; ok is false if it
// could not be.
func (p *parker) park(c *h1Conn, fd int) (id uint64, ok bool) {
	p.mu.Lock()
	p.next++
	id = p.next
	p.conns[id] = c
	p.mu.Unlock()
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(id)),
		Pad:    int32(uint32(id >> 32)),
	}
	if err := syscall.EpollCtl(p.ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.forget(id)
		return 0, false
	}
	return id, true
}

// unregister takes fd out of the epoll set, and id out of the parked.
func (p *parker) unregister(id uint64, fd int) {
	p.forget(id)
	syscall.EpollCtl(p.ep, syscall.EPOLL_CTL_DEL, fd, nil)
}

func (p *parker) forget(id uint64) {
	p.mu.Lock()
	delete(p.conns, id)
	p.mu.Unlock()
}
