package slo

import (
	"math"
	"testing"
	"time"
)

// t0 is on a boundary of every bucket width, so windows ending at whole
// minutes after it start on bucket boundaries too.
var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// event is one request of a synthetic traffic.
type event struct {
	at   time.Time
	good bool
}

// traffic is one request a second, each half a second past the second, from
// t0 for d, of which each one in every badEvery (0: none) between badFrom
// and badTo after t0 is bad.
func traffic(d, badFrom, badTo time.Duration, badEvery int) []event {
	var out []event
	for k := 0; time.Duration(k)*time.Second < d; k++ {
		off := time.Duration(k)*time.Second + 500*time.Millisecond
		bad := badEvery > 0 && off >= badFrom && off < badTo && k%badEvery == 0
		out = append(out, event{at: t0.Add(off), good: !bad})
	}
	return out
}

// modelBurn counts the events in (now-w, now] the slow way and returns the
// burn rate for the budget.
func modelBurn(events []event, now time.Time, w time.Duration, budget float64) float64 {
	var total, bad float64
	for _, e := range events {
		if e.at.After(now.Add(-w)) && !e.at.After(now) {
			total++
			if !e.good {
				bad++
			}
		}
	}
	if total == 0 {
		return 0
	}
	return bad / total / budget
}

func record(tr *Tracker, events []event) {
	for _, e := range events {
		status := 200
		if !e.good {
			status = 503
		}
		tr.RecordAt(status, time.Millisecond, e.at)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestBurnRatesMatchTheModel: for an outage of 10% errors from 2h to 2h10m
// into steady traffic, at whole minutes (bucket boundaries) the tracker's
// budget and burn rates are exactly those counted event by event, and P0
// fires exactly while both its windows burn above 14.4.
func TestBurnRatesMatchTheModel(t *testing.T) {
	events := traffic(4*time.Hour, 2*time.Hour, 2*time.Hour+10*time.Minute, 10)
	tr, err := New(okConfig())
	if err != nil {
		t.Fatal(err)
	}
	budget := okConfig().Budget()
	next := 0 // events are recorded as time passes: a ring holds the recent past only
	tests := []struct {
		at     time.Duration // after t0
		firing [3]bool       // P0, P1, P2
	}{
		{time.Hour, [3]bool{}},
		{2*time.Hour + 2*time.Minute, [3]bool{false, false, true}}, // P2: 12 bad of 7320 is burn 1.64 over 3d and 6h
		{2*time.Hour + 5*time.Minute, [3]bool{false, false, true}}, // P0: 30 bad of 3600, 8.3 over 1h; P1: 4 over 6h
		{2*time.Hour + 8*time.Minute, [3]bool{false, true, true}},  // P0: 48 bad, 13.3 over 1h; P1: 6.25 over 6h
		{2*time.Hour + 9*time.Minute, [3]bool{true, true, true}},   // P0: 54 bad, 15 over 1h and 100 over 5m
		{2*time.Hour + 14*time.Minute, [3]bool{true, true, true}},  // P0's short window still has a minute of errors
		{2*time.Hour + 15*time.Minute, [3]bool{false, true, true}}, // P0's short window is clean: resolved
		{2*time.Hour + 40*time.Minute, [3]bool{false, false, true}},
		{4 * time.Hour, [3]bool{false, false, true}}, // P2: 60 bad of 14400 is burn 4.2 over 3d and 6h
	}
	for _, tt := range tests {
		now := t0.Add(tt.at)
		for ; next < len(events) && !events[next].at.After(now); next++ {
			record(tr, events[next:next+1])
		}
		st := tr.StatusAt(now)
		if want := 1 - modelBurn(events, now, 30*24*time.Hour, budget); !near(st.ErrorBudgetRemaining, want) {
			t.Errorf("at %v: budget remaining %v; want %v", tt.at, st.ErrorBudgetRemaining, want)
		}
		for i, ts := range st.Tiers {
			tier := DefaultTiers[i]
			wantLong := modelBurn(events, now, tier.Long, budget)
			wantShort := modelBurn(events, now, tier.Short, budget)
			if !near(ts.LongBurnRate, wantLong) || !near(ts.ShortBurnRate, wantShort) {
				t.Errorf("at %v: %s burn %v over %v, %v over %v; want %v, %v", tt.at, tier.Name,
					ts.LongBurnRate, tier.Long, ts.ShortBurnRate, tier.Short, wantLong, wantShort)
			}
			if wantFiring := wantLong > tier.BurnRate && wantShort > tier.BurnRate; ts.Firing != wantFiring {
				t.Errorf("at %v: %s firing %v; the model says %v", tt.at, tier.Name, ts.Firing, wantFiring)
			}
			if ts.Firing != tt.firing[i] {
				t.Errorf("at %v: %s firing %v; want %v (long %.3g, short %.3g)", tt.at, tier.Name, ts.Firing, tt.firing[i], ts.LongBurnRate, ts.ShortBurnRate)
			}
		}
	}
}

// TestOldestBucketCountsInPart: a window that starts inside a bucket counts
// that bucket by the share of it inside the window, so that evenly spread
// events read exactly even between bucket boundaries.
func TestOldestBucketCountsInPart(t *testing.T) {
	c := okConfig()
	tr, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	// Ten events in each 10s bucket, one a second: bad in [0, 20s), good after.
	for k := range 120 {
		status := 200
		if k < 20 {
			status = 500
		}
		tr.RecordAt(status, 0, t0.Add(time.Duration(k)*time.Second))
	}
	// The 5m window ending at 5m15s starts at 15s: half of the bucket
	// [10s, 20s) is inside, 5 of its 10 bad events; the good ones after.
	st := tr.StatusAt(t0.Add(5*time.Minute + 15*time.Second))
	got := st.Tiers[0].ShortBurnRate * c.Budget()
	if want := 5.0 / 105; !near(got, want) {
		t.Errorf("error ratio over 5m = %v; want %v (5 bad of 105)", got, want)
	}
}

// TestEmptyAndWrapped: no events read as a full budget and no burn; events
// older than a ring holds are not counted again when its buckets come round.
func TestEmptyAndWrapped(t *testing.T) {
	tr, err := New(okConfig())
	if err != nil {
		t.Fatal(err)
	}
	st := tr.StatusAt(t0)
	if st.ErrorBudgetRemaining != 1 || st.Events != 0 || st.Tiers[0].LongBurnRate != 0 || st.Tiers[0].Firing {
		t.Errorf("empty tracker: %+v; want budget 1, no events, no burn", st)
	}
	tr.RecordAt(500, 0, t0)
	st = tr.StatusAt(t0.Add(time.Second))
	if !near(st.ErrorBudgetRemaining, 1-1/okConfig().Budget()) {
		t.Errorf("one bad event: budget remaining %v; want %v", st.ErrorBudgetRemaining, 1-1/okConfig().Budget())
	}
	if !st.Tiers[0].Firing {
		t.Errorf("one bad event of one: P0 not firing")
	}
	// Exactly one ring length later every bucket index has come round.
	for _, later := range []time.Duration{31 * 24 * time.Hour, 90 * 24 * time.Hour, 1000 * 24 * time.Hour} {
		st = tr.StatusAt(t0.Add(later))
		if st.Events != 0 || st.ErrorBudgetRemaining != 1 {
			t.Errorf("%v later: events %v, budget %v; want 0 and 1", later, st.Events, st.ErrorBudgetRemaining)
		}
	}
	// A clock stepped back by the 30d window's ring (722 one-hour
	// buckets) lands in the bucket of t0, which keeps its newer count.
	tr.RecordAt(200, 0, t0.Add(-722*time.Hour))
	if st = tr.StatusAt(t0.Add(time.Second)); st.Events != 1 || st.BadEvents != 1 {
		t.Errorf("after an event 722h back: events %v, bad %v; want 1 and 1 (it is dropped)", st.Events, st.BadEvents)
	}
}

// TestMemoryBound: the buckets the doc comment promises, for the defaults
// and for the worst windows allowed.
func TestMemoryBound(t *testing.T) {
	tr, err := New(okConfig())
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.Buckets(); got != 1040 {
		t.Errorf("default objective: %d buckets; want 1040", got)
	}
	// The longest window each width serves, and 90 days.
	worst := okConfig()
	worst.Window = MaxWindow
	worst.Tiers = []Tier{
		{Name: "a", BurnRate: 1, Long: 5*time.Hour - 1, Short: time.Hour - 1},
		{Name: "b", BurnRate: 1, Long: 60*time.Hour - 1, Short: time.Minute},
	}
	tr, err = New(worst)
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.Buckets(); got != 3548 {
		t.Errorf("worst objective: %d buckets; want 3548", got)
	}
}

func TestWidthFor(t *testing.T) {
	tests := []struct {
		w    time.Duration
		want time.Duration
	}{
		{time.Minute, 10 * time.Second},
		{5 * time.Minute, 10 * time.Second},
		{30 * time.Minute, 10 * time.Second},
		{time.Hour, time.Minute},
		{6 * time.Hour, 5 * time.Minute},
		{3 * 24 * time.Hour, time.Hour},
		{30 * 24 * time.Hour, time.Hour},
	}
	for _, tt := range tests {
		if got := widths[widthFor(tt.w)]; got != tt.want {
			t.Errorf("widthFor(%v) = %v; want %v", tt.w, got, tt.want)
		}
	}
}

// FuzzTracker records events at arbitrary times and checks what any status
// must satisfy.
func FuzzTracker(f *testing.F) {
	f.Add(int64(0), int64(1), 200, int64(0), int64(10))
	f.Add(int64(-1), int64(-1<<40), 503, int64(1<<50), int64(1<<20))
	f.Add(int64(1<<62), int64(7), 0, int64(-5), int64(-1<<62))
	f.Fuzz(func(t *testing.T, at, step int64, status int, dur, look int64) {
		tr, err := New(okConfig())
		if err != nil {
			t.Fatal(err)
		}
		at %= 1 << 61
		step %= 1 << 40
		for i := range 50 {
			tr.RecordAt(status+i%3*100, time.Duration(dur), time.Unix(0, at+int64(i)*step))
		}
		st := tr.StatusAt(time.Unix(0, at+look%(1<<50)))
		if st.ErrorBudgetRemaining > 1 || st.Events < 0 || st.BadEvents < 0 || st.BadEvents > st.Events+1e-9 || st.Events > 50+1e-9 {
			t.Errorf("status %+v", st)
		}
		for _, ts := range st.Tiers {
			if ts.LongBurnRate < 0 || ts.ShortBurnRate < 0 || math.IsNaN(ts.LongBurnRate) || math.IsNaN(ts.ShortBurnRate) {
				t.Errorf("tier %+v", ts)
			}
		}
	})
}
