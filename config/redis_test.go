package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// redisBase is a config whose line 1 is free for a redis block; its route's
// rate limit is on line 6.
const redisBase = `upstreams:
  a:
    endpoints: [{address: http://127.0.0.1:1}]
routes:
  - name: api
    upstream: a
`

func withRedis(redis, rateLimit string) string {
	s := redis + "\n" + redisBase
	if rateLimit != "" {
		s += "    rate_limit: " + rateLimit + "\n"
	}
	return s
}

func TestRedisParses(t *testing.T) {
	c, err := Parse([]byte(withRedis(
		"redis: {address: 127.0.0.1:6379, timeout: 20ms, on_error: deny}",
		"{requests_per_second: 100, burst: 200, key: header:X-User-Id, scope: global}")))
	if err != nil {
		t.Fatal(err)
	}
	want := Redis{Address: "127.0.0.1:6379", Timeout: 20 * time.Millisecond, OnError: RedisOnErrorDeny}
	if *c.Redis != want {
		t.Errorf("redis = %+v; want %+v", *c.Redis, want)
	}
	if rl := c.Routes[0].RateLimit; !rl.Global() || rl.RequestsPerSecond != 100 || rl.Burst != 200 {
		t.Errorf("rate_limit = %+v; want global, 100/s, burst 200", rl)
	}
}

func TestRedisDefaults(t *testing.T) {
	c, err := Parse([]byte(withRedis("redis: {address: 'localhost:6379'}", "{requests_per_second: 5}")))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Redis.Timeout; got != DefaultRedisTimeout {
		t.Errorf("redis.timeout = %v; want %v", got, DefaultRedisTimeout)
	}
	if got := c.Redis.OnError; got != RedisOnErrorLocal {
		t.Errorf("redis.on_error = %q; want local", got)
	}
	if rl := c.Routes[0].RateLimit; rl.Scope != ScopeLocal || rl.Global() {
		t.Errorf("rate_limit.scope = %q; want local by default", rl.Scope)
	}
	c, err = Parse([]byte(redisBase))
	if err != nil {
		t.Fatal(err)
	}
	if c.Redis != nil {
		t.Errorf("redis = %+v without a redis block; want nil", c.Redis)
	}
}

// badRedisConfigs are refused with these errors, key and line. They seed
// FuzzParseRedis.
var badRedisConfigs = []struct {
	name string
	src  string
	want []string
}{
	{"global without redis", withRedis("", "{requests_per_second: 1, scope: global}"),
		[]string{"routes[0].rate_limit.scope (line 8): scope global needs a redis block"}},
	{"unknown scope", withRedis("", "{requests_per_second: 1, scope: fleet}"),
		[]string{`routes[0].rate_limit.scope (line 8): must be local or global, got "fleet"`}},
	{"no address", withRedis("redis: {timeout: 5ms}", ""),
		[]string{"redis.address (line 1): is required"}},
	{"address without port", withRedis("redis: {address: 127.0.0.1}", ""),
		[]string{`redis.address (line 1): must be host:port, got "127.0.0.1"`}},
	{"address as a URL hides its password", withRedis("redis: {address: 'redis://u:hunter2@127.0.0.1:6379'}", ""),
		[]string{`redis.address (line 1): must be host:port, not a URL, got "redis://u:xxxxx@127.0.0.1:6379"`}},
	{"negative timeout", withRedis("redis: {address: 127.0.0.1:6379, timeout: -1ms}", ""),
		[]string{"redis.timeout (line 1): must not be negative, got -1ms"}},
	{"timeout too long", withRedis("redis: {address: 127.0.0.1:6379, timeout: 2s}", ""),
		[]string{"redis.timeout (line 1): must be in (0, 1s], got 2s"}},
	{"timeout without unit", withRedis("redis: {address: 127.0.0.1:6379, timeout: 5}", ""),
		[]string{"redis.timeout (line 1): must be a duration with a unit"}},
	{"unknown on_error", withRedis("redis: {address: 127.0.0.1:6379, on_error: panic}", ""),
		[]string{`redis.on_error (line 1): must be local, allow or deny, got "panic"`}},
	{"unknown key", withRedis("redis: {address: 127.0.0.1:6379, password: x}", ""),
		[]string{"redis.password (line 1): unknown key"}},
	{"missing password file", withRedis("redis: {address: 127.0.0.1:6379, password_file: /nonexistent/redis-pass}", ""),
		[]string{"redis.password_file (line 1): cannot read: stat /nonexistent/redis-pass: no such file or directory"}},
	{"redis not a mapping", withRedis("redis: 127.0.0.1:6379", ""),
		[]string{"redis (line 1): must be a mapping"}},
}

func TestRedisErrorsNameKeyAndLine(t *testing.T) {
	for _, tt := range badRedisConfigs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src))
			checkErrors(t, err, tt.want, true)
		})
	}
}

// TestRedisPasswordNeverShown: the password is read from its file, checked,
// and never part of the config, so neither GET /config (EncodeRedacted) nor
// an error shows it.
func TestRedisPasswordNeverShown(t *testing.T) {
	const secret = "s3cret-redis-pass"
	path := filepath.Join(t.TempDir(), "redis-pass")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]byte(withRedis("redis: {address: 127.0.0.1:6379, password_file: '"+path+"'}", "{requests_per_second: 1, scope: global}")))
	if err != nil {
		t.Fatal(err)
	}
	n, err := EncodeRedacted(c)
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out); strings.Contains(s, secret) || !strings.Contains(s, "password_file: "+path) || !strings.Contains(s, "scope: global") {
		t.Errorf("GET /config shows:\n%s\nwant the password file's path, scope global, and never the password", s)
	}
	if got, err := ReadSecretFile(c.Redis.PasswordFile); err != nil || got != secret {
		t.Errorf("ReadSecretFile(password_file) = %q, %v; want the password", got, err)
	}
}

func FuzzParseRedis(f *testing.F) {
	for _, tt := range badRedisConfigs {
		f.Add([]byte(tt.src))
	}
	f.Add([]byte(withRedis("redis: {address: 127.0.0.1:6379, timeout: 20ms, on_error: allow}", "{requests_per_second: 1, scope: global}")))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		// Whatever parses keeps the contract the proxy relies on.
		if r := c.Redis; r != nil {
			if r.Timeout <= 0 || r.Timeout > MaxRedisTimeout {
				t.Errorf("parsed redis.timeout %v", r.Timeout)
			}
			switch r.OnError {
			case RedisOnErrorLocal, RedisOnErrorAllow, RedisOnErrorDeny:
			default:
				t.Errorf("parsed redis.on_error %q", r.OnError)
			}
		}
		for _, rt := range c.Routes {
			if rl := rt.RateLimit; rl != nil {
				if rl.Scope != ScopeLocal && rl.Scope != ScopeGlobal {
					t.Errorf("parsed rate_limit.scope %q", rl.Scope)
				}
				if rl.Global() && c.Redis == nil {
					t.Error("a global rate limit parsed without a redis block")
				}
			}
		}
	})
}

func TestRateLimitLease(t *testing.T) {
	c, err := Parse([]byte(withRedis("redis: {address: 127.0.0.1:6379}", "{requests_per_second: 100, scope: global, lease: 10}")))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Routes[0].RateLimit.Lease; got != 10 {
		t.Errorf("lease = %d; want 10", got)
	}
	for _, tt := range []struct{ rl, want string }{
		{"{requests_per_second: 100, lease: 10}", "routes[0].rate_limit.lease (line 8): needs scope global"},
		{"{requests_per_second: 100, scope: global, lease: 1}", "routes[0].rate_limit.lease (line 8): must be in [2, burst 100], got 1"},
		{"{requests_per_second: 100, burst: 5, scope: global, lease: 6}", "routes[0].rate_limit.lease (line 8): must be in [2, burst 5], got 6"},
	} {
		_, err := Parse([]byte(withRedis("redis: {address: 127.0.0.1:6379}", tt.rl)))
		checkErrors(t, err, []string{tt.want}, true)
	}
}
