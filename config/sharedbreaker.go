package config

import (
	"time"

	"github.com/holdfast-dev/holdfast/internal/fleetbreaker"
)

// Bounds of an upstream's shared_breaker.
const (
	MinSharedBreakerSync = 10 * time.Millisecond
	MaxSharedBreakerSync = 10 * time.Second
)

// SharedBreaker is an upstream's `shared_breaker:` block: its circuit
// breaker shares what it sees with the same upstream's breakers in every
// holdfast that uses the redis block's Redis, and opens when the fleet
// together has seen the upstream fail (package internal/fleetbreaker).
// Each request is still decided by this process's breaker alone.
type SharedBreaker struct {
	// Quorum is how many processes must have seen the upstream fail before
	// the fleet opens the breaker for all. Default 2.
	Quorum int `yaml:"quorum" json:"quorum"`
	// SyncInterval is how often this process syncs with the fleet: what
	// it counted out, the fleet's state in. In [10ms, 10s]; default 100ms.
	SyncInterval time.Duration `yaml:"sync_interval" json:"sync_interval"`
}

func applySharedBreakerDefaults(u *Upstream) {
	if s := u.SharedBreaker; s != nil {
		if s.Quorum == 0 {
			s.Quorum = fleetbreaker.DefaultQuorum
		}
		if s.SyncInterval == 0 {
			s.SyncInterval = fleetbreaker.DefaultInterval
		}
	}
}

func (c *Config) validateSharedBreaker(errs *errorList, p string, u *Upstream) {
	s := u.SharedBreaker
	if s == nil {
		return
	}
	p += ".shared_breaker"
	if u.CircuitBreaker == nil {
		errs.add(p, "needs the upstream's circuit_breaker: it shares that breaker")
	}
	if c.Redis == nil {
		errs.add(p, "needs the redis block: the fleet shares the breaker through it")
	}
	if s.Quorum < 1 {
		errs.add(p+".quorum", "must be at least 1, got %d", s.Quorum)
	}
	if s.SyncInterval < MinSharedBreakerSync || s.SyncInterval > MaxSharedBreakerSync {
		errs.add(p+".sync_interval", "must be in [%s, %s], got %s", MinSharedBreakerSync, MaxSharedBreakerSync, s.SyncInterval)
	}
}
