package admin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/alert"
	"github.com/holdfast-dev/holdfast/proxy"
	"github.com/holdfast-dev/holdfast/slo"
)

// DefaultListen is the admin address when [Config].Listen is empty,
// [config.DefaultAdminListen].
const DefaultListen = config.DefaultAdminListen

// maxBodyBytes bounds a request body to the admin API. No endpoint reads
// one; the bound keeps a client from making the server read a large one.
const maxBodyBytes = 64 << 10

// shutdownGrace bounds how long Close waits for admin requests in flight.
const shutdownGrace = 5 * time.Second

// Config configures the admin [Server]: the `admin:` block of the config
// file, [config.Admin], checked by [config.Admin.Validate], and what the
// program that runs the proxy passes in.
type Config struct {
	// Admin is where the server listens and the token file that mutating
	// endpoints (POST /reload, /quiesce, /unquiesce) require, read once
	// by New with [config.ReadSecretFile]. Its zero value listens on
	// 127.0.0.1:9901 with no token: mutating endpoints are then open to
	// anyone who can reach the loopback address.
	config.Admin `yaml:",inline" json:",inline"`

	// Proxy is the proxy whose state the server reports. Required.
	Proxy *proxy.Proxy `yaml:"-" json:"-"`

	// Metrics are served at /metrics and feed the status page's traffic
	// figures. Nil means a fresh [NewMetrics] that watches Proxy: gauges
	// only, since nothing feeds it requests or events.
	Metrics *Metrics `yaml:"-" json:"-"`

	// Timeline is served at GET /status/timeline and drawn on the status
	// page. Nil means a fresh [NewTimeline] that watches Proxy: empty, since
	// nothing feeds it events or reloads.
	Timeline *Timeline `yaml:"-" json:"-"`

	// SLOs are the objectives GET /status reports (slo.go). Nil means none.
	SLOs *slo.Set `yaml:"-" json:"-"`
	// Alerts are the burn-rate alerts GET /status reports (alert.go). Nil
	// means none.
	Alerts *alert.Manager `yaml:"-" json:"-"`

	// Reload re-reads and applies the config file for POST /reload. Nil
	// means POST /reload answers 501. The server does not record reloads on
	// the Timeline: Reload (or what it calls) does, with
	// [Timeline.RecordReload], so that reloads asked for otherwise (a
	// signal) are recorded the same way.
	Reload func(context.Context) error `yaml:"-" json:"-"`

	// Logger logs admin actions and refused requests (never a token or an
	// Authorization header). Nil is silent.
	Logger *slog.Logger `yaml:"-" json:"-"`
}

// Validate reports what is wrong with c once defaults are applied, as
// [*holdfast.ConfigError] values joined together: the `admin:` block's
// errors from [config.Admin.Validate], and a missing Proxy.
func (c Config) Validate() error {
	var errs []error
	if err := c.Admin.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Proxy == nil {
		errs = append(errs, holdfast.ConfigErrorf("admin", "proxy", "is required"))
	}
	return errors.Join(errs...)
}

// Server is the admin API and status page of a running proxy. Create it
// with [New]; it serves until [Server.Close]. It is safe for concurrent use.
type Server struct {
	cfg      Config
	token    token
	metrics  *Metrics
	timeline *Timeline
	loopback bool
	handler  http.Handler
	ln       net.Listener
	srv      *http.Server
	served   chan struct{} // closed when the serving goroutine returns

	draining  atomic.Bool
	quiesced  atomic.Bool
	closeOnce sync.Once
}

// New validates c, reads the token file, binds c.Listen and starts serving
// in a goroutine that [Server.Close] stops.
func New(c Config) (*Server, error) {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: c, metrics: c.Metrics, timeline: c.Timeline, loopback: config.IsLoopback(c.Listen), served: make(chan struct{})}
	if c.TokenFile != "" {
		secret, err := config.ReadSecretFile(c.TokenFile)
		if err != nil {
			return nil, holdfast.ConfigErrorf("admin", "token_file", "cannot read: %v", err)
		}
		s.token = newToken(secret)
	}
	if s.metrics == nil {
		s.metrics = NewMetrics()
		s.metrics.Watch(c.Proxy)
	}
	if s.timeline == nil {
		s.timeline = NewTimeline(0)
		s.timeline.Watch(c.Proxy)
	}
	s.handler = s.routes()
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	if c.Logger != nil {
		s.srv.ErrorLog = slog.NewLogLogger(c.Logger.Handler(), slog.LevelDebug)
	}
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log(slog.LevelError, "admin server stopped", "err", err.Error())
		}
	}()
	return s, nil
}

// Addr returns the bound address, such as "127.0.0.1:9901".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Handler returns the server's HTTP handler, for tests and for serving it
// on another listener as well.
func (s *Server) Handler() http.Handler { return s.handler }

// Metrics returns the metrics the server exposes.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Timeline returns the timeline the server shows.
func (s *Server) Timeline() *Timeline { return s.timeline }

// SetDraining makes /readyz fail from now on: the process is shutting down.
func (s *Server) SetDraining() { s.draining.Store(true) }

// SetQuiesced makes /readyz fail (true) or pass again (false) while the
// proxy keeps serving, so a load balancer moves traffic away first.
func (s *Server) SetQuiesced(q bool) { s.quiesced.Store(q) }

// Ready reports whether /readyz passes: neither draining nor quiesced, nor
// a route quiesced whose quiesce.fail_readyz is set.
func (s *Server) Ready() bool {
	return !s.draining.Load() && !s.quiesced.Load() && len(s.cfg.Proxy.UnreadyRoutes()) == 0
}

// Close stops the server, letting admin requests in flight finish for a few
// seconds. It is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.srv.Close()
		}
		<-s.served
	})
}

func (s *Server) log(level slog.Level, msg string, args ...any) {
	if s.cfg.Logger != nil {
		s.cfg.Logger.Log(context.Background(), level, msg, args...)
	}
}

// writeJSON answers with v as indented JSON, never cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	writeJSONBody(w, status, body, err)
}

// writeCompactJSON answers with v as JSON without indentation, for answers
// made of long arrays of numbers, which indentation would put one a line.
func writeCompactJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	writeJSONBody(w, status, body, err)
}

func writeJSONBody(w http.ResponseWriter, status int, body []byte, err error) {
	if err != nil {
		http.Error(w, "cannot encode the answer", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}
