package toxic

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawCopy is a link's Linux fast path between two TCP sockets: the plain
// copy loop of [link.direct] (read until EAGAIN, write, wait for the socket
// to be readable), with two changes.
//
// The reads and writes are raw system calls. [net.Conn]'s go through
// syscall.Syscall, whose entersyscall wakes the runtime's sysmon thread
// whenever it has gone to deep sleep, which it does each time the process
// is briefly idle; woken by a system call, it then polls every 20 µs for a
// millisecond. A proxy under request-and-response load goes idle and busy
// all the time, and that wake-up and polling took about a tenth of
// holdfast chaos's CPU in a profile (the futex wake in entersyscall and
// sysmon's nanosleeps). The sockets are non-blocking, so these calls never
// block: a read or write that cannot go on returns EAGAIN, and the pump
// waits for the socket through Go's poller as net.Conn does.
//
// The read buffer comes from bufPool when the socket is readable and goes
// back before the pump waits, so an idle connection holds no buffer.
//
// A rawCopy belongs to its link's pump and is not safe for concurrent use.
type rawCopy struct {
	l        *link
	src, dst syscall.RawConn
	// readFn and writeFn are the callbacks handed to src.Read and
	// dst.Write, made once so that passing them allocates nothing.
	readFn, writeFn func(fd uintptr) bool

	buf  *[bufSize]byte // nil while the pump waits
	n    int            // bytes readFn read into buf
	rerr error          // readFn's error; io.EOF at the end of the stream

	wb   []byte // what writeFn writes
	wn   int    // how much of wb it wrote
	werr error
}

// newRawCopy returns the fast path for a link from src to dst, or nil
// unless both are TCP connections (whose sockets net makes non-blocking).
func newRawCopy(l *link, src, dst net.Conn) *rawCopy {
	sc, ok1 := src.(*net.TCPConn)
	dc, ok2 := dst.(*net.TCPConn)
	if !ok1 || !ok2 {
		return nil
	}
	s, err1 := sc.SyscallConn()
	d, err2 := dc.SyscallConn()
	if err1 != nil || err2 != nil {
		return nil
	}
	r := &rawCopy{l: l, src: s, dst: d}
	r.readFn, r.writeFn = r.read, r.write
	return r
}

// copyRaw copies src to dst as [link.direct] does, if the link has a fast
// path (ok).
func (l *link) copyRaw() (more, ok bool) {
	if l.raw == nil {
		return false, false
	}
	return l.raw.run(), true
}

// run copies until the stream ends (false) or a change of toxics is pending
// (true), and handles the ends as [link.direct] does.
func (r *rawCopy) run() bool {
	l := r.l
	defer r.putBuf()
	for {
		r.n, r.rerr = 0, nil
		err := r.src.Read(r.readFn) // the poller's errors: deadline, closed
		if err == nil {
			err = r.rerr
		}
		if r.n > 0 {
			l.received.Add(float64(r.n))
			if werr := r.writeAll(r.buf[:r.n]); werr != nil {
				l.c.teardown(false)
				return false
			}
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if l.poked() {
					return true
				}
				continue
			}
			l.finish(err)
			return false
		}
	}
}

// read is src.Read's callback: one read, or false to wait for src to be
// readable.
func (r *rawCopy) read(fd uintptr) bool {
	if r.buf == nil {
		r.buf = bufPool.Get().(*[bufSize]byte)
	}
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&r.buf[0])), bufSize)
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			r.putBuf()
			return false
		case e != 0:
			r.rerr = e
		case n == 0:
			r.rerr = io.EOF
		default:
			r.n = int(n)
		}
		return true
	}
}

// writeAll writes b to dst and counts what was written: without waiting
// if dst takes it all at once, which is the common case, and otherwise
// the rest through dst's net.Conn, which waits for it.
func (r *rawCopy) writeAll(b []byte) error {
	r.wb, r.wn, r.werr = b, 0, nil
	err := r.dst.Write(r.writeFn)
	if r.wn > 0 {
		r.l.sent.Add(float64(r.wn))
	}
	if err == nil {
		err = r.werr
	}
	if err != nil || r.wn == len(b) {
		return err
	}
	return r.l.write(b[r.wn:])
}

// write is dst.Write's callback: it writes r.wb as far as dst takes it now.
func (r *rawCopy) write(fd uintptr) bool {
	for r.wn < len(r.wb) {
		b := r.wb[r.wn:]
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return true
		case e != 0:
			r.werr = e
			return true
		case n == 0:
			r.werr = io.ErrShortWrite
			return true
		}
		r.wn += int(n)
	}
	return true
}

func (r *rawCopy) putBuf() {
	if r.buf != nil {
		bufPool.Put(r.buf)
		r.buf = nil
	}
}
