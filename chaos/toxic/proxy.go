package toxic

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// toxicSet is an immutable snapshot of a proxy's toxics, published
// atomically so that the data path reads it without locks.
type toxicSet struct {
	dirs [2][]*entry // TCP toxics per direction, connection-wide ones in both
	conn []*entry    // connection-wide TCP toxics (blackhole, partition)
	http []*entry    // HTTP toxics, in order
	all  map[*entry]bool
}

func (s *toxicSet) has(e *entry) bool { return s.all[e] }

// proxy is one named proxy: a listener, its connections and its toxics.
type proxy struct {
	s    *Server
	name string
	pc   *proxyCounters

	// tmu guards entries and protocol and serializes publishing; it is
	// taken before mu.
	tmu      sync.Mutex
	entries  []*entry
	protocol string // also read under mu; written holding both
	snap     atomic.Pointer[toxicSet]

	// mu guards listen, upstream, enabled, ln, front and conns.
	mu       sync.Mutex
	listen   string
	upstream string
	enabled  bool
	ln       net.Listener
	front    *front
	conns    map[*conn]struct{}
}

func newProxy(s *Server, spec ProxySpec) *proxy {
	p := &proxy{
		s:        s,
		name:     spec.Name,
		pc:       s.metrics.proxy(spec.Name),
		protocol: spec.Protocol,
		listen:   spec.Listen,
		upstream: spec.Upstream,
		conns:    map[*conn]struct{}{},
	}
	p.snap.Store(&toxicSet{})
	return p
}

// spec returns the proxy as the API shows it.
func (p *proxy) spec() ProxySpec {
	p.tmu.Lock()
	toxics := make([]ToxicSpec, 0, len(p.entries))
	for _, e := range p.entries {
		toxics = append(toxics, e.spec())
	}
	proto := p.protocol
	p.tmu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	return ProxySpec{Name: p.name, Listen: p.listen, Upstream: p.upstream, Enabled: p.enabled, Protocol: proto, Toxics: toxics}
}

// start listens and serves, if the proxy is not already running.
func (p *proxy) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.startLocked()
}

func (p *proxy) startLocked() error {
	if p.ln != nil {
		return nil
	}
	ln, err := p.s.listen(p.listen, p.upstream)
	if err != nil {
		return err
	}
	p.serveLocked(ln)
	return nil
}

// listen opens the listener of a proxy forwarding to upstream. Failing is
// ErrListen, answered 500 with net.Listen's message, as Toxiproxy answers
// it. A port of 0 is known only once bound, so only then can the listener
// be refused as its own upstream (other ports were checked before).
func (s *Server) listen(addr, upstream string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, apiErr(ErrListen, http.StatusInternalServerError, err.Error(), err)
	}
	if e, err := parseEndpoint(addr); err == nil && e.port == 0 {
		if err := s.checkLoop(tcpEndpoint(ln.Addr()), upstream); err != nil {
			_ = ln.Close()
			return nil, errInvalid(err)
		}
	}
	return ln, nil
}

// handover returns a second listener on ln's listening socket, for a
// restart in place: the socket stays open while the old server stops (a
// connection arriving meanwhile waits in its backlog), so the restart
// cannot fail to listen again, as a close and a new listen could if
// another process took the port in between.
func handover(ln net.Listener) (net.Listener, error) {
	fl, ok := ln.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, errors.New("toxic: listener has no file")
	}
	f, err := fl.File()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return net.FileListener(f)
}

// serveLocked makes ln the proxy's listener and serves it with the proxy's
// protocol and upstream.
func (p *proxy) serveLocked(ln net.Listener) {
	p.ln = ln
	p.listen = ln.Addr().String()
	p.enabled = true
	p.s.wg.Add(1)
	if p.protocol == protoHTTP {
		p.front = newFront(p, p.upstream)
		go func(f *front) {
			defer p.s.wg.Done()
			f.serve(ln)
		}(p.front)
	} else {
		go p.acceptLoop(ln)
	}
	p.s.log(slog.LevelInfo, "proxy started", "proxy", p.name, "listen", p.listen, "upstream", p.upstream, "protocol", p.protocol)
}

// stop closes the listener and every connection.
func (p *proxy) stop() {
	p.mu.Lock()
	conns := p.stopLocked()
	p.mu.Unlock()
	for c := range conns {
		c.teardown(false)
	}
}

// stopLocked stops listening and returns the connections to tear down
// once mu is released.
func (p *proxy) stopLocked() map[*conn]struct{} {
	p.enabled = false
	if p.ln == nil {
		return nil
	}
	_ = p.ln.Close()
	p.ln = nil
	if p.front != nil {
		p.front.close()
		p.front = nil
	}
	conns := p.conns
	p.conns = map[*conn]struct{}{}
	p.s.log(slog.LevelInfo, "proxy stopped", "proxy", p.name)
	return conns
}

// forget drops a closed connection.
func (p *proxy) forget(c *conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *proxy) acceptLoop(ln net.Listener) {
	defer p.s.wg.Done()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			p.s.log(slog.LevelWarn, "accept failed", "proxy", p.name, "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-p.s.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		p.s.wg.Add(1)
		go func() {
			defer p.s.wg.Done()
			p.serve(ln, nc)
		}()
	}
}

// serve handles one accepted connection: connection-wide toxics first, then
// the upstream dial and the two links.
func (p *proxy) serve(ln net.Listener, client net.Conn) {
	p.pc.connections.Inc()
	c := newConn(p, client)
	set := p.snap.Load()
	for _, e := range set.conn {
		if !c.rolled(e) {
			continue
		}
		switch e.kind.name {
		case "partition":
			setLinger0(client)
			_ = client.Close()
			return
		case "blackhole":
			c.active.Store(1)
			if !p.register(ln, c, nil) {
				return
			}
			c.swallow()
			return
		}
	}
	p.mu.Lock()
	addr := p.upstream
	p.mu.Unlock()
	up, err := p.s.dialer.DialContext(p.s.ctx, "tcp", addr)
	if err != nil {
		p.s.log(slog.LevelWarn, "upstream dial failed", "proxy", p.name, "upstream", addr, "err", err)
		_ = client.Close()
		return
	}
	c.links = []*link{newLink(c, upstream, client, up), newLink(c, downstream, up, client)}
	c.active.Store(2)
	if !p.register(ln, c, up) {
		return
	}
	p.s.wg.Add(1)
	go func() {
		defer p.s.wg.Done()
		c.links[0].run()
	}()
	c.links[1].run()
}

// register adds c to the open connections, unless the listener it came from
// has been closed meanwhile.
func (p *proxy) register(ln net.Listener, c *conn, up net.Conn) bool {
	p.mu.Lock()
	if p.ln != ln {
		p.mu.Unlock()
		_ = c.client.Close()
		if up != nil {
			_ = up.Close()
		}
		return false
	}
	c.upstream = up
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	return true
}

// publishLocked installs the current entries as the live snapshot and asks
// every open connection to switch to it. It returns channels that close as
// connections finish switching. The caller holds tmu.
func (p *proxy) publishLocked() []chan struct{} {
	p.pc.toxics(p.entries)
	set := &toxicSet{all: make(map[*entry]bool, len(p.entries))}
	for _, e := range p.entries {
		set.all[e] = true
		switch {
		case e.kind.http:
			set.http = append(set.http, e)
		case e.kind.conn:
			set.conn = append(set.conn, e)
			set.dirs[upstream] = append(set.dirs[upstream], e)
			set.dirs[downstream] = append(set.dirs[downstream], e)
		default:
			set.dirs[e.stream] = append(set.dirs[e.stream], e)
		}
	}
	p.snap.Store(set)
	p.mu.Lock()
	defer p.mu.Unlock()
	var waits []chan struct{}
	for c := range p.conns {
		for _, l := range c.links {
			ch := make(chan struct{})
			l.poke(ch)
			waits = append(waits, ch)
		}
	}
	return waits
}

// settle waits, up to the configured bound, for connections to switch.
func (p *proxy) settle(waits []chan struct{}) {
	if len(waits) == 0 {
		return
	}
	t := time.NewTimer(p.s.cfg.ApplyTimeout)
	defer t.Stop()
	for _, ch := range waits {
		select {
		case <-ch:
		case <-t.C:
			return
		}
	}
}

func (p *proxy) findLocked(name string) int {
	for i, e := range p.entries {
		if e.name == name {
			return i
		}
	}
	return -1
}

func (p *proxy) addToxic(t ToxicSpec) (ToxicSpec, error) {
	p.tmu.Lock()
	if name, ok := nameOf(t, p.protocol); ok && p.findLocked(name) >= 0 {
		p.tmu.Unlock()
		return ToxicSpec{}, errToxicExists()
	}
	e, err := newEntry(t, p.protocol) // valid: its name, checked above, is free
	if err != nil {
		p.tmu.Unlock()
		return ToxicSpec{}, errInvalid(err)
	}
	p.entries = append(p.entries, e)
	waits := p.publishLocked()
	p.tmu.Unlock()
	p.settle(waits)
	return e.spec(), nil
}

func (p *proxy) updateToxic(name string, patch []byte) (ToxicSpec, error) {
	p.tmu.Lock()
	i := p.findLocked(name)
	if i < 0 {
		p.tmu.Unlock()
		return ToxicSpec{}, errToxicNotFound()
	}
	e, err := p.entries[i].updated(patch, p.protocol)
	if err != nil {
		p.tmu.Unlock()
		return ToxicSpec{}, errInvalid(err)
	}
	entries := append([]*entry(nil), p.entries...)
	entries[i] = e
	p.entries = entries
	waits := p.publishLocked()
	p.tmu.Unlock()
	p.settle(waits)
	return e.spec(), nil
}

func (p *proxy) removeToxic(name string) error {
	p.tmu.Lock()
	i := p.findLocked(name)
	if i < 0 {
		p.tmu.Unlock()
		return errToxicNotFound()
	}
	entries := append([]*entry(nil), p.entries[:i]...)
	p.entries = append(entries, p.entries[i+1:]...)
	waits := p.publishLocked()
	p.tmu.Unlock()
	p.settle(waits)
	return nil
}

// setToxics replaces every toxic; specs were validated for the proxy's
// protocol.
func (p *proxy) setToxics(specs []ToxicSpec) error {
	p.tmu.Lock()
	entries := make([]*entry, 0, len(specs))
	for _, t := range specs {
		e, err := newEntry(t, p.protocol)
		if err != nil {
			p.tmu.Unlock()
			return errInvalid(err)
		}
		entries = append(entries, e)
	}
	p.entries = entries
	waits := p.publishLocked()
	p.tmu.Unlock()
	p.settle(waits)
	return nil
}

func (p *proxy) toxic(name string) (ToxicSpec, error) {
	p.tmu.Lock()
	defer p.tmu.Unlock()
	if i := p.findLocked(name); i >= 0 {
		return p.entries[i].spec(), nil
	}
	return ToxicSpec{}, errToxicNotFound()
}

func (p *proxy) toxics() []ToxicSpec {
	p.tmu.Lock()
	defer p.tmu.Unlock()
	out := make([]ToxicSpec, 0, len(p.entries))
	for _, e := range p.entries {
		out = append(out, e.spec())
	}
	return out
}

// listensAt reports whether the proxy's listen address, resolved, is e.
func (p *proxy) listensAt(e endpoint, lookup lookupFunc) bool {
	p.mu.Lock()
	listen := p.listen
	p.mu.Unlock()
	have, err := resolveListen(listen, lookup)
	return err == nil && have == e
}

// update applies a new listen address, upstream, protocol and enabled
// state; moved says that spec.Listen, resolved, is not where the proxy
// listens (localhost:8080 is not a move from 127.0.0.1:8080). Changing the
// address, upstream or protocol restarts the proxy and closes its
// connections, as in Toxiproxy.
//
// An update that fails changes nothing: a move opens the new listener
// before closing the old one, and a restart in place hands the listening
// socket over to the new server (where the platform cannot, it closes and
// listens again, the one path that can fail half-way).
func (p *proxy) update(spec ProxySpec, moved bool) error {
	p.tmu.Lock()
	defer p.tmu.Unlock()
	if spec.Protocol != p.protocol {
		for i, e := range p.entries {
			if _, err := newEntry(e.spec(), spec.Protocol); err != nil {
				return errInvalid(prefixKeys(err, "proxy", "toxics["+strconv.Itoa(i)+"]."))
			}
		}
	}
	p.mu.Lock()
	var closing []map[*conn]struct{}
	restart := moved || spec.Upstream != p.upstream || spec.Protocol != p.protocol
	var err error
	switch {
	case !spec.Enabled:
		closing = append(closing, p.stopLocked())
		if moved {
			p.listen = spec.Listen
		}
		p.upstream, p.protocol = spec.Upstream, spec.Protocol
	case p.ln != nil && !restart:
		// Running as asked.
	default:
		var ln net.Listener
		switch {
		case moved:
			ln, err = p.s.listen(spec.Listen, spec.Upstream)
		case p.ln == nil:
			ln, err = p.s.listen(p.listen, spec.Upstream)
		default:
			if ln, err = handover(p.ln); err != nil {
				closing = append(closing, p.stopLocked())
				ln, err = p.s.listen(p.listen, spec.Upstream)
			}
		}
		if err == nil {
			closing = append(closing, p.stopLocked())
			p.upstream, p.protocol = spec.Upstream, spec.Protocol
			p.serveLocked(ln)
		}
	}
	p.mu.Unlock()
	for _, conns := range closing {
		for c := range conns {
			c.teardown(false)
		}
	}
	return err
}
