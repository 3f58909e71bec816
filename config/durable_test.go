package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// durableBase has one upstream and a route whose blocks withDurable adds
// from line 7 on.
const durableBase = `upstreams:
  orders: {endpoints: [{address: http://127.0.0.1:1}]}
routes:
  - name: orders
    match: {path_prefix: /orders}
    upstream: orders
`

func TestDurableParses(t *testing.T) {
	c, err := Parse([]byte(`store:
  data_dir: /var/lib/holdfast
` + durableBase + `    durable:
      attempts: 3
      backoff: [0s, 1s]
      max_age: 1h
      max_body_bytes: 4096
      max_queued: 10
      order_by: header:x-account-id
    idempotency: {required: true, ttl: 1m, scope: ip}
`))
	if err != nil {
		t.Fatal(err)
	}
	key := RateLimitKey{Kind: KeyHeader, Header: "X-Account-Id"}
	want := Durable{Attempts: 3, Backoff: []time.Duration{0, time.Second}, MaxAge: time.Hour, MaxBodyBytes: 4096,
		MaxQueued: 10, OrderBy: &key, Workers: DefaultDurableWorkers, Partitions: DefaultDurablePartitions}
	if diff := cmp.Diff(want, *c.Routes[0].Durable); diff != "" {
		t.Errorf("durable (-want +got):\n%s", diff)
	}
	ip := RateLimitKey{Kind: KeyIP}
	wantIdem := Idempotency{Required: true, TTL: time.Minute, Scope: &ip, MaxBodyBytes: DefaultIdempotencyMaxBodyBytes}
	if diff := cmp.Diff(wantIdem, *c.Routes[0].Idempotency); diff != "" {
		t.Errorf("idempotency (-want +got):\n%s", diff)
	}
	if got, want := c.Store, (Store{DataDir: "/var/lib/holdfast", NATS: StoreNATS{Replicas: 1}}); got != want {
		t.Errorf("store = %+v; want %+v", got, want)
	}
	if !c.NeedsStore() {
		t.Error("NeedsStore() = false; want true")
	}
}

func TestDurableDefaults(t *testing.T) {
	c, err := Parse([]byte(durableBase + "    durable: {}\n    idempotency: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Durable{Attempts: 8, Backoff: DefaultDurableBackoff, MaxAge: 24 * time.Hour, MaxBodyBytes: 1 << 20,
		MaxQueued: 100_000, Workers: 8, Partitions: 16}
	if diff := cmp.Diff(want, *c.Routes[0].Durable); diff != "" {
		t.Errorf("durable (-want +got):\n%s", diff)
	}
	scope := DefaultIdempotencyScope
	wantIdem := Idempotency{TTL: 24 * time.Hour, Scope: &scope, MaxBodyBytes: 1 << 20}
	if diff := cmp.Diff(wantIdem, *c.Routes[0].Idempotency); diff != "" {
		t.Errorf("idempotency (-want +got):\n%s", diff)
	}
	if got := c.Store.DataDir; got != DefaultStoreDataDir {
		t.Errorf("store.data_dir = %q; want %q", got, DefaultStoreDataDir)
	}
}

func TestDurableErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"attempts", durableBase + "    durable: {attempts: -1}\n", "routes[0].durable.attempts (line 7): must be in [1, 1000]"},
		{"backoff negative", durableBase + "    durable:\n      backoff: [1s, -1s]\n", "routes[0].durable.backoff[1] (line 8): must not be negative"},
		{"backoff empty", durableBase + "    durable: {backoff: []}\n", "routes[0].durable.backoff (line 7): must list 1 to 1000"},
		{"max_age", durableBase + "    durable: {max_age: -1s}\n", "routes[0].durable.max_age (line 7): must not be negative"},
		{"body", durableBase + "    durable: {max_body_bytes: 99999999}\n", "routes[0].durable.max_body_bytes (line 7): must be in [1, 8388608]"},
		{"queued", durableBase + "    durable: {max_queued: -5}\n", "routes[0].durable.max_queued (line 7): must be in [1,"},
		{"workers", durableBase + "    durable: {workers: 1000}\n", "routes[0].durable.workers (line 7): must be in [1, 256]"},
		{"order_by", durableBase + "    durable: {order_by: cookie}\n", "routes[0].durable.order_by (line 7): must be route, ip or header:NAME"},
		{"unknown", durableBase + "    durable: {attempt: 3}\n", "routes[0].durable.attempt (line 7)"},
		{"long lived", durableBase + "    long_lived: true\n    durable: {}\n", "routes[0].durable (line 8): a durable route stores whole requests"},
		{"ttl", durableBase + "    idempotency: {ttl: 1ms}\n", "routes[0].idempotency.ttl (line 7): must be at least 1s"},
		{"scope", durableBase + "    idempotency: {scope: 'header:'}\n", "routes[0].idempotency.scope (line 7): must be route, ip or header:NAME"},
		{"idem unknown", durableBase + "    idempotency: {requried: true}\n", "routes[0].idempotency.requried (line 7)"},
		{"replicas embedded", "store: {nats: {replicas: 3}}\n" + durableBase, "store.nats.replicas (line 1): must be 1 with the embedded store"},
		{"replicas", "store: {nats: {url: 'nats://127.0.0.1:4222', replicas: 7}}\n" + durableBase, "store.nats.replicas (line 1): must be in [1, 5]"},
		{"url", "store: {nats: {url: 'http://x'}}\n" + durableBase, "store.nats.url (line 1): must be nats:// or tls://"},
		{"store unknown", "store: {dir: x}\n" + durableBase, "store.dir (line 1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src))
			if err == nil {
				t.Fatalf("Parse: no error; want %q", tt.want)
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T; want Errors", err)
			}
			if got := err.Error(); !strings.Contains(got, tt.want) {
				t.Errorf("error = %q; want it to contain %q", got, tt.want)
			}
		})
	}
}

// FuzzDurableConfig: no durable or idempotency block, however hostile,
// panics the parser, and one that parses is within its bounds.
func FuzzDurableConfig(f *testing.F) {
	f.Add("{attempts: 3, backoff: [0s, 1s], max_age: 1h, order_by: header:x}", "{ttl: 1m, scope: ip}")
	f.Add("{max_queued: -1}", "{scope: 'header:'}")
	f.Add("[]", "7")
	f.Fuzz(func(t *testing.T, durable, idem string) {
		c, err := Parse([]byte(durableBase + "    durable: " + durable + "\n    idempotency: " + idem + "\n"))
		if err != nil {
			return
		}
		if d := c.Routes[0].Durable; d != nil && (d.Attempts < 1 || len(d.Backoff) == 0 || d.MaxBodyBytes < 1 || d.Workers < 1 || d.Partitions < 1) {
			t.Errorf("accepted out-of-bounds durable %+v", d)
		}
		if id := c.Routes[0].Idempotency; id != nil && (id.TTL < time.Second || id.Scope == nil) {
			t.Errorf("accepted out-of-bounds idempotency %+v", id)
		}
	})
}
