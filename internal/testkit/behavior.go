package testkit

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

type kind uint8

const (
	kindHealthy kind = iota
	kindRespond
	kindFail
	kindFailN
	kindFailPercent
	kindSlow
	kindSlowTail
	kindHang
	kindReset
	kindCloseMidBody
	kindCapacity
	kindRespondPercent
)

// behavior is how the backend answers requests other than /healthz. A
// behavior is never modified once published, except for its own counters.
type behavior struct {
	kind      kind
	status    int
	body      string
	percent   float64
	delay     time.Duration
	remaining atomic.Int64  // kindFailN: failures left to give
	slots     chan struct{} // kindCapacity: one token per busy worker
	queue     int           // kindCapacity: most requests waiting; 0 = no limit
}

func (b *Backend) set(bh *behavior) {
	b.behavior.Store(bh)
	b.signal()
}

// Healthy makes the backend answer 200 with its name (or [Config].Body) as
// the body, and its name in the X-Backend header. This is the initial
// behaviour.
func (b *Backend) Healthy() { b.set(&behavior{kind: kindHealthy}) }

// Respond makes the backend answer every request with status and body, such
// as a wrong answer with a 200 status.
func (b *Backend) Respond(status int, body string) {
	b.set(&behavior{kind: kindRespond, status: status, body: body})
}

// RespondPercent makes the backend answer percent (0 to 100) of requests,
// drawn like FailPercent's, with status and body, such as a wrong answer
// with a 200 status, and the others healthy.
func (b *Backend) RespondPercent(percent float64, status int, body string) {
	b.set(&behavior{kind: kindRespondPercent, status: status, body: body, percent: percent})
}

// Fail makes the backend answer every request with status.
func (b *Backend) Fail(status int) { b.set(&behavior{kind: kindFail, status: status}) }

// FailN makes the backend answer the next n requests with status and the
// ones after them healthy.
func (b *Backend) FailN(n int, status int) {
	bh := &behavior{kind: kindFailN, status: status}
	bh.remaining.Store(int64(n))
	b.set(bh)
}

// FailPercent makes the backend answer percent (0 to 100) of requests with
// status and the others healthy. Which ones fail is drawn from the seeded
// source of [Config].Seed, so the same sequence of requests meets the same
// failures every run.
func (b *Backend) FailPercent(percent float64, status int) {
	b.set(&behavior{kind: kindFailPercent, status: status, percent: percent})
}

// Slow makes the backend wait d before each healthy answer. A request whose
// client goes away during the wait gets no answer.
func (b *Backend) Slow(d time.Duration) { b.set(&behavior{kind: kindSlow, delay: d}) }

// SlowTail makes percent (0 to 100) of requests, drawn like FailPercent's,
// wait d before their healthy answer; the rest answer at once.
func (b *Backend) SlowTail(percent float64, d time.Duration) {
	b.set(&behavior{kind: kindSlowTail, percent: percent, delay: d})
}

// Hang makes the backend never answer: each request waits until its client
// goes away (or the backend closes).
func (b *Backend) Hang() { b.set(&behavior{kind: kindHang}) }

// ResetConnections makes the backend answer each request by resetting its
// TCP connection (an RST, with SO_LINGER 0) without sending anything. Over
// HTTP/2 it resets the stream instead.
func (b *Backend) ResetConnections() { b.set(&behavior{kind: kindReset}) }

// CloseMidBody makes the backend send a 200 with a Content-Length, half of
// the body, and then close the connection (reset the stream over HTTP/2), so
// the client sees a truncated body.
func (b *Backend) CloseMidBody() { b.set(&behavior{kind: kindCloseMidBody}) }

// Capacity makes the backend serve like a fixed pool: workers requests at a
// time, each taking service; the excess waits in a queue, in arrival order
// as far as Go's scheduler goes. With queue > 0, a request that finds queue
// requests already waiting gets 503 at once; queue 0 means no limit. A
// client that goes away leaves the queue.
func (b *Backend) Capacity(workers int, service time.Duration, queue int) {
	b.set(&behavior{kind: kindCapacity, delay: service, slots: make(chan struct{}, max(workers, 1)), queue: queue})
}

// Behavior describes the current behaviour, such as "fail_n(2 left, 503)".
func (b *Backend) Behavior() string {
	bh := b.behavior.Load()
	switch bh.kind {
	case kindRespond:
		return fmt.Sprintf("respond(%d, %q)", bh.status, bh.body)
	case kindRespondPercent:
		return fmt.Sprintf("respond_percent(%g%%, %d, %q)", bh.percent, bh.status, bh.body)
	case kindFail:
		return fmt.Sprintf("fail(%d)", bh.status)
	case kindFailN:
		return fmt.Sprintf("fail_n(%d left, %d)", max(bh.remaining.Load(), 0), bh.status)
	case kindFailPercent:
		return fmt.Sprintf("fail_percent(%g%%, %d)", bh.percent, bh.status)
	case kindSlow:
		return fmt.Sprintf("slow(%v)", bh.delay)
	case kindSlowTail:
		return fmt.Sprintf("slow_tail(%g%%, %v)", bh.percent, bh.delay)
	case kindHang:
		return "hang"
	case kindReset:
		return "reset"
	case kindCloseMidBody:
		return "close_mid_body"
	case kindCapacity:
		return fmt.Sprintf("capacity(%d workers, %v, queue %d)", cap(bh.slots), bh.delay, bh.queue)
	}
	return "healthy"
}

// ServeHTTP answers r according to the current behaviour; /healthz answers
// according to SetHealthz.
func (b *Backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		b.healthChecks.Add(1)
		b.signal()
		if b.healthy.Load() {
			io.WriteString(w, "ok\n")
		} else {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
		}
		return
	}

	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		http.Error(w, "closed", http.StatusServiceUnavailable)
		return
	}
	b.handlers.Add(1)
	b.byMethod[r.Method]++
	if key := deliveryKey(r); key != "" {
		b.deliveries[key]++
	}
	b.requests.Add(1)
	b.inFlight.Add(1)
	b.mu.Unlock()
	b.signal()
	defer func() {
		b.inFlight.Add(-1)
		b.signal()
		b.handlers.Done()
	}()
	// Read the body first, as a real server would, so that the client's
	// upload is done and the server notices when the client goes away.
	_, _ = io.Copy(io.Discard, r.Body)

	bh := b.behavior.Load()
	ctx := r.Context()
	switch bh.kind {
	case kindHealthy:
		b.answer(w)
	case kindRespond:
		w.Header().Set("X-Backend", b.name)
		w.WriteHeader(bh.status)
		io.WriteString(w, bh.body)
	case kindRespondPercent:
		if !b.draw(bh.percent) {
			b.answer(w)
			break
		}
		w.Header().Set("X-Backend", b.name)
		w.WriteHeader(bh.status)
		io.WriteString(w, bh.body)
	case kindFail:
		b.fail(w, bh.status)
	case kindFailN:
		if bh.remaining.Add(-1) >= 0 {
			b.fail(w, bh.status)
		} else {
			b.answer(w)
		}
	case kindFailPercent:
		if b.draw(bh.percent) {
			b.fail(w, bh.status)
		} else {
			b.answer(w)
		}
	case kindSlow:
		b.pause(ctx, bh.delay)
		b.answer(w)
	case kindSlowTail:
		if b.draw(bh.percent) {
			b.pause(ctx, bh.delay)
		}
		b.answer(w)
	case kindHang:
		select {
		case <-ctx.Done():
		case <-b.closing:
		}
		abort()
	case kindReset:
		resetConn(w)
	case kindCloseMidBody:
		body := strings.Repeat(b.name+"\n", 64)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Header().Set("X-Backend", b.name)
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, body[:len(body)/2])
		_ = http.NewResponseController(w).Flush()
		abort()
	case kindCapacity:
		b.serveCapacity(w, r, bh)
	}
}

// serveCapacity queues r for one of bh's workers and answers after the
// service time.
func (b *Backend) serveCapacity(w http.ResponseWriter, r *http.Request, bh *behavior) {
	select {
	case bh.slots <- struct{}{}:
	default:
		n := b.queued.Add(1)
		b.signal()
		dequeue := func() {
			b.queued.Add(-1)
			b.signal()
		}
		if bh.queue > 0 && n > int64(bh.queue) {
			dequeue()
			w.Header().Set("X-Backend", b.name)
			http.Error(w, b.name+": queue full", http.StatusServiceUnavailable)
			return
		}
		select {
		case bh.slots <- struct{}{}:
			dequeue()
		case <-r.Context().Done():
			dequeue()
			abort()
		case <-b.closing:
			dequeue()
			abort()
		}
	}
	defer func() { <-bh.slots }()
	b.pause(r.Context(), bh.delay)
	b.answer(w)
}

// answer writes the healthy answer.
func (b *Backend) answer(w http.ResponseWriter) {
	w.Header().Set("X-Backend", b.name)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, b.body)
}

// fail writes an injected failure with status.
func (b *Backend) fail(w http.ResponseWriter, status int) {
	w.Header().Set("X-Backend", b.name)
	http.Error(w, b.name+": injected failure", status)
}

// draw reports true with probability percent/100, from the seeded source.
func (b *Backend) draw(percent float64) bool {
	b.rndMu.Lock()
	defer b.rndMu.Unlock()
	return b.rnd.Float64()*100 < percent
}

// pause waits d. When the client goes away or the backend closes first, it
// aborts the handler: there is no one to answer, and an answer written while
// closing would look like a success.
func (b *Backend) pause(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return
	case <-ctx.Done():
	case <-b.closing:
	}
	abort()
}

// abort ends the handler without an answer: the server closes an HTTP/1
// connection and resets an HTTP/2 stream. net/http logs nothing for
// http.ErrAbortHandler.
func abort() { panic(http.ErrAbortHandler) }

// resetConn aborts the exchange of w: over HTTP/1 by closing the TCP
// connection with SO_LINGER 0, which sends an RST instead of a FIN.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		abort() // HTTP/2 cannot hijack: reset the stream
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// deliveryKey returns the key that identifies r for duplicate detection.
func deliveryKey(r *http.Request) string {
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		return k
	}
	return r.Header.Get("X-Request-Id")
}
