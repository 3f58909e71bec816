package toxic

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// bufSize is the read size of a link, as io.Copy uses.
const bufSize = 32 << 10

// bufPool holds the links' read buffers (*[bufSize]byte). A link takes one
// while it moves data and puts it back when it stops; on Linux, where the
// fast path waits for data without a buffer ([rawCopy]), an idle
// connection holds none.
var bufPool = sync.Pool{New: func() any { return new([bufSize]byte) }}

// aLongTimeAgo is a deadline in the past, used to wake a blocked Read.
var aLongTimeAgo = time.Unix(1, 0)

// link carries one direction of one connection. A single goroutine, the
// pump, owns it. With no toxics in its direction the pump copies src to dst
// itself (the fast path: one goroutine, no channels). With toxics it reads
// into a [pipeline] that runs them.
//
// When the proxy's toxics change, poke wakes the pump (a read deadline in
// the past, or a signal when it is blocked feeding the chain); the pump
// stops its chain, keeps the data inside it, and starts the new one, so
// toxics apply to open connections too, as in Toxiproxy.
type link struct {
	c        *conn
	dir      direction
	src, dst net.Conn
	pokeCh   chan struct{} // capacity 1

	// received and sent are the proxy's byte counters of dir, resolved
	// once so that counting a read or a write is one atomic add.
	received, sent prometheus.Counter

	// mu guards pokePending, waiters and retired, and orders them with the
	// read deadline on src.
	mu          sync.Mutex
	pokePending bool
	waiters     []chan struct{} // closed once the pump has applied the change
	retired     bool            // the pump no longer changes chains

	end    atomic.Uint32 // the strongest end a toxic gave this stream
	states map[string]*any

	// raw is the fast path's state on Linux between two sockets; nil where
	// there is none.
	raw *rawCopy
}

func newLink(c *conn, dir direction, src, dst net.Conn) *link {
	l := &link{
		c: c, dir: dir, src: src, dst: dst,
		received: c.p.pc.received[dir], sent: c.p.pc.sent[dir],
		pokeCh: make(chan struct{}, 1), states: map[string]*any{},
	}
	l.raw = newRawCopy(l, src, dst)
	return l
}

// poke asks the pump to apply the proxy's current toxics; done is closed
// when it has (or when the link no longer carries data).
func (l *link) poke(done chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.retired {
		close(done)
		return
	}
	l.waiters = append(l.waiters, done)
	l.pokePending = true
	_ = l.src.SetReadDeadline(aLongTimeAgo)
	select {
	case l.pokeCh <- struct{}{}:
	default:
	}
}

// poked reports whether a change is pending after a read timed out; if none
// is, the deadline was stale and is cleared.
func (l *link) poked() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.pokePending {
		_ = l.src.SetReadDeadline(time.Time{})
	}
	return l.pokePending
}

// takePoke clears a pending change and returns who waits for it.
func (l *link) takePoke() []chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pokePending = false
	_ = l.src.SetReadDeadline(time.Time{})
	select {
	case <-l.pokeCh:
	default:
	}
	w := l.waiters
	l.waiters = nil
	return w
}

// retire marks the link as done changing chains and releases any waiter.
func (l *link) retire() {
	l.mu.Lock()
	l.retired = true
	w := l.waiters
	l.waiters = nil
	l.mu.Unlock()
	release(w)
}

func release(w []chan struct{}) {
	for _, ch := range w {
		close(ch)
	}
}

func (l *link) setEnd(e end) {
	for {
		old := l.end.Load()
		if uint32(e) <= old || l.end.CompareAndSwap(old, uint32(e)) {
			return
		}
	}
}

// stagesFor picks the toxics of set that run on this link: those of its
// direction whose toxicity roll for this connection hit.
func (l *link) stagesFor(set *toxicSet) []stageSpec {
	var specs []stageSpec
	live := make(map[string]bool, len(set.dirs[l.dir]))
	for _, e := range set.dirs[l.dir] {
		live[e.name] = true
		if !l.c.rolled(e) {
			continue
		}
		st := l.states[e.name]
		if st == nil {
			st = new(any)
			l.states[e.name] = st
		}
		specs = append(specs, stageSpec{toxic: e.tcp, state: st})
	}
	for name := range l.states {
		if !live[name] {
			delete(l.states, name) // a removed toxic forgets its state, as in Toxiproxy
		}
	}
	return specs
}

// run is the pump.
func (l *link) run() {
	defer l.c.linkDone()
	defer l.retire()
	set := l.c.p.snap.Load()
	var pending []Chunk
	var waiters []chan struct{}
	for {
		specs := l.stagesFor(set)
		if len(specs) == 0 {
			for _, c := range pending {
				if err := l.write(c.Data); err != nil {
					l.c.teardown(false)
					release(waiters)
					return
				}
			}
			pending = nil
			release(waiters)
			if !l.direct() {
				return
			}
		} else {
			pl := l.startPipeline(specs, pending)
			release(waiters)
			var more bool
			pending, more = l.feed(pl)
			if !more {
				return
			}
			if end(l.end.Load()) >= endClose {
				// A toxic ended the stream while the chain was being
				// replaced; finish what it started.
				l.c.teardown(end(l.end.Load()) == endReset)
				return
			}
		}
		waiters = l.takePoke()
		set = l.c.p.snap.Load()
		l.c.prune(set)
	}
}

// direct copies src to dst until the stream ends (false) or a change of
// toxics is pending (true): on Linux between two TCP connections with
// [rawCopy], otherwise with a plain read and write loop.
func (l *link) direct() bool {
	if more, ok := l.copyRaw(); ok {
		return more
	}
	b := bufPool.Get().(*[bufSize]byte)
	defer bufPool.Put(b)
	buf := b[:]
	for {
		n, err := l.src.Read(buf)
		if n > 0 {
			l.received.Add(float64(n))
			if werr := l.write(buf[:n]); werr != nil {
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

// feed reads src into the chain until the stream ends (false) or a change
// of toxics is pending (true, with the chain's data, oldest first).
func (l *link) feed(pl *pipeline) ([]Chunk, bool) {
	b := bufPool.Get().(*[bufSize]byte)
	defer bufPool.Put(b) // every chunk is a copy
	buf := b[:]
	for {
		n, err := l.src.Read(buf)
		if n > 0 {
			l.received.Add(float64(n))
			c := Chunk{Data: append([]byte(nil), buf[:n]...), Time: time.Now()}
			select {
			case pl.in <- c:
			case <-l.pokeCh:
				// Put the token back for takePoke; the chain is full, so
				// apply the change now.
				select {
				case l.pokeCh <- struct{}{}:
				default:
				}
				return append(pl.halt(), c), true
			case <-pl.writerDone:
				pl.shutdown()
				return nil, false
			case <-l.c.done:
				pl.shutdown()
				return nil, false
			}
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if l.poked() {
					return pl.halt(), true
				}
				continue
			}
			if err == io.EOF {
				// Let the end travel down the chain, after the data.
				l.retire()
				close(pl.in)
				select {
				case <-pl.writerDone:
				case <-l.c.done:
				}
				pl.shutdown()
				return nil, false
			}
			l.finish(err)
			pl.shutdown()
			return nil, false
		}
	}
}

// write writes b to dst and counts what was written, all of it or, on
// an error, the part that was.
func (l *link) write(b []byte) error {
	n, err := l.dst.Write(b)
	if n > 0 {
		l.sent.Add(float64(n))
	}
	return err
}

// finish ends the link after src failed or ended: a clean end is passed on
// as a half-close, a reset as a reset, anything else closes the connection.
func (l *link) finish(err error) {
	switch {
	case err == io.EOF:
		l.retire()
		halfClose(l.dst)
	case errors.Is(err, syscall.ECONNRESET):
		l.c.teardown(true)
	default:
		l.c.teardown(false)
	}
}

// halfClose passes the end of a stream on: the destination's write side is
// shut, its read side stays open for the other direction.
func halfClose(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}
