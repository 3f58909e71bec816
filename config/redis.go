package config

import (
	"net"
	"strings"
	"time"

	"github.com/holdfast-dev/holdfast/internal/globalrate"
)

// Defaults and bounds of the redis block.
const (
	// DefaultRedisTimeout is redis.timeout when the block leaves it out.
	DefaultRedisTimeout = globalrate.DefaultTimeout
	// MaxRedisTimeout bounds redis.timeout: every request to a route with a
	// global rate limit may wait this long for Redis.
	MaxRedisTimeout = globalrate.MaxTimeout
)

// Redis is the `redis:` block: the Redis server that rate limits with
// scope global are kept in, shared by every holdfast that uses it.
type Redis struct {
	// Address is the server's host:port. Required.
	Address string `yaml:"address" json:"address"`
	// PasswordFile names a file holding the password (AUTH), read with
	// [ReadSecretFile] like admin.token_file; the password itself is never
	// in the config, so GET /config shows only the path. Default none.
	PasswordFile string `yaml:"password_file" json:"password_file"`
	// Timeout bounds each rate-limit decision's round trip to Redis; past
	// it, on_error decides. In (0, 1s]; default 5ms.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// OnError says how a global rate limit decides while Redis fails or is
	// slow: local (the route's limit, enforced by this process alone),
	// allow or deny (429). Default local.
	OnError RedisOnError `yaml:"on_error" json:"on_error"`
}

// RedisOnError is redis.on_error.
type RedisOnError string

// The values of redis.on_error.
const (
	RedisOnErrorLocal RedisOnError = "local"
	RedisOnErrorAllow RedisOnError = "allow"
	RedisOnErrorDeny  RedisOnError = "deny"
)

// RateLimitScope is rate_limit.scope: where a rate limit's buckets live.
type RateLimitScope string

// The values of rate_limit.scope.
const (
	// ScopeLocal keeps the buckets in this process. The default.
	ScopeLocal RateLimitScope = "local"
	// ScopeGlobal keeps them in the redis block's Redis, shared by every
	// holdfast that uses it.
	ScopeGlobal RateLimitScope = "global"
)

// Global reports whether a route's rate limit is kept in Redis.
func (rl *RateLimit) Global() bool { return rl != nil && rl.Scope == ScopeGlobal }

func (c *Config) applyRedisDefaults() {
	if r := c.Redis; r != nil {
		if r.Timeout == 0 {
			r.Timeout = DefaultRedisTimeout
		}
		if r.OnError == "" {
			r.OnError = RedisOnErrorLocal
		}
	}
	for _, rt := range c.Routes {
		if rt != nil && rt.RateLimit != nil && rt.RateLimit.Scope == "" {
			rt.RateLimit.Scope = ScopeLocal
		}
	}
}

func (c *Config) validateRedis(errs *errorList) {
	r := c.Redis
	if r == nil {
		return
	}
	switch host, port, err := net.SplitHostPort(r.Address); {
	case r.Address == "":
		errs.add("redis.address", "is required (host:port)")
	case strings.Contains(r.Address, "://"):
		errs.add("redis.address", "must be host:port, not a URL, got %q; put the password in redis.password_file", redact(r.Address))
	case err != nil || host == "" || port == "":
		errs.add("redis.address", "must be host:port, got %q", r.Address)
	}
	if r.PasswordFile != "" {
		if _, err := ReadSecretFile(r.PasswordFile); err != nil {
			errs.add("redis.password_file", "cannot read: %v", err)
		}
	}
	if r.Timeout <= 0 || r.Timeout > MaxRedisTimeout {
		errs.add("redis.timeout", "must be in (0, %s], got %s", MaxRedisTimeout, r.Timeout)
	}
	switch r.OnError {
	case RedisOnErrorLocal, RedisOnErrorAllow, RedisOnErrorDeny:
	default:
		errs.add("redis.on_error", "must be local, allow or deny, got %q", string(r.OnError))
	}
}

// validateScope checks a route's rate_limit.scope at p.
func (c *Config) validateScope(errs *errorList, p string, rl *RateLimit) {
	switch rl.Scope {
	case ScopeLocal:
	case ScopeGlobal:
		if c.Redis == nil {
			errs.add(p, "scope global needs a redis block (redis.address) to keep the limit in")
		}
	default:
		errs.add(p, "must be local or global, got %q", string(rl.Scope))
	}
	lp := strings.TrimSuffix(p, "scope") + "lease"
	switch {
	case rl.Lease == 0:
	case rl.Scope != ScopeGlobal:
		errs.add(lp, "needs scope global: a local limit has no round trip to save")
	case rl.Lease < 2 || rl.Lease > rl.EffectiveBurst():
		errs.add(lp, "must be in [2, burst %d], got %d", rl.EffectiveBurst(), rl.Lease)
	}
}
