package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/store"
)

// BenchmarkDurableAccept compares, in one run on one disk, a durable
// route's accept (HTTP POST to 202, through the proxy's listener) with the
// engine's own limit: a raw JetStream publish of the same size to an
// embedded store with the same sync on every write, each at the same
// concurrency (c: that many clients, each waiting for its 202 or its
// publish ack before it sends the next, over one NATS connection for the
// raw publishes as for the proxy's). Each raw run is followed by the
// durable run at the same c, so that both see the same machine. It
// reports the rate and p50 and p99 per operation. Run with -benchtime=Nx;
// the target is an accept rate at least half the raw one.
func BenchmarkDurableAccept(b *testing.B) {
	body := strings.Repeat("x", 512)
	for _, c := range []int{1, 16} {
		b.Run(fmt.Sprintf("raw-publish/c=%d", c), func(b *testing.B) {
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
			runClients(b, c, func() error {
				_, err := s.JetStream().Publish(ctx, "raw", data)
				return err
			})
		})
		b.Run(fmt.Sprintf("durable-route/c=%d", c), func(b *testing.B) {
			// Accept alone, as the raw side is publish alone: the route's
			// workers are stopped below (and its upstream is down), so no
			// delivery's status writes and acks share the disk.
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
			conf, err := config.Parse([]byte(cfg))
			if err != nil {
				b.Fatal(err)
			}
			p, err := New(conf, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			p.state.Load().route("orders").durable.stop()
			srv, err := NewServer(p, conf, nil)
			if err != nil {
				b.Fatal(err)
			}
			go srv.Serve()
			defer srv.Shutdown(context.Background())
			addr := srv.Addrs()[0].String()
			req := []byte("POST /orders HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: text/plain\r\nContent-Length: " +
				strconv.Itoa(len(body)) + "\r\n\r\n" + body)
			// A client as wrk is one: a keep-alive connection of its own,
			// a request written whole, the response read and parsed in the
			// same goroutine (net/http's Transport adds a goroutine handoff
			// each way, the client's cost, not the proxy's).
			conns := make(chan *benchConn, c)
			for range c {
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				defer nc.Close()
				conns <- &benchConn{Conn: nc, br: bufio.NewReader(nc)}
			}
			runClients(b, c, func() error {
				bc := <-conns
				defer func() { conns <- bc }()
				if _, err := bc.Write(req); err != nil {
					return err
				}
				resp, err := http.ReadResponse(bc.br, nil)
				if err != nil {
					return err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					return fmt.Errorf("POST: %d", resp.StatusCode)
				}
				return nil
			})
		})
	}
}

// runClients runs b.N operations from c clients, each running op in turn,
// and reports the rate (ops/s) and the p50 and p99 of op's latency. It
// counts b.N itself rather than use b.Loop, which one goroutine must own.
func runClients(b *testing.B, c int, op func() error) {
	b.ReportAllocs()
	var next atomic.Int64
	lats := make([][]time.Duration, c)
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := range c {
		wg.Go(func() {
			lat := make([]time.Duration, 0, b.N/c+1)
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := op(); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				lat = append(lat, time.Since(t0))
			}
			lats[i] = lat
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	all := slices.Concat(lats...)
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}

// benchConn is one benchmark client's connection.
type benchConn struct {
	net.Conn
	br *bufio.Reader
}
