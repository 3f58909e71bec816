package proxy

import (
	"runtime"
	"runtime/debug"
	"time"
)

// Memory a quiet data plane gives back.
//
// An idle keep-alive connection needs little: the connection's structs,
// the kernel's socket, and (where it is not parked: h1park_linux.go) its
// goroutine's stack. What it used while busy stays with the process,
// though, until the garbage collector runs: read buffers put back in
// bufPool (sync.Pool frees them only on the second collection after),
// stacks grown in handlers (a collection halves a stack that uses under a
// quarter of it), and garbage. A busy process collects all the time; one
// that has gone quiet may not for minutes (the runtime forces a collection
// every two), and Go's scavenger returns free pages to the OS only at its
// own slow pace. So a sidecar whose traffic stopped would keep the memory
// of its busiest moment.
//
// When no request has started for quietAfter, after at least releaseWork
// requests since the last release, the server collects three times (pooled
// buffers are freed by the second; each collection may halve a grown
// stack) and returns the free memory to the OS, at most once per
// releaseEvery. Requests over HTTP/2 (h2c) count too. This costs a few
// milliseconds of CPU on a small heap, once per quiet spell; under steady
// load it never runs. It is the counterpart of Envoy's shrink_heap
// overload action, on a timer instead of a memory threshold.
const (
	quietAfter   = 2 * time.Second
	quietTick    = time.Second
	releaseEvery = 10 * time.Second
	// releaseWork is how many requests must have started since the last
	// release (or since serving began) for another: a handful leaves
	// little to give back, and not worth a collection.
	releaseWork = 256
)

// quietWatch decides when to release memory from the count of requests
// started, sampled at each tick. Its zero value has never released; the
// first sample is where counting starts, so a server that has served
// nothing releases nothing.
type quietWatch struct {
	seen     bool
	last     uint64    // requests started at the last change
	changed  time.Time // when the count last changed
	released time.Time // the last release; zero if none
	base     uint64    // requests started at the last release, or the first sample
	done     bool      // released since the count last changed
}

// tick takes the count of requests started at now and reports whether to
// release memory.
func (q *quietWatch) tick(started uint64, now time.Time) bool {
	if !q.seen {
		q.seen, q.last, q.base, q.changed, q.done = true, started, started, now, true
		return false
	}
	if started != q.last {
		q.last, q.changed, q.done = started, now, false
		return false
	}
	if q.done || now.Sub(q.changed) < quietAfter || started-q.base < releaseWork {
		return false
	}
	if !q.released.IsZero() && now.Sub(q.released) < releaseEvery {
		return false // asked again at the next tick, until the interval is over
	}
	q.done, q.released, q.base = true, now, started
	return true
}

// releaseMemory frees what a quiet process holds and hands it back to
// the OS.
func releaseMemory() {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
}

// watchQuiet releases memory each time the server goes quiet, until quit
// is closed.
func (s *h1Server) watchQuiet() {
	t := time.NewTicker(quietTick)
	defer t.Stop()
	var q quietWatch
	q.tick(s.started.Load(), time.Now())
	for {
		select {
		case <-s.quit:
			return
		case now := <-t.C:
			if q.tick(s.started.Load(), now) {
				s.release()
			}
		}
	}
}
