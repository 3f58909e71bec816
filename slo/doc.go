// Package slo measures service-level objectives in the process: for each
// objective, the share of good events over its window, the error budget
// left, and the burn rate over each alerting tier's long and short window,
// from counts kept in bounded memory.
//
// # Model
//
// A [Config] is an objective: a target share of good events (99.9 percent) over a
// window (30 days). An event is a finished request; it is good when its
// status is below [Good].StatusBelow and it took at most
// [Good].LatencyBelow (whichever are set). The error budget is the share of
// events that may be bad, 1 - objective; the budget remaining is
// 1 - (bad share over the window) / budget, 1 when nothing was spent and 0
// or less when it is gone. A burn rate over a window is the bad share over
// that window divided by the budget: 1 spends the budget exactly over the
// objective's window, 14.4 spends 2% of a 30-day budget in an hour.
//
// A [Tier] alerts when the burn rate exceeds its threshold over both its
// long window (the budget really is burning) and its short one (it still
// is), the multiwindow, multi-burn-rate alert of Google's SRE workbook,
// chapter 5. [DefaultTiers] is the workbook's table.
//
// # Memory
//
// Events are not kept; counts are, in rings of time buckets. Each window
// is read from buckets of the largest width w of 10s, 1m, 5m and 1h with at
// least 60 of them in the window (10s for windows under 10 minutes), and
// each width's ring holds as many buckets as its longest window needs, plus
// two. The oldest bucket of a window counts by the share of it inside the
// window, so a window is exact for events spread evenly within a bucket.
// With windows of at most [MaxWindow] (90 days), a [Tracker] holds at most
// 360+300+720+2160+8 buckets of 24 bytes, about 85 KB; the defaults (30
// days, the three tiers) take 1,040 buckets, about 25 KB. Recording an event
// costs one lock and one increment per width in use.
//
// # Example
//
//	t, _ := slo.New(slo.Config{Name: "checkout", Route: "checkout",
//		Objective: 99.9, Window: 30 * 24 * time.Hour, Good: slo.Good{StatusBelow: 500}})
//	t.RecordAt(200, 20*time.Millisecond, now)
//	st := t.StatusAt(now) // st.ErrorBudgetRemaining, st.Tiers[i].Firing
//
// A [Set] holds the objectives of a config by route, takes each finished
// request, and is reconfigured on reload keeping the counts of objectives
// that did not change.
package slo
