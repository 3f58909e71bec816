// Package alert turns the burn rates of package slo into notifications a
// person can act on: it decides when a tier's alert fires, reminds and
// resolves ([Machine]), and delivers each notification, with the context
// that explains it, to Alertmanager's v2 API or a webhook ([Manager]).
//
// # Model
//
// An alert is one objective's tier. It fires when the tier's burn rate
// exceeds its threshold over both its long and its short window
// ([slo.TierStatus].Firing: package slo decides, this package only reads
// it), and resolves when they no longer both do. The span between is an
// episode. Per episode a webhook gets one [KindFiring] notification, a
// [KindReminder] at most every RepeatInterval while it lasts, and one
// [KindResolved] when it ends. Alertmanager, which deduplicates and
// reminds by itself, gets the alert again every ResendInterval while it
// fires (as Prometheus resends its alerts), with an endsAt a few resends
// ahead so that a proxy that dies resolves its alerts, and endsAt = now
// when it resolves.
//
// # Delivery
//
// Each receiver has a bounded queue and one goroutine that sends from it.
// Enqueueing never blocks: a full queue drops the notification and counts
// it. A failed send is retried with exponential backoff (package retry's
// [retry.BackoffConfig.Delay]) up to MaxAttempts, then dropped and counted.
// No request of the data plane ever waits on a receiver.
//
// # Example
//
//	m, _ := alert.New(alert.Config{Receivers: rs, Instance: "proxy-1",
//		Status: set.StatusAt, Context: gather})
//	go m.Run(ctx) // evaluates every Interval until ctx ends
//	defer m.Close()
package alert
