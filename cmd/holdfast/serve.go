package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/admin"
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/alert"
	"github.com/holdfast-dev/holdfast/internal/gcfloor"
	"github.com/holdfast-dev/holdfast/internal/logattr"
	"github.com/holdfast-dev/holdfast/proxy"
	"github.com/holdfast-dev/holdfast/slo"
)

// heapFloor is the least heap goal holdfast serve keeps (internal/gcfloor),
// unless GOGC is set: a few MiB more under load for several times fewer
// collections (BENCHMARKS.md).
const heapFloor = 16 << 20

var heapFloorOnce sync.Once

func runServe(args []string, stdout, stderr io.Writer) int {
	heapFloorOnce.Do(func() {
		if os.Getenv("GOGC") == "" {
			gcfloor.Start(heapFloor) // for the process's life
		}
	})
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "holdfast.yaml", "config file")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "holdfast: -log-level: %v\n", err)
		return 2
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level, ReplaceAttr: logattr.Replace}))

	cfg, err := config.Load(*file)
	if err != nil {
		printConfigErrors(stderr, *file, err)
		return 1
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	inst, err := startInstance(cfg, *file, logger, stderr)
	if err != nil {
		logger.Error("cannot start", "err", err)
		return 1
	}
	var listen []string
	for _, a := range inst.server.Addrs() {
		listen = append(listen, a.String())
	}
	logger.Info("serving", "listen", listen, "admin", inst.adminAddr(), "routes", len(cfg.Routes), "upstreams", len(cfg.Upstreams))

	serveErr := make(chan error, 1)
	go func() { serveErr <- inst.server.Serve() }()
	for {
		select {
		case err := <-serveErr:
			if err != nil {
				logger.Error("serve failed", "err", err)
				inst.close()
				return 1
			}
			inst.close()
			return 0
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				inst.reload()
				continue
			}
			logger.Info("draining", "signal", sig.String(), "delay", cfg.Drain.Delay, "timeout", cfg.Drain.Timeout)
			code := inst.drain(sigs)
			<-serveErr
			inst.close()
			logger.Info("stopped")
			return code
		}
	}
}

func printConfigErrors(w io.Writer, file string, err error) {
	var es config.Errors
	if errors.As(err, &es) {
		for _, e := range es {
			fmt.Fprintf(w, "%s: %s\n", file, e)
		}
		return
	}
	fmt.Fprintf(w, "%s: %v\n", file, err)
}

// instance is a running proxy with its admin server, metrics and access
// log. startInstance builds them in that order, top to bottom.
type instance struct {
	file     string
	logger   *slog.Logger
	metrics  *admin.Metrics
	timeline *admin.Timeline
	slos     *slo.Set // the objectives' counts, fed by onRequest
	alerts   *alert.Manager
	// urgent is alerts once built, for the proxy's Burning: durable
	// routes deliver from proxy.New on, before the alerts exist.
	urgent atomic.Pointer[alert.Manager]
	// stopAlerts ends the alerts' evaluation loop (alerting.go).
	stopAlerts func()
	access     *proxy.AccessLog
	// stopTracing flushes and stops the tracer; a no-op when tracing is
	// off.
	stopTracing func(context.Context) error
	proxy       *proxy.Proxy
	server      *proxy.Server
	admin       *admin.Server

	// mu serialises reloads.
	mu sync.Mutex
}

func startInstance(cfg *config.Config, file string, logger *slog.Logger, stderr io.Writer) (*instance, error) {
	access, err := proxy.NewAccessLog(cfg.AccessLog, os.Stdout)
	if err != nil {
		return nil, fmt.Errorf("access_log.path: %w", err)
	}
	tracer, stopTracing, err := startTracing(cfg.Tracing)
	if err != nil {
		access.Close()
		return nil, fmt.Errorf("tracing: %w", err)
	}
	inst := &instance{file: file, logger: logger, metrics: admin.NewMetrics(), timeline: admin.NewTimeline(0),
		access: access, stopTracing: stopTracing, slos: &slo.Set{}}
	if err := inst.slos.Configure(cfg.Objectives()); err != nil {
		access.Close()
		stopTracing(context.Background())
		return nil, err
	}
	inst.metrics.SetBuildInfo(buildVersion(), buildRevision(), buildGoVersion())
	p, err := proxy.New(cfg, proxy.Options{
		Logger:    logger,
		Listener:  holdfast.Listeners{inst.metrics, inst.timeline},
		OnRequest: inst.onRequest,
		OnAttempt: inst.metrics.OnAttempt,
		Tracer:    tracer,
		// Alerts are built after the proxy (alerting.go), which may
		// already deliver a durable route's queue: nothing burns till then.
		Burning: func() bool { return inst.urgent.Load().Burning() },
	})
	if err != nil {
		access.Close()
		stopTracing(context.Background())
		return nil, err
	}
	srv, err := proxy.NewServer(p, cfg, logger)
	if err != nil {
		p.Close()
		access.Close()
		stopTracing(context.Background())
		return nil, err
	}
	inst.proxy, inst.server = p, srv
	inst.metrics.Watch(p)
	inst.metrics.WatchServer(srv)
	inst.timeline.Watch(p)
	inst.metrics.WatchSLOs(inst.slos) // a fresh registry: cannot fail
	// The caller read the file a moment ago; its hash is of the file now.
	// A reload hashes exactly the bytes it parses (loadConfig).
	if sum, err := fileSum(file); err == nil {
		inst.metrics.ConfigLoaded(sum, time.Now())
	}
	inst.newAlerts(cfg)
	inst.admin, err = admin.New(admin.Config{
		Admin:    cfg.Admin,
		Proxy:    p,
		Metrics:  inst.metrics,
		Timeline: inst.timeline,
		SLOs:     inst.slos,
		Alerts:   inst.alerts,
		Reload:   func(context.Context) error { return inst.reload() },
		Logger:   logger,
	})
	if err != nil {
		inst.alerts.Close()
		srv.Shutdown(context.Background())
		p.Close()
		access.Close()
		stopTracing(context.Background())
		return nil, err
	}
	inst.runAlerts()
	return inst, nil
}

// onRequest is the proxy's request hook: the access log, then the metrics,
// so that once a request shows in the metrics its log line is written.
func (inst *instance) onRequest(info proxy.RequestInfo) {
	inst.access.Log(info)
	inst.metrics.OnRequest(info)
	inst.timeline.OnRequest(info)
	inst.slos.Record(info.Route, info.Status, info.Duration)
}

func (inst *instance) adminAddr() string { return inst.admin.Addr() }

// reload re-reads the config file. An invalid file is reported and changes
// nothing; the running config keeps serving.
func (inst *instance) reload() error {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	cfg, sum, err := loadConfig(inst.file)
	if err != nil {
		inst.metrics.ReloadFailed()
		inst.timeline.RecordReload(err)
		inst.logger.Error("reload rejected; the running config keeps serving", "file", inst.file, "err", err.Error())
		inst.reopenAccessLog()
		return err
	}
	if err := inst.proxy.Reload(cfg); err != nil {
		inst.metrics.ReloadFailed()
		inst.timeline.RecordReload(err)
		inst.logger.Error("reload failed; the running config keeps serving", "err", err.Error())
		inst.reopenAccessLog()
		return err
	}
	inst.metrics.Reloaded(sum, time.Now())
	inst.timeline.RecordReload(nil)
	if err := inst.slos.Configure(cfg.Objectives()); err != nil { // validated by config: never
		inst.logger.Error("objectives not reconfigured; they keep the previous config's", "err", err.Error())
	}
	inst.alerts.SetReceivers(cfg.AlertReceivers())
	// Every reload, SIGHUP or POST /reload, comes through here; Configure
	// reopens the access log's file, as logrotate needs.
	if err := inst.access.Configure(cfg.AccessLog); err != nil {
		inst.logger.Error("access log not reconfigured; it keeps its previous settings", "err", err.Error())
		inst.reopenAccessLog()
	}
	inst.logger.Info("reloaded", "file", inst.file, "routes", len(cfg.Routes), "upstreams", len(cfg.Upstreams))
	return nil
}

// drain fails readiness at once, keeps accepting for drain.delay so load
// balancers notice, then stops accepting and waits for in-flight requests
// up to drain.timeout. A second signal skips the delay.
func (inst *instance) drain(sigs <-chan os.Signal) int {
	cfg := inst.proxy.Config()
	inst.admin.SetDraining()
	t := time.NewTimer(cfg.Drain.Delay)
	select {
	case <-t.C:
	case <-sigs:
		t.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Drain.Timeout)
	defer cancel()
	if err := inst.server.Shutdown(ctx); err != nil {
		inst.logger.Warn("drain timed out; closed remaining connections", "err", err)
	}
	return 0
}

// reopenAccessLog reopens the access log's file after a reload that did not
// reconfigure it: logrotate renames the file before it signals, whether or
// not the config file is valid.
func (inst *instance) reopenAccessLog() {
	if err := inst.access.Reopen(); err != nil {
		inst.logger.Error("access log not reopened; it keeps writing to the old file", "err", err.Error())
	}
}

func (inst *instance) close() {
	inst.stopAlerts()
	inst.admin.Close()
	inst.proxy.Close()
	inst.access.Close()
	// What is queued goes out before the process exits, within a bound.
	ctx, cancel := context.WithTimeout(context.Background(), exportTimeout)
	defer cancel()
	if err := inst.stopTracing(ctx); err != nil {
		inst.logger.Warn("traces not all sent", "err", err.Error())
	}
}

// loadConfig reads, parses and validates the config file at path, as
// config.Load does, and returns the SHA-256 of the bytes it parsed, so that
// the hash the metrics show is that of the config running. It reads at
// most config.MaxFileBytes, whatever the file is.
func loadConfig(path string) (*config.Config, [sha256.Size]byte, error) {
	data, err := config.ReadFile(path)
	if err != nil {
		return nil, [sha256.Size]byte{}, err
	}
	cfg, err := config.Parse(data)
	return cfg, sha256.Sum256(data), err
}

// fileSum returns the SHA-256 of the file at path, read as loadConfig
// reads it.
func fileSum(path string) ([sha256.Size]byte, error) {
	data, err := config.ReadFile(path)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(data), nil
}
