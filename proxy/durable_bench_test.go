package proxy

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/store"
)

// BenchmarkDurableAccept compares, in one run on one disk, a durable
// route's accept (HTTP POST to 202, through the proxy's listener) with the
// engine's own limit: a raw JetStream publish of the same size to an
// embedded store with the same sync on every write. It reports p50 and p99
// per operation. Run with -benchtime=Nx; the target is an accept
// rate at least half the raw one.
func BenchmarkDurableAccept(b *testing.B) {
	body := strings.Repeat("x", 512)
	b.Run("raw-publish", func(b *testing.B) {
		s, err := store.Open(store.Config{DataDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		ctx := context.Background()
		if _, err := s.JetStream().CreateStream(ctx, jetstream.StreamConfig{Name: "RAW", Subjects: []string{"raw"}, Retention: jetstream.WorkQueuePolicy}); err != nil {
			b.Fatal(err)
		}
		data := []byte(body)
		lat := make([]time.Duration, 0, 1024)
		b.ReportAllocs()
		for b.Loop() {
			t0 := time.Now()
			if _, err := s.JetStream().Publish(ctx, "raw", data); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		reportLatency(b, lat)
	})
	b.Run("durable-route", func(b *testing.B) {
		// The upstream is down (nothing listens on port 1), so the
		// accepted messages stay queued and no delivery competes.
		cfg := yamlf(`listen: 127.0.0.1:0
store: {data_dir: %s}
upstreams:
	orders: {endpoints: [{address: http://127.0.0.1:1}]}
routes:
	- name: orders
		match: {path_prefix: /orders}
		upstream: orders
		durable: {backoff: [1h]}
`, b.TempDir())
		c, err := config.Parse([]byte(cfg))
		if err != nil {
			b.Fatal(err)
		}
		p, err := New(c, Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		srv, err := NewServer(p, c, nil)
		if err != nil {
			b.Fatal(err)
		}
		go srv.Serve()
		defer srv.Shutdown(context.Background())
		url := "http://" + srv.Addrs()[0].String() + "/orders"
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		lat := make([]time.Duration, 0, 1024)
		b.ReportAllocs()
		for b.Loop() {
			t0 := time.Now()
			resp, err := client.Post(url, "text/plain", strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				b.Fatalf("POST: %d", resp.StatusCode)
			}
			lat = append(lat, time.Since(t0))
		}
		reportLatency(b, lat)
	})
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
