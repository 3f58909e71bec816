package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// MaxPayload is the embedded server's max_payload: a durable message (a
// request of up to 8 MiB body plus its head) fits.
const MaxPayload = 16 << 20

// startTimeout bounds how long Open waits for the embedded server.
const startTimeout = 30 * time.Second

// ErrUnavailable is what Open returns, wrapped, when the store cannot be
// opened.
var ErrUnavailable = errors.New("store: unavailable")

// Config says which store to open.
type Config struct {
	// DataDir is the embedded server's directory; used when URL is empty.
	DataDir string
	// URL lists an external cluster's servers, separated by commas.
	// Empty means the embedded server.
	URL string
	// Replicas is how many servers keep each stream. Default 1.
	Replicas int
	// Logger receives connection events. Nil is silent.
	Logger *slog.Logger
}

// Store is an open JetStream. It is safe for concurrent use.
type Store struct {
	srv      *server.Server // the embedded server; nil for an external cluster
	lock     *os.File       // the embedded server's data_dir lock
	nc       *nats.Conn
	js       jetstream.JetStream
	replicas int
	once     sync.Once
}

// Open starts the embedded server or connects to the cluster. The embedded
// server's file store syncs every write to disk before it acknowledges it
// (the server's sync_interval: always), so what a publish acknowledged
// survives the process and the machine losing power.
func Open(cfg Config) (*Store, error) {
	s := &Store{replicas: max(cfg.Replicas, 1)}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts := []nats.Option{
		nats.Name("holdfast"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			logger.Warn("store disconnected", "err", err)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			logger.Warn("store error", "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { logger.Info("store reconnected", "server", c.ConnectedUrlRedacted()) }),
	}
	url := cfg.URL
	if url == "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("%w: data_dir: %v", ErrUnavailable, err)
		}
		lock, err := lockDir(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("%w: data_dir: %w", ErrUnavailable, err)
		}
		s.lock = lock
		srv, err := server.NewServer(&server.Options{
			ServerName: "holdfast",
			JetStream:  true,
			StoreDir:   cfg.DataDir,
			SyncAlways: true,
			DontListen: true,
			NoSigs:     true,
			NoLog:      true,
			MaxPayload: MaxPayload,
		})
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		srv.Start()
		if !srv.ReadyForConnections(startTimeout) {
			srv.Shutdown()
			s.Close()
			return nil, fmt.Errorf("%w: the embedded server did not start in %s", ErrUnavailable, startTimeout)
		}
		s.srv = srv
		opts = append(opts, nats.InProcessServer(srv))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	s.nc = nc
	if s.js, err = jetstream.New(nc); err != nil {
		s.Close()
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return s, nil
}

// JetStream returns the store's JetStream context.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// Replicas is the number of servers each stream is kept on.
func (s *Store) Replicas() int { return s.replicas }

// Embedded reports whether the store is the in-process server.
func (s *Store) Embedded() bool { return s.srv != nil }

// Connected reports whether the client is connected to the store.
func (s *Store) Connected() bool { return s.nc != nil && s.nc.IsConnected() }

// Close drains the connection and stops the embedded server, which syncs
// and closes its files. It is idempotent.
func (s *Store) Close() {
	s.once.Do(func() {
		if s.nc != nil {
			s.nc.Close()
		}
		if s.srv != nil {
			s.srv.Shutdown()
			s.srv.WaitForShutdown()
		}
		if s.lock != nil {
			s.lock.Close()
		}
	})
}
