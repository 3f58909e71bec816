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

// Server runs the proxy's data-plane listeners: HTTP/1.1, and HTTP/2 over
// cleartext with prior knowledge (h2c), on every listen address.
type Server struct {
	proxy   *Proxy
	servers []*http.Server
	lns     []net.Listener
	logger  *slog.Logger

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
		protocols := new(http.Protocols)
		protocols.SetHTTP1(true)
		protocols.SetUnencryptedHTTP2(true)
		lim := cfg.Limits
		srv := &http.Server{
			Handler:           p,
			Protocols:         protocols,
			MaxHeaderBytes:    lim.MaxHeaderBytes,
			ReadHeaderTimeout: lim.ReadHeaderTimeout,
			ReadTimeout:       lim.ReadTimeout,
			IdleTimeout:       lim.IdleTimeout,
			HTTP2: &http.HTTP2Config{
				MaxReceiveBufferPerStream: 1 << 20,
			},
			ErrorLog: nil,
			// Each connection is an inspectConn (see h1inspect.go), and
			// every request's handler takes the framing verdict on its
			// head; ConnContext makes the connection reachable from the
			// request, and ConnState stops the framing at a hijack.
			ConnContext: withInspector,
			ConnState:   stepAsideOnHijack,
			// net/http answers "OPTIONS *" itself by default, and the
			// handler would then miss that request's verdict.
			DisableGeneralOptionsHandler: true,
		}
		if logger != nil {
			srv.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelDebug)
		}
		s.servers = append(s.servers, srv)
	}
	return s, nil
}

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
	errc := make(chan error, len(s.servers))
	for i, srv := range s.servers {
		go func() { errc <- srv.Serve(inspectListener{s.lns[i]}) }()
	}
	var first error
	for range s.servers {
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
	var wg sync.WaitGroup
	errs := make([]error, len(s.servers))
	for i, srv := range s.servers {
		wg.Go(func() {
			if err := srv.Shutdown(ctx); err != nil {
				srv.Close()
				errs[i] = err
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
