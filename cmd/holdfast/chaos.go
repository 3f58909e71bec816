package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/holdfast-dev/holdfast/internal/logattr"

	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/holdfast-dev/holdfast/chaos/toxic"
	"github.com/holdfast-dev/holdfast/config"
)

// chaosOptions are the parsed flags of holdfast chaos.
type chaosOptions struct {
	host      string
	port      int
	config    string
	tokenFile string
	verbose   bool
}

func runChaos(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o chaosOptions
	fs.StringVar(&o.host, "host", "127.0.0.1", "address the API listens on; a non-loopback one needs -token-file")
	fs.IntVar(&o.port, "port", 8474, "port of the API (Toxiproxy's default)")
	fs.StringVar(&o.config, "config", "", "JSON file of proxies to create at start, as for POST /populate")
	fs.StringVar(&o.tokenFile, "token-file", "", "file holding the bearer token that calls changing state must send")
	fs.BoolVar(&o.verbose, "v", false, "log every proxy and toxic change")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: holdfast chaos [-host 127.0.0.1] [-port 8474] [-config proxies.json] [-token-file FILE]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "holdfast chaos: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return chaosMain(ctx, o, stdout, stderr, nil)
}

// chaosMain runs the chaos API until ctx ends. ready, when set, is told the
// API's address once it listens.
func chaosMain(ctx context.Context, o chaosOptions, stdout, stderr io.Writer, ready func(addr string)) int {
	if o.port < 0 || o.port > 65535 {
		fmt.Fprintf(stderr, "holdfast chaos: -port must be in [0, 65535], got %d\n", o.port)
		return 2
	}
	var token string
	if o.tokenFile != "" {
		t, err := config.ReadSecretFile(o.tokenFile)
		if err != nil {
			fmt.Fprintf(stderr, "holdfast chaos: %v\n", err)
			return 2
		}
		token = t
	}
	if !config.IsLoopback(o.host) && token == "" {
		fmt.Fprintf(stderr, "holdfast chaos: refusing to serve the API on non-loopback host %q without -token-file: anyone who can reach it could cut your traffic\n", o.host)
		return 2
	}

	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level, ReplaceAttr: logattr.Replace}))
	s, err := toxic.NewServer(toxic.Config{Token: token, Version: buildVersion(), Logger: logger})
	if err != nil {
		fmt.Fprintf(stderr, "holdfast chaos: %v\n", err)
		return 2
	}
	defer s.Close()
	s.Registry().MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if o.config != "" {
		specs, err := readProxies(o.config)
		if err != nil {
			fmt.Fprintf(stderr, "holdfast chaos: %s: %v\n", o.config, err)
			return 1
		}
		ps, err := s.Populate(specs)
		if err != nil {
			fmt.Fprintf(stderr, "holdfast chaos: %s: %v\n", o.config, err)
			return 1
		}
		for _, p := range ps {
			fmt.Fprintf(stdout, "proxy %s: %s -> %s (%s)\n", p.Name, p.Listen, p.Upstream, p.Protocol)
		}
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(o.host, strconv.Itoa(o.port)))
	if err != nil {
		fmt.Fprintf(stderr, "holdfast chaos: %v\n", err)
		return 1
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "holdfast chaos: API on http://%s\n", ln.Addr())
	if ready != nil {
		ready(ln.Addr().String())
	}

	select {
	case err := <-errc:
		fmt.Fprintf(stderr, "holdfast chaos: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	// Finish API calls in flight, then close every proxy and connection.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	_ = s.Close()
	fmt.Fprintln(stdout, "holdfast chaos: stopped")
	return 0
}

// readProxies reads a Toxiproxy config file: a JSON array of proxies,
// optionally with toxics. Missing "enabled" means true.
func readProxies(path string) ([]toxic.ProxySpec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var in []struct {
		toxic.ProxySpec
		Enabled *bool `json:"enabled"`
		Toxics  []struct {
			toxic.ToxicSpec
			Toxicity *float64 `json:"toxicity"`
		} `json:"toxics"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&in); err != nil {
		return nil, err
	}
	specs := make([]toxic.ProxySpec, len(in))
	for i, p := range in {
		spec := p.ProxySpec
		spec.Enabled = p.Enabled == nil || *p.Enabled
		spec.Toxics = nil
		for _, t := range p.Toxics {
			ts := t.ToxicSpec
			ts.Toxicity = 1
			if t.Toxicity != nil {
				ts.Toxicity = *t.Toxicity
			}
			spec.Toxics = append(spec.Toxics, ts)
		}
		specs[i] = spec
	}
	return specs, nil
}
