package guard

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestTrialCalls(t *testing.T) {
	// step is one call at an offset from silencing; result -1 breaks the
	// invariant, err fails the call.
	type step struct {
		at      time.Duration
		result  int
		err     error
		wantRan bool
		want    State // state after the call
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "rejected before the interval", steps: []step{
			{at: 999 * time.Millisecond, result: 1, wantRan: false, want: StateSilenced},
		}},
		{name: "passes in a row recover", steps: []step{
			{at: time.Second, result: 1, wantRan: true, want: StateSilenced},
			{at: time.Second, result: 2, wantRan: true, want: StateSilenced},
			{at: time.Second, result: 3, wantRan: true, want: StateActive},
			// Active again, so one violation silences it anew.
			{at: time.Second, result: -1, wantRan: true, want: StateSilenced},
		}},
		{name: "violation resets and waits", steps: []step{
			{at: time.Second, result: 1, wantRan: true, want: StateSilenced},
			{at: time.Second, result: -1, wantRan: true, want: StateSilenced},
			{at: 1999 * time.Millisecond, result: 1, wantRan: false, want: StateSilenced},
			{at: 2 * time.Second, result: 1, wantRan: true, want: StateSilenced},
			{at: 2 * time.Second, result: 1, wantRan: true, want: StateSilenced},
			{at: 2 * time.Second, result: 1, wantRan: true, want: StateActive},
		}},
		{name: "errors fail trials", steps: []step{
			{at: time.Second, result: 1, wantRan: true, want: StateSilenced},
			{at: time.Second, err: errNetwork, wantRan: true, want: StateSilenced},
			{at: time.Second, result: 1, wantRan: false, want: StateSilenced},
		}},
		{name: "cancelled trials are neutral", steps: []step{
			{at: time.Second, result: 1, wantRan: true, want: StateSilenced},
			{at: time.Second, err: context.Canceled, wantRan: true, want: StateSilenced},
			{at: time.Second, result: 1, wantRan: true, want: StateSilenced},
			{at: time.Second, result: 1, wantRan: true, want: StateActive},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := MustNew(Config[int]{Check: nonNegative, Violations: 1, ProbeInterval: time.Second})
				g.Get(context.Background(), value(-1))
				start := time.Now()
				for i, s := range tt.steps {
					time.Sleep(time.Until(start.Add(s.at)))
					ctx, cancel := context.WithCancel(context.Background())
					ran := false
					g.Get(ctx, func(context.Context) (int, error) {
						ran = true
						if s.err == context.Canceled {
							cancel()
						}
						return s.result, s.err
					})
					cancel()
					if ran != s.wantRan {
						t.Errorf("step %d: ran = %v; want %v", i, ran, s.wantRan)
					}
					if got := g.State(); got != s.want {
						t.Errorf("step %d: State() = %v; want %v", i, got, s.want)
					}
				}
			})
		})
	}
}

func TestOneTrialAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := MustNew(Config[int]{Check: nonNegative, Violations: 1, ProbeInterval: time.Second, RecoveryProbes: 1})
		g.Get(context.Background(), value(-1))
		time.Sleep(time.Second)
		release := make(chan struct{})
		done := make(chan error)
		go func() {
			done <- g.Execute(context.Background(), func(context.Context) error { <-release; return nil })
		}()
		synctest.Wait() // the trial is running
		if err := g.Execute(context.Background(), func(context.Context) error { return nil }); !errors.Is(err, ErrSilenced) {
			t.Errorf("second call during a trial = %v; want ErrSilenced", err)
		}
		close(release)
		if err := <-done; err != nil {
			t.Errorf("trial = %v; want nil", err)
		}
		if got := g.State(); got != StateActive {
			t.Errorf("State() = %v; want active", got)
		}
	})
}

func TestTrialPanicFreesSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := MustNew(Config[int]{Check: nonNegative, Violations: 1, ProbeInterval: time.Second, RecoveryProbes: 1})
		g.Get(context.Background(), value(-1))
		time.Sleep(time.Second)
		func() {
			defer func() {
				if recover() == nil {
					t.Error("panic was swallowed")
				}
			}()
			g.Execute(context.Background(), func(context.Context) error { panic("boom") })
		}()
		// The panic failed the trial: the next one is an interval away.
		if err := g.Execute(context.Background(), func(context.Context) error { return nil }); !errors.Is(err, ErrSilenced) {
			t.Errorf("call right after panicking trial = %v; want ErrSilenced", err)
		}
		time.Sleep(time.Second)
		if err := g.Execute(context.Background(), func(context.Context) error { return nil }); err != nil {
			t.Errorf("trial after interval = %v; want nil", err)
		}
		if got := g.State(); got != StateActive {
			t.Errorf("State() = %v; want active", got)
		}
	})
}
