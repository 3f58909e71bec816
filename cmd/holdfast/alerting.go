package main

import (
	"context"
	"os"
	"sync"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/alert"
)

// startAlerts starts evaluating the objectives' tiers every
// alerting.interval and delivering their notifications, with the admin
// server's context, to alerting.receivers. A reload changes the receivers;
// the interval, repeat_interval and instance are the starting config's.
func (inst *instance) startAlerts(cfg *config.Config) {
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
		Status:         inst.slos.StatusAt,
		Context:        inst.admin.AlertContext,
		Logger:         inst.logger,
	})
	inst.metrics.WatchAlerts(inst.alerts) // a fresh registry: cannot fail
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { inst.alerts.Run(ctx) })
	inst.stopAlerts = sync.OnceFunc(func() {
		cancel()
		wg.Wait()
		inst.alerts.Close()
	})
}
