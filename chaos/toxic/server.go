package toxic

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdfast-dev/holdfast"
)

// Config configures a [Server]. The zero value is valid.
type Config struct {
	// Token, when not empty, must be sent as "Authorization: Bearer <token>"
	// with every call that changes state (POST, PATCH, DELETE). Empty means
	// no check, which is only safe when the API listens on loopback.
	Token string `yaml:"-" json:"-"`
	// MaxBodyBytes bounds the body of an API request; larger bodies are
	// refused with 413. Default 1 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes" json:"max_body_bytes"`
	// DialTimeout bounds connecting to an upstream. Default 5s.
	DialTimeout time.Duration `yaml:"dial_timeout" json:"dial_timeout"`
	// ApplyTimeout bounds how long a toxic change waits for open
	// connections to switch to the new toxics before the API answers (a
	// connection blocked writing switches when it next moves data).
	// Default 1s.
	ApplyTimeout time.Duration `yaml:"apply_timeout" json:"apply_timeout"`
	// Version is what GET /version reports. Default "dev".
	Version string `yaml:"-" json:"-"`
	// Logger receives proxy starts and stops, API changes and upstream dial
	// failures. Nil is silent.
	Logger *slog.Logger `yaml:"-" json:"-"`
}

const (
	defaultMaxBody      = 1 << 20
	defaultDialTimeout  = 5 * time.Second
	defaultApplyTimeout = time.Second
)

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = defaultMaxBody
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = defaultDialTimeout
	}
	if c.ApplyTimeout == 0 {
		c.ApplyTimeout = defaultApplyTimeout
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	return c
}

// Validate reports every invalid field as a [*holdfast.ConfigError] keyed
// under "toxic".
func (c Config) Validate() error {
	var errs []error
	if c.MaxBodyBytes < 0 {
		errs = append(errs, holdfast.ConfigErrorf("toxic", "max_body_bytes", "must be >= 0, got %d", c.MaxBodyBytes))
	}
	if c.DialTimeout < 0 {
		errs = append(errs, holdfast.ConfigErrorf("toxic", "dial_timeout", "must be >= 0, got %s", c.DialTimeout))
	}
	if c.ApplyTimeout < 0 {
		errs = append(errs, holdfast.ConfigErrorf("toxic", "apply_timeout", "must be >= 0, got %s", c.ApplyTimeout))
	}
	return errors.Join(errs...)
}

// Server is the chaos proxy: a set of named proxies with toxics, and their
// Toxiproxy-compatible HTTP API (ServeHTTP). Its methods are the same
// operations for Go callers. It is safe for concurrent use; Close stops
// every proxy.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	dialer  net.Dialer
	ctx     context.Context // cancelled by Close: aborts upstream dials
	cancel  context.CancelFunc
	wg      sync.WaitGroup // every goroutine of every proxy
	metrics *metrics

	// mu guards proxies and closed, and serializes changes to the set.
	mu      sync.Mutex
	proxies map[string]*proxy
	closed  bool
}

var _ http.Handler = (*Server)(nil)

// NewServer returns a server with no proxies.
func NewServer(c Config) (*Server, error) {
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:     c,
		dialer:  net.Dialer{Timeout: c.DialTimeout, KeepAlive: 30 * time.Second},
		ctx:     ctx,
		cancel:  cancel,
		proxies: map[string]*proxy{},
	}
	s.metrics = newMetrics(s)
	s.mux = s.routes()
	return s, nil
}

// Registry returns the registry of the metrics that GET /metrics serves,
// for adding more (the Go runtime's, the process's).
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

// MustNewServer is [NewServer] that panics on an invalid config, for
// examples and tests.
func MustNewServer(c Config) *Server {
	s, err := NewServer(c)
	if err != nil {
		panic(err)
	}
	return s
}

func (s *Server) log(level slog.Level, msg string, args ...any) {
	if s.cfg.Logger != nil {
		s.cfg.Logger.Log(context.Background(), level, "chaos: "+msg, args...)
	}
}

func (s *Server) get(name string) (*proxy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed()
	}
	p, ok := s.proxies[name]
	if !ok {
		return nil, errProxyNotFound()
	}
	return p, nil
}

func errClosed() *APIError {
	return apiErr(ErrClosed, http.StatusServiceUnavailable, "server closed", nil)
}

// CreateProxy adds a proxy and, when spec.Enabled, starts it. It returns the
// proxy with its real listen address. A proxy whose upstream is its own
// listen address, compared resolved (localhost:8080 is 127.0.0.1:8080, and
// 0.0.0.0:8080 listens on every local address), is refused with
// [ErrInvalid]; so are updates and populate entries that would make one.
func (s *Server) CreateProxy(spec ProxySpec) (ProxySpec, error) {
	// Toxiproxy answers a taken name (409) once the name and upstream are
	// there, before it looks at anything else.
	if spec.Name != "" && spec.Upstream != "" {
		if _, err := s.get(spec.Name); err == nil {
			return ProxySpec{}, errProxyExists()
		}
	}
	spec, err := spec.normalize()
	if err != nil {
		return ProxySpec{}, errInvalid(err)
	}
	if want, err := resolveListen(spec.Listen, s.lookup); err == nil {
		if err := s.checkLoop(want, spec.Upstream); err != nil {
			return ProxySpec{}, errInvalid(err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ProxySpec{}, errClosed()
	}
	if _, ok := s.proxies[spec.Name]; ok {
		return ProxySpec{}, errProxyExists()
	}
	p, err := s.installLocked(spec)
	if err != nil {
		return ProxySpec{}, err
	}
	return p.spec(), nil
}

// installLocked creates, fills and starts a proxy from a normalized spec.
// Its counters exist from the start, before any connection can count; a
// proxy that fails to install takes them with it.
func (s *Server) installLocked(spec ProxySpec) (*proxy, error) {
	p := newProxy(s, spec)
	if len(spec.Toxics) > 0 {
		if err := p.setToxics(spec.Toxics); err != nil {
			p.pc.forget()
			return nil, err
		}
	}
	if spec.Enabled {
		if err := p.start(); err != nil {
			p.pc.forget()
			return nil, err
		}
	}
	s.proxies[spec.Name] = p
	return p, nil
}

// Proxy returns the named proxy.
func (s *Server) Proxy(name string) (ProxySpec, error) {
	p, err := s.get(name)
	if err != nil {
		return ProxySpec{}, err
	}
	return p.spec(), nil
}

// Proxies returns every proxy, by name.
func (s *Server) Proxies() map[string]ProxySpec {
	s.mu.Lock()
	ps := make([]*proxy, 0, len(s.proxies))
	for _, p := range s.proxies {
		ps = append(ps, p)
	}
	s.mu.Unlock()
	out := make(map[string]ProxySpec, len(ps))
	for _, p := range ps {
		out[p.name] = p.spec()
	}
	return out
}

// UpdateProxy changes the listen address, upstream, protocol and enabled
// state of the proxy named spec.Name; its toxics are kept (spec.Toxics is
// ignored). A new address (compared resolved, so localhost:8080 is where
// 127.0.0.1:8080 is), upstream or protocol restarts the proxy and closes
// its connections; disabling it closes them too. An update that fails, such
// as a move onto a port in use ([ErrListen]), changes nothing: the proxy
// keeps serving where it was.
func (s *Server) UpdateProxy(spec ProxySpec) (ProxySpec, error) {
	spec.Toxics = nil
	spec, err := spec.normalize()
	if err != nil {
		return ProxySpec{}, errInvalid(err)
	}
	want, wantErr := resolveListen(spec.Listen, s.lookup)
	if wantErr == nil {
		if err := s.checkLoop(want, spec.Upstream); err != nil {
			return ProxySpec{}, errInvalid(err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ProxySpec{}, errClosed()
	}
	p, ok := s.proxies[spec.Name]
	if !ok {
		return ProxySpec{}, errProxyNotFound()
	}
	// An address that does not resolve is a move, whose listen fails.
	if err := p.update(spec, wantErr != nil || !p.listensAt(want, s.lookup)); err != nil {
		return ProxySpec{}, err
	}
	return p.spec(), nil
}

// DeleteProxy stops the named proxy, closes its connections and forgets it.
// Its series go while the name is still taken, so that a new proxy of the
// same name never shares (and then loses) them.
func (s *Server) DeleteProxy(name string) error {
	s.mu.Lock()
	p, ok := s.proxies[name]
	if ok {
		delete(s.proxies, name)
		p.pc.forget()
	}
	closed := s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return errClosed()
	case !ok:
		return errProxyNotFound()
	}
	p.stop()
	return nil
}

// Populate creates or replaces several proxies, as Toxiproxy's /populate
// does: every spec is validated before anything changes; an existing proxy
// that a spec describes unchanged (the same listen address once resolved,
// so localhost:8080 is the proxy on 127.0.0.1:8080, and the same upstream
// and protocol) is kept with its toxics (unless the spec lists some) and
// open connections, and takes the spec's enabled state; other specs
// replace the proxy of the same name. It returns the proxies it created or
// kept, in order; on a failure to listen, those before the failure.
func (s *Server) Populate(specs []ProxySpec) ([]ProxySpec, error) {
	norm := make([]ProxySpec, len(specs))
	// wants[i] is where norm[i] listens, resolved; ok[i] is false when its
	// host does not resolve, and it then matches no running proxy.
	wants := make([]endpoint, len(specs))
	ok := make([]bool, len(specs))
	var errs []error
	seen := map[string]bool{}
	for i, spec := range specs {
		n, err := spec.normalize()
		if err != nil {
			errs = append(errs, prefixKeys(err, "populate", "["+strconv.Itoa(i)+"]."))
			continue
		}
		if seen[n.Name] {
			errs = append(errs, holdfast.ConfigErrorf("populate", "["+strconv.Itoa(i)+"].name", "duplicate proxy name %q", n.Name))
		}
		seen[n.Name] = true
		norm[i] = n
		want, err := resolveListen(n.Listen, s.lookup)
		wants[i], ok[i] = want, err == nil
		if ok[i] {
			if err := s.checkLoop(want, n.Upstream); err != nil {
				errs = append(errs, prefixKeys(err, "populate", "["+strconv.Itoa(i)+"]."))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errInvalid(errors.Join(errs...))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed()
	}
	out := make([]ProxySpec, 0, len(norm))
	for i, spec := range norm {
		if old, exists := s.proxies[spec.Name]; exists {
			if ok[i] && old.matches(spec, wants[i], s.lookup) {
				if len(spec.Toxics) > 0 {
					if err := old.setToxics(spec.Toxics); err != nil {
						return out, err
					}
				}
				if !spec.Enabled {
					old.stop()
				} else if err := old.start(); err != nil {
					return out, err
				}
				out = append(out, old.spec())
				continue
			}
			old.stop()
			delete(s.proxies, spec.Name)
			old.pc.forget()
		}
		p, err := s.installLocked(spec)
		if err != nil {
			return out, err
		}
		out = append(out, p.spec())
	}
	return out, nil
}

// matches reports whether spec describes p unchanged, as Toxiproxy's
// populate decides it (Proxy.Differs): the same listen address once both
// are resolved (want is spec.Listen resolved), the same upstream and, a
// holdfast extension, the same protocol. The enabled state is not compared;
// populate applies it to the proxy it keeps.
func (p *proxy) matches(spec ProxySpec, want endpoint, lookup lookupFunc) bool {
	p.tmu.Lock()
	proto := p.protocol
	p.tmu.Unlock()
	p.mu.Lock()
	upstream := p.upstream
	p.mu.Unlock()
	return upstream == spec.Upstream && proto == spec.Protocol && p.listensAt(want, lookup)
}

// AddToxic adds a toxic at the end of the named proxy's chain. It applies to
// open connections too.
func (s *Server) AddToxic(proxyName string, t ToxicSpec) (ToxicSpec, error) {
	p, err := s.get(proxyName)
	if err != nil {
		return ToxicSpec{}, err
	}
	return p.addToxic(t)
}

// UpdateToxic changes a toxic's toxicity and attributes. patch is a JSON
// object like the API's PATCH body: {"toxicity": 0.5, "attributes":
// {"latency": 200}}; attributes it leaves out keep their values.
func (s *Server) UpdateToxic(proxyName, toxicName string, patch []byte) (ToxicSpec, error) {
	p, err := s.get(proxyName)
	if err != nil {
		return ToxicSpec{}, err
	}
	return p.updateToxic(toxicName, patch)
}

// RemoveToxic removes a toxic; open connections stop applying it.
func (s *Server) RemoveToxic(proxyName, toxicName string) error {
	p, err := s.get(proxyName)
	if err != nil {
		return err
	}
	return p.removeToxic(toxicName)
}

// Toxic returns one toxic of a proxy.
func (s *Server) Toxic(proxyName, toxicName string) (ToxicSpec, error) {
	p, err := s.get(proxyName)
	if err != nil {
		return ToxicSpec{}, err
	}
	return p.toxic(toxicName)
}

// Toxics returns a proxy's toxics in chain order.
func (s *Server) Toxics(proxyName string) ([]ToxicSpec, error) {
	p, err := s.get(proxyName)
	if err != nil {
		return nil, err
	}
	return p.toxics(), nil
}

// Reset enables every proxy and removes every toxic, as Toxiproxy's /reset
// does. It returns the first failure to listen, after trying them all.
func (s *Server) Reset() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed()
	}
	names := make([]string, 0, len(s.proxies))
	for n := range s.proxies {
		names = append(names, n)
	}
	sort.Strings(names)
	var first error
	for _, n := range names {
		p := s.proxies[n]
		if err := p.start(); err != nil && first == nil {
			first = err
		}
		_ = p.setToxics(nil)
	}
	return first
}

// Close stops every proxy, closes every connection and waits for their
// goroutines. It is idempotent; the API answers 503 afterwards.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ps := s.proxies
	s.proxies = map[string]*proxy{}
	s.mu.Unlock()
	s.cancel()
	for _, p := range ps {
		p.stop()
		p.pc.forget()
	}
	s.wg.Wait()
	return nil
}
