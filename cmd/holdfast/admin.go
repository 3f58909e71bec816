package main

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/holdfast-dev/holdfast/admin"
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/proxy"
)

// This file links the admin package into serve: metrics and the access log
// are fed by the proxy's listener and request hook, and the admin server
// starts once the proxy exists.
func init() {
	proxyOptions = newTelemetry
	startAdmin = startAdminServer
}

// telemetry is one instance's metrics and access log.
type telemetry struct {
	inst    *instance
	metrics *admin.Metrics
	access  *admin.AccessLog

	// mu guards seen, the config the access log was last configured from;
	// a reload (SIGHUP or POST /reload) is noticed by the next request.
	mu   sync.Mutex
	seen *config.Config
}

func newTelemetry(inst *instance, cfg *config.Config) (proxy.Options, error) {
	access, err := admin.NewAccessLog(cfg.AccessLog, os.Stdout)
	if err != nil {
		return proxy.Options{}, fmt.Errorf("access_log.path: %w", err)
	}
	t := &telemetry{inst: inst, metrics: admin.NewMetrics(), access: access, seen: cfg}
	inst.telemetry = t
	return proxy.Options{Logger: inst.logger, Listener: t.metrics, OnRequest: t.onRequest}, nil
}

func (t *telemetry) onRequest(info proxy.RequestInfo) {
	// inst.proxy is set before the data plane serves its first request.
	if p := t.inst.proxy; p != nil {
		t.follow(p.Config())
	}
	t.access.Log(info)
	// Metrics last: once a request shows in them, its log line is written.
	t.metrics.OnRequest(info)
}

// follow reconfigures the access log when the running config changed.
func (t *telemetry) follow(cfg *config.Config) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cfg == t.seen {
		return
	}
	// Read the newest config under the lock, so an older one never wins.
	cfg = t.inst.proxy.Config()
	t.seen = cfg
	if err := t.access.Configure(cfg.AccessLog); err != nil {
		t.inst.logger.Error("access log not reconfigured; it keeps its previous settings", "err", err.Error())
	}
}

// adminHandle is the admin server as serve sees it; closing it also closes
// the access log.
type adminHandle struct {
	*admin.Server
	access *admin.AccessLog
}

func (h adminHandle) Close() {
	h.Server.Close()
	h.access.Close()
}

func startAdminServer(inst *instance, cfg *config.Config) (adminServer, error) {
	t, ok := inst.telemetry.(*telemetry)
	if !ok {
		return nil, fmt.Errorf("admin: telemetry was not set up")
	}
	t.metrics.Watch(inst.proxy)
	srv, err := admin.New(admin.Config{
		Listen:    cfg.Admin.Listen,
		TokenFile: cfg.Admin.TokenFile,
		Proxy:     inst.proxy,
		Metrics:   t.metrics,
		Reload:    func(context.Context) error { return inst.reload() },
		Logger:    inst.logger,
	})
	if err != nil {
		t.access.Close()
		return nil, err
	}
	return adminHandle{Server: srv, access: t.access}, nil
}
