package config

import (
	"net/url"
	"strings"
)

// Defaults and bounds of the store block.
const (
	// DefaultStoreDataDir is store.data_dir when the block leaves it out
	// and names no NATS cluster.
	DefaultStoreDataDir = "./holdfast-data"
	// MaxStoreReplicas bounds store.nats.replicas, as JetStream does.
	MaxStoreReplicas = 5
)

// Store is the `store:` block: where durable routes keep their queues and
// idempotency records keep their responses. By default an embedded NATS
// JetStream server, in this process, writing to DataDir with a sync to
// disk on every write and no port opened; with NATS.URL, an external
// JetStream cluster that a fleet of proxies shares (docs/durable.md).
// The store is opened only when a route needs it.
type Store struct {
	// DataDir is the embedded store's directory. Default
	// ./holdfast-data; ignored with nats.url.
	DataDir string `yaml:"data_dir" json:"data_dir"`
	// NATS names an external JetStream cluster instead.
	NATS StoreNATS `yaml:"nats" json:"nats"`
}

// StoreNATS is store.nats.
type StoreNATS struct {
	// URL lists the cluster's servers, nats:// or tls:// URLs separated by
	// commas. Default "": the embedded store.
	URL string `yaml:"url" json:"url"`
	// Replicas is how many servers keep each queue and record. Default 1;
	// in [1, 5]; 1 with the embedded store.
	Replicas int `yaml:"replicas" json:"replicas"`
}

// Embedded reports whether the store is the embedded one.
func (s Store) Embedded() bool { return s.NATS.URL == "" }

// NeedsStore reports whether any route keeps state in the store.
func (c *Config) NeedsStore() bool {
	for _, r := range c.Routes {
		if r != nil && (r.Durable != nil || r.Idempotency != nil) {
			return true
		}
	}
	return false
}

func (c *Config) applyStoreDefaults() {
	s := &c.Store
	if s.Embedded() && s.DataDir == "" {
		s.DataDir = DefaultStoreDataDir
	}
	if s.NATS.Replicas == 0 {
		s.NATS.Replicas = 1
	}
	c.applyDurableDefaults()
}

func (c *Config) validateStore(errs *errorList) {
	s := c.Store
	if n := s.NATS.Replicas; n < 1 || n > MaxStoreReplicas {
		errs.add("store.nats.replicas", "must be in [1, %d], got %d", MaxStoreReplicas, n)
	} else if s.Embedded() && n != 1 {
		errs.add("store.nats.replicas", "must be 1 with the embedded store (set store.nats.url for a cluster), got %d", n)
	}
	if !s.Embedded() {
		for u := range strings.SplitSeq(s.NATS.URL, ",") {
			pu, err := url.Parse(strings.TrimSpace(u))
			if err != nil || (pu.Scheme != "nats" && pu.Scheme != "tls") || pu.Host == "" {
				errs.add("store.nats.url", "must be nats:// or tls:// URLs separated by commas, got %q", redact(u))
				break
			}
		}
	}
	if strings.ContainsRune(s.DataDir, 0) {
		errs.add("store.data_dir", "must be a directory path")
	}
}
