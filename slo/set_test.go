package slo

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestSetRecordsByRoute(t *testing.T) {
	a, b := okConfig(), okConfig()
	b.Name, b.Good = "checkout-latency", Good{LatencyBelow: 300 * time.Millisecond}
	other := okConfig()
	other.Name, other.Route = "search", "search"
	s, err := NewSet([]Config{a, b, other})
	if err != nil {
		t.Fatal(err)
	}
	s.RecordAt("checkout", 200, time.Second, t0)      // good for a, slow for b
	s.RecordAt("checkout", 503, time.Millisecond, t0) // bad for a, fast for b
	s.RecordAt("unknown", 503, time.Millisecond, t0)  // no objective
	s.RecordAt("search", 200, time.Millisecond, t0)   // good for search
	st := s.StatusAt(t0.Add(time.Second))
	got := make([]string, len(st))
	for i, x := range st {
		got[i] = fmt.Sprintf("%s %v/%v", x.Name, x.BadEvents, x.Events)
	}
	want := []string{"checkout 1/2", "checkout-latency 1/2", "search 0/1"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("bad/events = %q; want %q", got, want)
	}
}

func TestSetConfigure(t *testing.T) {
	kept, changed, pct := okConfig(), okConfig(), okConfig()
	kept.Name, changed.Name, pct.Name = "kept", "changed", "pct"
	s, err := NewSet([]Config{kept, changed, pct})
	if err != nil {
		t.Fatal(err)
	}
	s.RecordAt("checkout", 500, 0, t0)
	changed.Window = 28 * 24 * time.Hour
	pct.Objective = 99
	if err := s.Configure([]Config{pct, changed, kept}); err != nil {
		t.Fatal(err)
	}
	s.RecordAt("checkout", 200, 0, t0)
	got := map[string]float64{}
	for _, x := range s.StatusAt(t0.Add(time.Second)) {
		got[x.Name] = x.Events
	}
	want := map[string]float64{"kept": 2, "pct": 2, "changed": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events after a reload = %v; want %v (a changed window starts over)", got, want)
	}
	if st := s.StatusAt(t0.Add(time.Second)); st[0].Name != "pct" || st[0].Objective != 99 {
		t.Errorf("first status %s %v; want pct at its new objective 99, in config order", st[0].Name, st[0].Objective)
	}

	before := s.StatusAt(t0.Add(time.Second))
	bad := okConfig()
	bad.Objective = 100
	for _, cfgs := range [][]Config{{kept, kept}, {bad}} {
		if err := s.Configure(cfgs); err == nil {
			t.Errorf("Configure(%v) = nil; want an error", cfgs)
		}
	}
	if after := s.StatusAt(t0.Add(time.Second)); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a refused Configure changed the set:\n%v\nwant\n%v", after, before)
	}
	var empty Set
	empty.RecordAt("checkout", 200, 0, t0)
	if st := empty.StatusAt(t0); len(st) != 0 {
		t.Errorf("zero Set status %v; want none", st)
	}
}

// TestSetRecordDuringConfigure: requests that loaded the old state count
// into the rings the new one reads (run with -race).
func TestSetRecordDuringConfigure(t *testing.T) {
	s, err := NewSet([]Config{okConfig()})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 500 {
				s.RecordAt("checkout", 200, 0, t0)
			}
		})
	}
	for range 20 {
		if err := s.Configure([]Config{okConfig()}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if st := s.StatusAt(t0.Add(time.Second)); st[0].Events != 2000 {
		t.Errorf("events %v; want 2000", st[0].Events)
	}
}

func ExampleTracker() {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tr, err := New(Config{Name: "checkout", Route: "checkout", Objective: 99.9,
		Window: 30 * 24 * time.Hour, Good: Good{StatusBelow: 500}})
	if err != nil {
		panic(err)
	}
	// An hour of one request a second, of which 2% fail: all the tracker
	// has seen, so every window reads 2%, 20 times the 0.1% budget.
	for k := range 3600 {
		status := 200
		if k%50 == 0 {
			status = 503
		}
		tr.RecordAt(status, 10*time.Millisecond, start.Add(time.Duration(k)*time.Second))
	}
	st := tr.StatusAt(start.Add(time.Hour))
	fmt.Printf("budget remaining %.3f\n", st.ErrorBudgetRemaining)
	for _, ts := range st.Tiers {
		fmt.Printf("%s burn %.1f over %gs, %.1f over %gs, firing %v\n", ts.Tier, ts.LongBurnRate, ts.LongWindowSeconds, ts.ShortBurnRate, ts.ShortWindowSeconds, ts.Firing)
	}
	// Output:
	// budget remaining -19.000
	// P0 burn 20.0 over 3600s, 20.0 over 300s, firing true
	// P1 burn 20.0 over 21600s, 20.0 over 1800s, firing true
	// P2 burn 20.0 over 259200s, 20.0 over 21600s, firing true
}
