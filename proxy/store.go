package proxy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/store"
)

// openStore opens the config's store when a route needs one (or takes
// Options.Store), with the bucket of message statuses and the stream of
// dead letters that every durable route shares.
func (p *Proxy) openStore(cfg *config.Config) error {
	if !cfg.NeedsStore() {
		return nil
	}
	s := p.opts.Store
	if s == nil {
		var err error
		s, err = store.Open(store.Config{DataDir: cfg.Store.DataDir, URL: cfg.Store.NATS.URL, Replicas: cfg.Store.NATS.Replicas, Logger: p.opts.Logger})
		if err != nil {
			return err
		}
		p.ownStore = true
	}
	p.store = s
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var maxAge time.Duration
	for _, r := range cfg.Routes {
		if r.Durable != nil {
			maxAge = max(maxAge, r.Durable.MaxAge)
		}
	}
	var err error
	if p.statusKV, err = s.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: statusBucket, Description: "holdfast durable message status", TTL: max(maxAge, config.DefaultDurableMaxAge) + statusTTL,
		Storage: jetstream.FileStorage, Replicas: s.Replicas(), History: 1,
	}); err != nil {
		return fmt.Errorf("store: status bucket: %w", err)
	}
	if p.deadStream, err = s.JetStream().CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: deadStream, Description: "holdfast dead letters", Subjects: []string{deadSubject + ">"},
		Storage: jetstream.FileStorage, Replicas: s.Replicas(), MaxMsgSize: store.MaxPayload,
	}); err != nil {
		return fmt.Errorf("store: dead-letter stream: %w", err)
	}
	return nil
}

// errStoreNeedsRestart is a reload's error when it would need a store the
// process did not open, or another one.
var errStoreNeedsRestart = errors.New("store: the store block, or the first durable or idempotency route, takes effect on restart")

func (p *Proxy) closeStore() {
	if p.ownStore && p.store != nil {
		p.store.Close()
	}
}
