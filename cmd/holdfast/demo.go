package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/holdfast-dev/holdfast/chaos/loadgen"
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/testkit"
)

// demoRoles are the behaviours of the demo's backends, in endpoint order.
var demoRoles = []struct {
	name  string
	setup func(b *testkit.Backend)
}{
	{"healthy", func(b *testkit.Backend) { b.Healthy() }},
	{"fails 30% (500)", func(b *testkit.Backend) { b.FailPercent(30, http.StatusInternalServerError) }},
	{"slow tail (10% 1s)", func(b *testkit.Backend) { b.SlowTail(10, time.Second) }},
	{"dies after 5s", func(b *testkit.Backend) { b.DieAfter(5 * time.Second) }},
}

func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "examples/demo.yaml", "demo config; its first upstream's endpoints become the test backends")
	load := fs.Duration("load", 20*time.Second, "how long to drive load")
	rate := fs.Float64("rate", 100, "requests per second, sent both directly and through holdfast")
	duration := fs.Duration("duration", 0, "exit after this long in all instead of serving the status page until Ctrl-C")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*file)
	if err != nil {
		printConfigErrors(stderr, *file, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	if err := demo(ctx, cfg, *file, *load, *rate, stdout); err != nil {
		fmt.Fprintln(stderr, "holdfast demo:", err)
		return 1
	}
	return 0
}

func demo(ctx context.Context, cfg *config.Config, file string, load time.Duration, rate float64, out io.Writer) error {
	route := cfg.Routes[0]
	up := cfg.Upstreams[route.Upstream]
	if up == nil || len(up.Endpoints) != len(demoRoles) {
		return fmt.Errorf("%s: the first route's upstream needs exactly %d endpoints, one per demo backend", file, len(demoRoles))
	}
	// Two identical sets of backends: one behind holdfast, on the config's
	// addresses, and one the direct client calls, on free ports.
	var proxied, direct []*testkit.Backend
	defer func() {
		for _, b := range append(proxied, direct...) {
			b.Close()
		}
	}()
	for i, role := range demoRoles {
		u, err := url.Parse(up.Endpoints[i].Address)
		if err != nil {
			return err
		}
		for _, set := range []struct {
			list *[]*testkit.Backend
			addr string
		}{{&proxied, u.Host}, {&direct, "127.0.0.1:0"}} {
			b, err := testkit.NewBackend(testkit.Config{Name: role.name, Addr: set.addr, Seed: uint64(i + 1)})
			if err != nil {
				return fmt.Errorf("starting backend %q on %s: %w", role.name, set.addr, err)
			}
			*set.list = append(*set.list, b)
		}
	}

	// The demo prints its own table and nobody reads the proxy's logs:
	// discard them before they are formatted, not after.
	logger := slog.New(slog.DiscardHandler)
	inst, err := startInstance(cfg, file, logger, io.Discard)
	if err != nil {
		return err
	}
	defer inst.close()
	serveDone := make(chan error, 1)
	go func() { serveDone <- inst.server.Serve() }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		inst.server.Shutdown(sctx)
		<-serveDone
	}()
	proxyURL := "http://" + inst.server.Addrs()[0].String()

	for i, role := range demoRoles {
		role.setup(proxied[i])
		role.setup(direct[i])
	}
	fmt.Fprintf(out, "holdfast demo: %d backends (%s, %s, %s, %s)\n",
		len(demoRoles), demoRoles[0].name, demoRoles[1].name, demoRoles[2].name, demoRoles[3].name)
	fmt.Fprintf(out, "driving %.0f req/s for %s directly (round robin over the backends) and through holdfast at %s ...\n\n", rate, load, proxyURL)

	var next atomic.Uint64
	directCfg := loadgen.Config{Rate: rate, Duration: load, Timeout: 2 * time.Second,
		NewRequest: func(ctx context.Context) (*http.Request, error) {
			b := direct[next.Add(1)%uint64(len(direct))]
			return http.NewRequestWithContext(ctx, "GET", b.URL()+"/items", nil)
		}}
	viaCfg := loadgen.Config{Rate: rate, Duration: load, Timeout: 2 * time.Second,
		NewRequest: func(ctx context.Context) (*http.Request, error) {
			return http.NewRequestWithContext(ctx, "GET", proxyURL+"/items", nil)
		}}
	type outcome struct {
		res *loadgen.Result
		err error
	}
	dch, vch := make(chan outcome, 1), make(chan outcome, 1)
	go func() { r, err := loadgen.Run(ctx, directCfg); dch <- outcome{r, err} }()
	go func() { r, err := loadgen.Run(ctx, viaCfg); vch <- outcome{r, err} }()
	d, v := <-dch, <-vch
	if err := errors.Join(d.err, v.err); err != nil {
		return err
	}
	printDemoTable(out, d.res, v.res, direct, proxied)

	if admin := inst.adminAddr(); admin != "" {
		fmt.Fprintf(out, "\nstatus page: http://%s/  (metrics at /metrics)\n", admin)
	}
	if ctx.Err() == nil {
		if _, hasDeadline := ctx.Deadline(); !hasDeadline {
			fmt.Fprintln(out, "the proxy and backends keep running; press Ctrl-C to exit")
		}
		<-ctx.Done()
	}
	return nil
}

func printDemoTable(w io.Writer, direct, via *loadgen.Result, db, pb []*testkit.Backend) {
	row := func(name, a, b string) { fmt.Fprintf(w, "  %-22s %18s %18s\n", name, a, b) }
	row("", "direct", "through holdfast")
	row("requests", fmt.Sprint(direct.Sent), fmt.Sprint(via.Sent))
	row("success", pct(direct.SuccessRate()), pct(via.SuccessRate()))
	row("p50 latency", ms(direct.Latency.Quantile(0.5)), ms(via.Latency.Quantile(0.5)))
	row("p99 latency", ms(direct.Latency.Quantile(0.99)), ms(via.Latency.Quantile(0.99)))
	row("max latency", ms(direct.Latency.Max()), ms(via.Latency.Max()))
	fmt.Fprintln(w, "\n  requests each backend received:")
	for i, role := range demoRoles {
		row("  "+role.name, fmt.Sprint(db[i].Requests()), fmt.Sprint(pb[i].Requests()))
	}
}

func pct(f float64) string { return fmt.Sprintf("%.2f%%", f*100) }

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}
