package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/holdfast-dev/holdfast/config"
)

// Server runs the proxy's data-plane listeners: HTTP/1.1 on its own
// server (h1server.go), and HTTP/2 over cleartext with prior knowledge
// (h2c), handed to net/http's HTTP/2 server, on every listen address.
type Server struct {
	proxy  *Proxy
	h1     *h1Server
	lns    []net.Listener
	logger *slog.Logger

	mu       sync.Mutex
	shutdown bool
}

// NewServer binds the listen addresses of cfg. Binding happens here, so a
// port already in use is reported before anything is served.
func NewServer(p *Proxy, cfg *config.Config, logger *slog.Logger) (*Server, error) {
	s := &Server{proxy: p, logger: logger}
	for _, addr := range cfg.Listen {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range s.lns {
				l.Close()
			}
			return nil, err
		}
		s.lns = append(s.lns, ln)
	}
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	lim := cfg.Limits
	h2 := &http.Server{
		Handler:   p,
		Protocols: protocols,
		// HTTP/2 has no head-of-line framing to smuggle through, and
		// net/http's limits apply to its header frames.
		MaxHeaderBytes: lim.MaxHeaderBytes,
		IdleTimeout:    lim.IdleTimeout,
		HTTP2: &http.HTTP2Config{
			MaxReceiveBufferPerStream: 1 << 20,
			// The protocol's default, not Go's 1 MiB: what a client may
			// send in one frame, and what h2Guard buffers of one.
			MaxReadFrameSize: h2MaxFrame,
		},
	}
	if logger != nil {
		h2.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelDebug)
	}
	s.h1 = newH1Server(p, h1Limits{
		maxHeaderBytes:    lim.MaxHeaderBytes,
		readHeaderTimeout: lim.ReadHeaderTimeout,
		readTimeout:       lim.ReadTimeout,
		idleTimeout:       lim.IdleTimeout,
		maxConns:          lim.MaxConnections,
	}, h2, logger)
	return s, nil
}

// Connections counts the client connections of the listeners, by state.
func (s *Server) Connections() ConnStats { return s.h1.connStats() }

// Addrs returns the bound listen addresses.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, len(s.lns))
	for i, l := range s.lns {
		out[i] = l.Addr()
	}
	return out
}

// Serve serves every listener until Shutdown; it returns the first error
// other than a clean shutdown.
func (s *Server) Serve() error {
	errc := make(chan error, len(s.lns))
	for _, ln := range s.lns {
		go func() { errc <- s.h1.serve(ln) }()
	}
	var first error
	for range s.lns {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) && first == nil {
			first = err
		}
	}
	return first
}

// Shutdown stops accepting, lets in-flight requests finish until ctx ends,
// then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		return nil
	}
	s.shutdown = true
	s.mu.Unlock()
	s.h1.closing.Store(true)
	for _, ln := range s.lns {
		ln.Close()
	}
	err := s.h1.shutdown(ctx)
	if err != nil {
		s.h1.close()
	}
	return err
}
