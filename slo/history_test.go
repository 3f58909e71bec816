package slo

import (
	"testing"
	"time"
)

func TestHistorySamplesBudgetAndBurnOverTime(t *testing.T) {
	tr, err := New(Config{Name: "c", Route: "r", Objective: 99, Window: time.Hour, Good: Good{StatusBelow: 500},
		Tiers: []Tier{{Name: "P0", BurnRate: 10, Long: 10 * time.Minute, Short: time.Minute}}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1_700_000_000, 0)
	// A good minute, then a minute of half failures.
	for i := range 60 {
		at := start.Add(time.Duration(i) * time.Second)
		tr.RecordAt(200, time.Millisecond, at)
	}
	first := tr.SampleAt(start.Add(time.Minute))
	for i := range 60 {
		at := start.Add(time.Minute + time.Duration(i)*time.Second)
		tr.RecordAt(200+300*(i%2), time.Millisecond, at)
	}
	second := tr.SampleAt(start.Add(2 * time.Minute))

	h := tr.History()
	if len(h) != 2 {
		t.Fatalf("history holds %d points, want 2", len(h))
	}
	if h[0].ErrorBudgetRemaining != 1 || h[0].Long[0] != 0 || first.ErrorBudgetRemaining != 1 {
		t.Errorf("after a good minute: %+v, want the whole budget and no burn", h[0])
	}
	// 30 bad of 120 is a quarter, 25 times the 1% budget.
	if got := h[1].Long[0]; !near(got, 25) || h[1].ErrorBudgetRemaining != second.ErrorBudgetRemaining || !near(second.ErrorBudgetRemaining, -24) {
		t.Errorf("after a bad minute: long burn %v, budget %v (status %v), want 25 and -24", got, h[1].ErrorBudgetRemaining, second.ErrorBudgetRemaining)
	}
	if !h[1].Time.Equal(start.Add(2 * time.Minute)) {
		t.Errorf("second point at %v", h[1].Time)
	}
}

func TestHistoryIsBoundedAndOrdered(t *testing.T) {
	tr, err := New(Config{Name: "c", Route: "r", Objective: 99, Window: 30 * 24 * time.Hour, Good: Good{StatusBelow: 500}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1_700_000_000, 0)
	for i := range HistoryPoints + 25 {
		tr.SampleAt(start.Add(time.Duration(i) * 10 * time.Second))
	}
	// The clock stepping back is not a point.
	tr.SampleAt(start)
	h := tr.History()
	if len(h) != HistoryPoints {
		t.Fatalf("history holds %d points, want %d", len(h), HistoryPoints)
	}
	if want := start.Add(25 * 10 * time.Second); !h[0].Time.Equal(want) {
		t.Errorf("oldest point at %v, want %v", h[0].Time, want)
	}
	for i := 1; i < len(h); i++ {
		if !h[i].Time.After(h[i-1].Time) {
			t.Fatalf("points %d and %d out of order: %v, %v", i-1, i, h[i-1].Time, h[i].Time)
		}
	}
}

func TestHistorySurvivesAReloadOfTheSameObjective(t *testing.T) {
	c := Config{Name: "c", Route: "r", Objective: 99, Window: 30 * 24 * time.Hour, Good: Good{StatusBelow: 500}}
	s, err := NewSet([]Config{c})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	s.SampleAt(now)
	c.Objective = 99.5
	if err := s.Configure([]Config{c}); err != nil {
		t.Fatal(err)
	}
	s.SampleAt(now.Add(10 * time.Second))
	if n := len(s.Trackers()[0].History()); n != 2 {
		t.Errorf("history after a reload holds %d points, want 2", n)
	}
	c.Window = 7 * 24 * time.Hour // another objective: starts afresh
	if err := s.Configure([]Config{c}); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Trackers()[0].History()); n != 0 {
		t.Errorf("history of a changed objective holds %d points, want 0", n)
	}
}
