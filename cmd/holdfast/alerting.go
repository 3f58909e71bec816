package main

import (
	"context"
	"os"
	"sync"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/alert"
)

// newAlerts builds the alerts: they evaluate the objectives' tiers every
// alerting.interval and deliver their notifications, with the admin
// server's context, to alerting.receivers, and alert on canaries rolled
// back. A reload changes the receivers; the interval, repeat_interval,
// canary_tier and instance are the starting config's.
func (inst *instance) newAlerts(cfg *config.Config) {
	instance := cfg.Alerting.Instance
	if instance == "" {
		instance, _ = os.Hostname()
	}
	// New fails only without Status.
	inst.alerts, _ = alert.New(alert.Config{
		Receivers:      cfg.AlertReceivers(),
		Instance:       instance,
		Interval:       cfg.Alerting.Interval.Duration(),
		RepeatInterval: cfg.Alerting.RepeatInterval.Duration(),
		// Each evaluation also samples the objectives' history, which
		// the status page charts.
		Status: inst.slos.SampleAt,
		// The admin server, which gathers the context, is built next;
		// nothing is evaluated before runAlerts.
		Context:    func(route string) alert.Context { return inst.admin.AlertContext(route) },
		Canaries:   func() []alert.Canary { return inst.admin.AlertCanaries() },
		CanaryTier: cfg.Alerting.CanaryTier,
		Logger:     inst.logger,
	})
	inst.metrics.WatchAlerts(inst.alerts) // a fresh registry: cannot fail
	inst.urgent.Store(inst.alerts)
}

// runAlerts starts the alerts' evaluation loop; stopAlerts ends it.
func (inst *instance) runAlerts() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { inst.alerts.Run(ctx) })
	inst.stopAlerts = sync.OnceFunc(func() {
		cancel()
		wg.Wait()
		inst.alerts.Close()
	})
}
