package config

import (
	"testing"
	"time"
)

// sharedBase is a config with a redis block on line 1 (or none) and the
// upstream's shared_breaker and circuit_breaker on lines 5 and 6.
func sharedBase(redis, shared, breaker string) string {
	return redis + `
upstreams:
  a:
    endpoints: [{address: http://127.0.0.1:1}]
    shared_breaker: ` + shared + `
    circuit_breaker: ` + breaker + `
routes:
  - name: api
    upstream: a
`
}

func TestSharedBreakerParses(t *testing.T) {
	c, err := Parse([]byte(sharedBase("redis: {address: 127.0.0.1:6379}", "{quorum: 3, sync_interval: 250ms}", "{failure_rate: 0.5}")))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Upstreams["a"].SharedBreaker; s == nil || s.Quorum != 3 || s.SyncInterval != 250*time.Millisecond {
		t.Errorf("shared_breaker = %+v; want quorum 3, sync_interval 250ms", s)
	}
	c, err = Parse([]byte(sharedBase("redis: {address: 127.0.0.1:6379}", "{}", "{failure_rate: 0.5}")))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Upstreams["a"].SharedBreaker; s == nil || s.Quorum != 2 || s.SyncInterval != 100*time.Millisecond {
		t.Errorf("shared_breaker: {} = %+v; want the defaults, quorum 2 and sync_interval 100ms", s)
	}
}

var badSharedBreakerConfigs = []struct {
	name, src string
	want      []string
}{
	{"without redis", sharedBase("", "{}", "{failure_rate: 0.5}"),
		[]string{"upstreams.a.shared_breaker (line 5): needs the redis block"}},
	{"without a breaker", sharedBase("redis: {address: 127.0.0.1:6379}", "{}", "null"),
		[]string{"upstreams.a.shared_breaker (line 5): needs the upstream's circuit_breaker"}},
	{"quorum 0 after the default is impossible, negative", sharedBase("redis: {address: 127.0.0.1:6379}", "{quorum: -1}", "{failure_rate: 0.5}"),
		[]string{"upstreams.a.shared_breaker.quorum (line 5): must be at least 1, got -1"}},
	{"sync too fast", sharedBase("redis: {address: 127.0.0.1:6379}", "{sync_interval: 1ms}", "{failure_rate: 0.5}"),
		[]string{"upstreams.a.shared_breaker.sync_interval (line 5): must be in [10ms, 10s], got 1ms"}},
	{"unknown key", sharedBase("redis: {address: 127.0.0.1:6379}", "{quorom: 2}", "{failure_rate: 0.5}"),
		[]string{"upstreams.a.shared_breaker.quorom (line 5): unknown key"}},
}

func TestSharedBreakerErrorsNameKeyAndLine(t *testing.T) {
	for _, tt := range badSharedBreakerConfigs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src))
			checkErrors(t, err, tt.want, true)
		})
	}
}

func FuzzParseSharedBreaker(f *testing.F) {
	for _, tt := range badSharedBreakerConfigs {
		f.Add(tt.src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		Parse([]byte(src)) // must not panic
	})
}
