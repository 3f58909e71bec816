package config

import (
	"time"

	"github.com/holdfast-dev/holdfast/internal/yamlpath"
)

// Defaults and bounds of a route's durable and idempotency blocks.
const (
	DefaultDurableAttempts     = 8
	DefaultDurableMaxAge       = 24 * time.Hour
	DefaultDurableMaxBodyBytes = 1 << 20
	DefaultDurableMaxQueued    = 100_000
	DefaultDurableWorkers      = 8
	DefaultDurablePartitions   = 16
	// MaxDurableMaxBodyBytes bounds durable.max_body_bytes and
	// idempotency.max_body_bytes: a message is one JetStream message, and
	// the embedded store's max_payload is set to hold one this large with
	// its request head.
	MaxDurableMaxBodyBytes = 8 << 20
	// MaxDurableAttempts bounds durable.attempts and the backoff list.
	MaxDurableAttempts = 1000
	// MaxDurableWorkers bounds durable.workers and durable.partitions:
	// each is a goroutine holding a pull request open on the store.
	MaxDurableWorkers = 256
	// MaxDurableMaxQueued bounds durable.max_queued.
	MaxDurableMaxQueued = 1_000_000_000

	DefaultIdempotencyTTL          = 24 * time.Hour
	DefaultIdempotencyMaxBodyBytes = 1 << 20
)

// DefaultDurableBackoff is durable.backoff when the block leaves it out:
// the wait before each attempt, the first one's included.
var DefaultDurableBackoff = []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// DefaultIdempotencyScope is idempotency.scope when the block leaves it
// out: a key is the client's own when its credentials are its own.
var DefaultIdempotencyScope = RateLimitKey{Kind: KeyHeader, Header: "Authorization"}

// Durable is a route's durable block: the proxy answers a request with 202
// once the store has it on disk, and delivers it to the upstream later,
// at least once, retrying on the backoff schedule (docs/durable.md).
type Durable struct {
	// Attempts is the most deliveries tried before the message is
	// dead-lettered. Default 8; in [1, 1000].
	Attempts int `yaml:"attempts" json:"attempts"`
	// Backoff is the wait after the nth failed delivery before the next,
	// the last repeated; a jitter of up to 20% is added, and an
	// upstream's longer Retry-After wins. Default [0s, 5s, 5m, 30m, 2h,
	// 5h, 10h, 10h].
	Backoff []time.Duration `yaml:"backoff" json:"backoff"`
	// MaxAge dead-letters a message not delivered this long after it was
	// accepted. Default 24h.
	MaxAge time.Duration `yaml:"max_age" json:"max_age"`
	// MaxBodyBytes caps an accepted body; a larger one gets 413. Default
	// 1 MiB; at most 8 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes" json:"max_body_bytes"`
	// MaxQueued caps the route's queue; past it requests get 503 with
	// Retry-After. Default 100000.
	MaxQueued int64 `yaml:"max_queued" json:"max_queued"`
	// OrderBy, when set (route, ip or header:NAME), delivers the messages
	// with the same key in the order they were accepted: one is not sent
	// before every earlier one is delivered or dead-lettered. Default
	// none: no order.
	OrderBy *RateLimitKey `yaml:"order_by" json:"order_by,omitempty"`
	// Workers is how many deliveries run at once without order_by.
	// Default 8; in [1, 256].
	Workers int `yaml:"workers" json:"workers"`
	// Partitions is how many FIFO lanes order_by hashes keys into, each
	// delivering one message at a time: keys in different lanes never wait
	// for each other. Default 16; in [1, 256].
	Partitions int `yaml:"partitions" json:"partitions"`
}

// Idempotency is a route's idempotency block: requests carrying an
// Idempotency-Key (draft-ietf-httpapi-idempotency-key-header-09) are
// forwarded once and their response replayed to repeats.
type Idempotency struct {
	// Required refuses a request without the header with 400. Default
	// false.
	Required bool `yaml:"required" json:"required"`
	// TTL is how long a response is kept for replay. Default 24h; at
	// least 1s.
	TTL time.Duration `yaml:"ttl" json:"ttl"`
	// Scope is the client attribute keys are scoped to (route, ip or
	// header:NAME, hashed before it is stored), so that a client never
	// gets another's response. Default header:Authorization.
	Scope *RateLimitKey `yaml:"scope" json:"scope,omitempty"`
	// MaxBodyBytes caps the response body kept for replay; a response with
	// a larger one is relayed but not kept (a repeat is forwarded again).
	// Default 1 MiB; at most 8 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes" json:"max_body_bytes"`
}

func (c *Config) applyDurableDefaults() {
	for _, r := range c.Routes {
		if r == nil {
			continue
		}
		if d := r.Durable; d != nil {
			if d.Attempts == 0 {
				d.Attempts = DefaultDurableAttempts
			}
			if d.Backoff == nil {
				d.Backoff = append([]time.Duration(nil), DefaultDurableBackoff...)
			}
			if d.MaxAge == 0 {
				d.MaxAge = DefaultDurableMaxAge
			}
			if d.MaxBodyBytes == 0 {
				d.MaxBodyBytes = DefaultDurableMaxBodyBytes
			}
			if d.MaxQueued == 0 {
				d.MaxQueued = DefaultDurableMaxQueued
			}
			if d.Workers == 0 {
				d.Workers = DefaultDurableWorkers
			}
			if d.Partitions == 0 {
				d.Partitions = DefaultDurablePartitions
			}
		}
		if id := r.Idempotency; id != nil {
			if id.TTL == 0 {
				id.TTL = DefaultIdempotencyTTL
			}
			if id.Scope == nil {
				s := DefaultIdempotencyScope
				id.Scope = &s
			}
			if id.MaxBodyBytes == 0 {
				id.MaxBodyBytes = DefaultIdempotencyMaxBodyBytes
			}
		}
	}
}

// durable checks a route's durable and idempotency blocks at p.
func (v *routeCheck) durable(p string, r *Route) {
	errs := v.errs
	if d := r.Durable; d != nil {
		dp := p + ".durable"
		if r.Vote != nil {
			errs.add(dp, "a durable route delivers to one upstream; it cannot vote")
		}
		if r.LongLived {
			errs.add(dp, "a durable route stores whole requests; it cannot be long_lived")
		}
		if d.Attempts < 1 || d.Attempts > MaxDurableAttempts {
			errs.add(dp+".attempts", "must be in [1, %d], got %d", MaxDurableAttempts, d.Attempts)
		}
		if len(d.Backoff) == 0 || len(d.Backoff) > MaxDurableAttempts {
			errs.add(dp+".backoff", "must list 1 to %d durations, got %d", MaxDurableAttempts, len(d.Backoff))
		}
		for j, b := range d.Backoff {
			if b < 0 {
				errs.add(yamlpath.Index(dp+".backoff", j), "must not be negative, got %s", b)
			}
		}
		if d.MaxAge <= 0 {
			errs.add(dp+".max_age", "must be positive, got %s", d.MaxAge)
		}
		if d.MaxBodyBytes < 1 || d.MaxBodyBytes > MaxDurableMaxBodyBytes {
			errs.add(dp+".max_body_bytes", "must be in [1, %d] (8 MiB), got %d", MaxDurableMaxBodyBytes, d.MaxBodyBytes)
		}
		if d.MaxQueued < 1 || d.MaxQueued > MaxDurableMaxQueued {
			errs.add(dp+".max_queued", "must be in [1, %d], got %d", MaxDurableMaxQueued, d.MaxQueued)
		}
		if d.Workers < 1 || d.Workers > MaxDurableWorkers {
			errs.add(dp+".workers", "must be in [1, %d], got %d", MaxDurableWorkers, d.Workers)
		}
		if d.Partitions < 1 || d.Partitions > MaxDurableWorkers {
			errs.add(dp+".partitions", "must be in [1, %d], got %d", MaxDurableWorkers, d.Partitions)
		}
	}
	if id := r.Idempotency; id != nil {
		ip := p + ".idempotency"
		if r.LongLived {
			errs.add(ip, "a long_lived route's responses are streams; they cannot be kept for replay")
		}
		if id.TTL < time.Second {
			errs.add(ip+".ttl", "must be at least 1s, got %s", id.TTL)
		}
		if id.MaxBodyBytes < 1 || id.MaxBodyBytes > MaxDurableMaxBodyBytes {
			errs.add(ip+".max_body_bytes", "must be in [1, %d] (8 MiB), got %d", MaxDurableMaxBodyBytes, id.MaxBodyBytes)
		}
	}
}
