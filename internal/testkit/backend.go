package testkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a [Backend]. Zero values mean the defaults.
type Config struct {
	// Name names the backend in its answers: healthy answers have the body
	// Name and the header X-Backend: Name. Default "backend".
	Name string

	// Body, when set, is the body of healthy answers in place of Name
	// (a JSON document, say, for response checks). Default Name.
	Body string

	// Addr is the address to listen on. Default "127.0.0.1:0", a free port.
	Addr string

	// Seed seeds the random draws of FailPercent and SlowTail, so that a
	// given sequence of requests meets the same answers every run.
	// Default 1.
	Seed uint64

	// H2C makes the backend also accept HTTP/2 without TLS (prior
	// knowledge), besides HTTP/1.1.
	H2C bool
}

// Backend is a controllable HTTP server on loopback. Create one with
// [NewBackend] or [Start]; all methods are safe for concurrent use, also
// while the backend serves. Close it when done.
type Backend struct {
	name string
	body string // the healthy answer's
	addr string // host:port, fixed at the first listen so Restart reuses it
	srv  *http.Server

	behavior atomic.Pointer[behavior]
	healthy  atomic.Bool // what /healthz answers

	// Counters; see the accessor methods.
	requests     atomic.Int64
	inFlight     atomic.Int64
	queued       atomic.Int64
	healthChecks atomic.Int64

	closing chan struct{} // closed by Close, releases hanging handlers

	// rndMu guards rnd.
	rndMu sync.Mutex
	rnd   *rand.Rand

	// mu guards everything below.
	mu         sync.Mutex
	byMethod   map[string]int64
	deliveries map[string]int64
	ln         net.Listener // nil while refusing
	conns      map[net.Conn]struct{}
	changed    chan struct{} // closed and replaced on every change; see Wait
	dieTimer   *time.Timer
	closed     bool
	handlers   sync.WaitGroup // running handlers; Add only under mu while !closed
	serving    sync.WaitGroup // Serve goroutines
}

// TB is the part of testing.TB that [Start] uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// NewBackend starts a backend listening on c.Addr, answering healthy.
func NewBackend(c Config) (*Backend, error) {
	if c.Name == "" {
		c.Name = "backend"
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Body == "" {
		c.Body = c.Name
	}
	b := &Backend{
		name:       c.Name,
		body:       c.Body,
		closing:    make(chan struct{}),
		rnd:        rand.New(rand.NewPCG(c.Seed, c.Seed)),
		byMethod:   map[string]int64{},
		deliveries: map[string]int64{},
		conns:      map[net.Conn]struct{}{},
		changed:    make(chan struct{}),
	}
	b.healthy.Store(true)
	b.behavior.Store(&behavior{kind: kindHealthy})
	b.srv = &http.Server{
		Handler:           b,
		ReadHeaderTimeout: 10 * time.Second,
		ConnState:         b.trackConn,
		// Resets and aborted bodies are the point; keep the log quiet.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	if c.H2C {
		b.srv.Protocols = new(http.Protocols)
		b.srv.Protocols.SetHTTP1(true)
		b.srv.Protocols.SetUnencryptedHTTP2(true)
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return nil, fmt.Errorf("testkit: backend %s: %w", c.Name, err)
	}
	b.addr = ln.Addr().String()
	b.serveLocked(ln)
	return b, nil
}

// Start is [NewBackend] for tests: it fails tb when the backend cannot start
// and closes the backend when the test ends.
func Start(tb TB, c Config) *Backend {
	tb.Helper()
	b, err := NewBackend(c)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

// Name returns the backend's name.
func (b *Backend) Name() string { return b.name }

// Addr returns the host:port the backend listens on; it stays the same
// across [Backend.Refuse] and [Backend.Restart].
func (b *Backend) Addr() string { return b.addr }

// URL returns the backend's base URL, such as http://127.0.0.1:41234.
func (b *Backend) URL() string { return "http://" + b.addr }

// serveLocked serves on ln. b.mu must be held, or b not yet shared.
func (b *Backend) serveLocked(ln net.Listener) {
	b.ln = ln
	b.serving.Add(1)
	go func() {
		defer b.serving.Done()
		_ = b.srv.Serve(ln) // returns when ln is closed
	}()
}

// trackConn keeps the set of open connections, so that Refuse can drop them.
func (b *Backend) trackConn(c net.Conn, s http.ConnState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch s {
	case http.StateNew:
		b.conns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(b.conns, c)
	}
}

// Refuse takes the backend off the network, as if its process had died: it
// stops listening, so new connections are refused, and drops every open
// connection, failing requests under way. [Backend.Restart] brings it back on
// the same port. Refusing an already refusing backend does nothing.
func (b *Backend) Refuse() {
	b.mu.Lock()
	ln := b.ln
	b.ln = nil
	conns := make([]net.Conn, 0, len(b.conns))
	for c := range b.conns {
		conns = append(conns, c)
	}
	b.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	for _, c := range conns {
		_ = c.Close()
	}
	b.signal()
}

// Restart listens again on the backend's port after [Backend.Refuse] or
// [Backend.DieAfter]; it also cancels a pending DieAfter. Restarting a
// listening backend does nothing.
func (b *Backend) Restart() error {
	if err := b.restart(); err != nil {
		return err
	}
	b.signal()
	return nil
}

func (b *Backend) restart() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("testkit: backend " + b.name + " is closed")
	}
	if b.dieTimer != nil {
		b.dieTimer.Stop()
		b.dieTimer = nil
	}
	if b.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", b.addr)
	if err != nil {
		return fmt.Errorf("testkit: backend %s: restart: %w", b.name, err)
	}
	b.serveLocked(ln)
	return nil
}

// DieAfter makes the backend [Backend.Refuse] once d has passed, replacing
// any earlier DieAfter.
func (b *Backend) DieAfter(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	if b.dieTimer != nil {
		b.dieTimer.Stop()
	}
	b.dieTimer = time.AfterFunc(d, b.Refuse)
}

// Listening reports whether the backend accepts connections.
func (b *Backend) Listening() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ln != nil
}

// Close stops the backend for good: it stops listening, closes every
// connection, releases hanging requests and waits for its goroutines to end.
// Close is idempotent and returns nil.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	if b.dieTimer != nil {
		b.dieTimer.Stop()
	}
	close(b.closing)
	b.mu.Unlock()
	_ = b.srv.Close()
	b.Refuse() // connections hijacked mid-answer are not the server's to close
	b.serving.Wait()
	b.handlers.Wait()
	return nil
}

// SetHealthz sets what /healthz answers: 200 "ok" when ok, else 503. It is
// independent of the behaviour set for other paths. Default ok.
func (b *Backend) SetHealthz(ok bool) { b.healthy.Store(ok) }

// Requests returns the requests received, /healthz excluded.
func (b *Backend) Requests() int64 { return b.requests.Load() }

// RequestsByMethod returns the requests received with the given method,
// /healthz excluded.
func (b *Backend) RequestsByMethod(method string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.byMethod[method]
}

// Deliveries returns how many requests carried key in their Idempotency-Key
// header, or in X-Request-Id when they had no Idempotency-Key. A proxy that
// must not duplicate a non-idempotent request delivers each key once.
func (b *Backend) Deliveries(key string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.deliveries[key]
}

// InFlight returns the requests received and not yet answered, queued ones
// included.
func (b *Backend) InFlight() int64 { return b.inFlight.Load() }

// Queued returns the requests waiting for a worker in [Backend.Capacity]
// mode.
func (b *Backend) Queued() int64 { return b.queued.Load() }

// HealthChecks returns the /healthz requests received.
func (b *Backend) HealthChecks() int64 { return b.healthChecks.Load() }

// ResetCounters sets the request counters back to zero; in-flight and queued
// counts are live and stay.
func (b *Backend) ResetCounters() {
	b.mu.Lock()
	b.requests.Store(0)
	b.healthChecks.Store(0)
	clear(b.byMethod)
	clear(b.deliveries)
	b.mu.Unlock()
	b.signal()
}

// Wait blocks until cond returns true or ctx ends. cond is evaluated now and
// after every change of the backend's counters or state, so a test can wait
// for "three requests in flight" or "no longer listening" without sleeping.
func (b *Backend) Wait(ctx context.Context, cond func() bool) error {
	for {
		b.mu.Lock()
		ch := b.changed
		b.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitInFlight blocks until at least n requests are in flight or ctx ends.
func (b *Backend) WaitInFlight(ctx context.Context, n int64) error {
	return b.Wait(ctx, func() bool { return b.InFlight() >= n })
}

// signal wakes every Wait.
func (b *Backend) signal() {
	b.mu.Lock()
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}
