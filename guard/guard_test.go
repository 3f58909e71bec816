package guard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/holdfast-dev/holdfast"
)

func TestGetWithholdsViolations(t *testing.T) {
	tests := []struct {
		name    string
		fn      func(context.Context) (int, error)
		want    int
		wantErr error
	}{
		{name: "valid result", fn: value(7), want: 7},
		{name: "zero is valid", fn: value(0), want: 0},
		{name: "invalid result withheld", fn: value(-1), want: 0, wantErr: ErrInvariant},
		{name: "call error passes through", fn: func(context.Context) (int, error) { return 5, errNetwork }, want: 0, wantErr: errNetwork},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := MustNew(Config[int]{Check: nonNegative})
			got, err := g.Get(context.Background(), tt.fn)
			if got != tt.want {
				t.Errorf("got %d; want %d", got, tt.want)
			}
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("err = %v; want %v", err, tt.wantErr)
			}
		})
	}
}

func TestInvariantError(t *testing.T) {
	g := MustNew(Config[int]{Name: "quotes", Check: nonNegative})
	err := g.Check(-2)
	ie, ok := errors.AsType[*InvariantError](err)
	if !ok {
		t.Fatalf("Check(-2) = %T; want *InvariantError", err)
	}
	if !errors.Is(err, ErrInvariant) || !errors.Is(err, errNegative) {
		t.Errorf("errors.Is(%v, ErrInvariant/errNegative) = false; want true", err)
	}
	if ie.Policy != "quotes" {
		t.Errorf("Policy = %q; want quotes", ie.Policy)
	}
	if got, want := err.Error(), "guard: quotes: invariant violated: -2: negative"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
	if err := g.Check(3); err != nil {
		t.Errorf("Check(3) = %v; want nil", err)
	}
	if err := MustNew(Config[int]{}).Check(-1); err != nil {
		t.Errorf("Check without Config.Check = %v; want nil", err)
	}
}

func TestSilencingWindow(t *testing.T) {
	tests := []struct {
		name       string
		violations int
		window     time.Duration
		at         []time.Duration // offsets of the violating calls
		want       State
	}{
		{name: "default three at once", at: []time.Duration{0, 0, 0}, want: StateSilenced},
		{name: "two are not enough", at: []time.Duration{0, 0}, want: StateActive},
		{name: "one silences when violations is 1", violations: 1, at: []time.Duration{0}, want: StateSilenced},
		{name: "spread within the window", window: 10 * time.Second, at: []time.Duration{0, 5 * time.Second, 9999 * time.Millisecond}, want: StateSilenced},
		{name: "the oldest expired exactly", window: 10 * time.Second, at: []time.Duration{0, 5 * time.Second, 10 * time.Second}, want: StateActive},
		{name: "old violations slide out", window: 10 * time.Second, at: []time.Duration{0, 6 * time.Second, 12 * time.Second, 18 * time.Second}, want: StateActive},
		{name: "a late burst", window: 10 * time.Second, at: []time.Duration{0, 20 * time.Second, 21 * time.Second, 22 * time.Second}, want: StateSilenced},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := MustNew(Config[int]{Check: nonNegative, Violations: tt.violations, Window: tt.window})
				defer g.Close()
				start := time.Now()
				for _, at := range tt.at {
					time.Sleep(time.Until(start.Add(at)))
					if _, err := g.Get(context.Background(), value(-1)); !errors.Is(err, ErrInvariant) {
						t.Fatalf("Get = %v; want ErrInvariant", err)
					}
				}
				if got := g.State(); got != tt.want {
					t.Errorf("State() = %v; want %v", got, tt.want)
				}
			})
		})
	}
}

func TestSilencedFailsFast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		g := MustNew(Config[int]{Name: "q", Check: nonNegative, Violations: 2, ProbeInterval: 4 * time.Second, Listener: rec})
		g.Get(context.Background(), value(-1))
		g.Get(context.Background(), value(-2))
		if diff := cmp.Diff([]string{"violation", "violation", "silenced"}, rec.take()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		time.Sleep(time.Second)
		called := false
		_, err := g.Get(context.Background(), func(context.Context) (int, error) { called = true; return 1, nil })
		if called {
			t.Error("fn ran while silenced")
		}
		se, ok := errors.AsType[*SilencedError](err)
		if !ok {
			t.Fatalf("Get = %v; want *SilencedError", err)
		}
		if !errors.Is(err, ErrSilenced) || !errors.Is(err, errNegative) {
			t.Errorf("errors.Is(%v, ErrSilenced/errNegative) = false; want true", err)
		}
		if errors.Is(err, ErrInvariant) {
			t.Errorf("errors.Is(%v, ErrInvariant) = true; want false: a refusal is not a withheld result", err)
		}
		// Three more trial calls are needed: the first in 3s.
		if got, want := se.RetryAfter(), 3*time.Second; got != want {
			t.Errorf("RetryAfter() = %v; want %v", got, want)
		}
		if d, ok := holdfast.RetryAfter(err); !ok || d != 3*time.Second {
			t.Errorf("holdfast.RetryAfter = %v, %v; want 3s, true", d, ok)
		}
		if got, want := err.Error(), "guard: q: silenced after: -2: negative"; got != want {
			t.Errorf("Error() = %q; want %q", got, want)
		}
		if err := g.Execute(context.Background(), func(context.Context) error { called = true; return nil }); !errors.Is(err, ErrSilenced) || called {
			t.Errorf("Execute = %v, called %v; want ErrSilenced without calling next", err, called)
		}
		rec.mu.Lock()
		last := rec.events[len(rec.events)-1]
		rec.mu.Unlock()
		if last.Kind != holdfast.EventRejected || last.Reason != holdfast.ReasonSilenced {
			t.Errorf("last event = %v; want rejected reason=silenced", last)
		}
	})
}

func TestProbeRecovery(t *testing.T) {
	tests := []struct {
		name   string
		probes []bool // results of successive probes
		want   time.Duration
	}{
		{name: "three passes", probes: []bool{true, true, true}, want: 3 * time.Second},
		{name: "a failure restarts the count", probes: []bool{true, false, true, true, true}, want: 5 * time.Second},
		{name: "failures first", probes: []bool{false, false, true, true, true}, want: 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &recorder{}
				n := 0
				g := MustNew(Config[int]{
					Check:         nonNegative,
					Violations:    1,
					ProbeInterval: time.Second,
					Probe: func(ctx context.Context) error {
						ok := tt.probes[n]
						n++
						if !ok {
							return errNetwork
						}
						return nil
					},
					Listener: rec,
				})
				defer g.Close()
				start := time.Now()
				g.Get(context.Background(), value(-1))
				for g.State() == StateSilenced {
					time.Sleep(time.Second)
					synctest.Wait()
				}
				if got := time.Since(start); got != tt.want {
					t.Errorf("recovered after %v; want %v", got, tt.want)
				}
				if n != len(tt.probes) {
					t.Errorf("ran %d probes; want %d", n, len(tt.probes))
				}
				if diff := cmp.Diff([]string{"violation", "silenced", "recovered"}, rec.take()); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
				if got, err := g.Get(context.Background(), value(4)); got != 4 || err != nil {
					t.Errorf("Get after recovery = %d, %v; want 4, nil", got, err)
				}
			})
		})
	}
}

func TestProbeRetryAfterCountsRemainingProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := MustNew(Config[int]{Violations: 1, ProbeInterval: 2 * time.Second, RecoveryProbes: 3,
			Check: nonNegative, Probe: func(context.Context) error { return nil }})
		defer g.Close()
		g.Get(context.Background(), value(-1))
		tests := []struct {
			at   time.Duration
			want time.Duration
		}{
			{0, 6 * time.Second},
			{time.Second, 5 * time.Second},
			{3 * time.Second, 3 * time.Second}, // after the first pass at 2s
			{5 * time.Second, time.Second},
		}
		start := time.Now()
		for _, tt := range tests {
			time.Sleep(time.Until(start.Add(tt.at)))
			synctest.Wait()
			_, err := g.Get(context.Background(), value(1))
			if got, _ := holdfast.RetryAfter(err); got != tt.want {
				t.Errorf("at %v: RetryAfter = %v; want %v", tt.at, got, tt.want)
			}
		}
	})
}

func TestCloseStopsProbing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		probing := make(chan struct{})
		g := MustNew(Config[int]{Check: nonNegative, Violations: 1, ProbeInterval: time.Second,
			Probe: func(ctx context.Context) error {
				close(probing)
				<-ctx.Done() // a probe that hangs until told to stop
				return ctx.Err()
			},
			ProbeTimeout: time.Hour,
		})
		g.Get(context.Background(), value(-1))
		<-probing
		g.Close()
		g.Close() // idempotent
		if got := g.State(); got != StateSilenced {
			t.Errorf("State() after Close = %v; want silenced", got)
		}
		// The bubble ending proves the probe goroutine is gone.
	})
}

func TestProbeTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu        sync.Mutex
			deadlines []time.Duration
		)
		start := time.Now()
		g := MustNew(Config[int]{Check: nonNegative, Violations: 1, ProbeInterval: time.Second, ProbeTimeout: 300 * time.Millisecond,
			RecoveryProbes: 1,
			Probe: func(ctx context.Context) error {
				d, _ := ctx.Deadline()
				mu.Lock()
				defer mu.Unlock()
				deadlines = append(deadlines, d.Sub(start))
				return nil
			},
		})
		defer g.Close()
		g.Get(context.Background(), value(-1))
		time.Sleep(2 * time.Second)
		mu.Lock()
		defer mu.Unlock()
		if diff := cmp.Diff([]time.Duration{1300 * time.Millisecond}, deadlines); diff != "" {
			t.Errorf("probe deadlines (-want +got):\n%s", diff)
		}
	})
}

func TestExecuteCountsViolations(t *testing.T) {
	inner := MustNew(Config[int]{Name: "inner", Violations: 1, Check: nonNegative})
	inner.Check(-1) // silence inner
	innerSilenced := inner.Execute(context.Background(), func(context.Context) error { return nil })

	tests := []struct {
		name string
		err  func(g *Guard[int]) error // the error next returns
		want int                       // violation events
	}{
		{name: "success", err: func(*Guard[int]) error { return nil }, want: 0},
		{name: "ordinary error", err: func(*Guard[int]) error { return errNetwork }, want: 0},
		{name: "sentinel", err: func(*Guard[int]) error { return fmt.Errorf("bad body: %w", ErrInvariant) }, want: 1},
		{name: "another guard's violation", err: func(*Guard[int]) error { return &InvariantError{Policy: "other", Err: errNegative} }, want: 1},
		{name: "own check, run inside next", err: func(g *Guard[int]) error { return g.Check(-1) }, want: 1},
		{name: "silenced inner guard", err: func(*Guard[int]) error { return innerSilenced }, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			g := MustNew(Config[int]{Check: nonNegative, Listener: rec})
			g.Execute(context.Background(), func(context.Context) error { return tt.err(g) })
			got := 0
			for _, k := range rec.take() {
				if k == "violation" {
					got++
				}
			}
			if got != tt.want {
				t.Errorf("violations = %d; want %d", got, tt.want)
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	// Under concurrent calls, silencing and probing, a caller only ever sees
	// a valid result, a withheld one or a refusal.
	synctest.Test(t, func(t *testing.T) {
		g := MustNew(Config[int]{Check: nonNegative, Violations: 5, ProbeInterval: time.Second,
			Probe: func(context.Context) error { return nil }})
		defer g.Close()
		errs := make(chan error, 8)
		for i := range 8 {
			go func() {
				for j := range 50 {
					n := j
					if (i+j)%7 == 0 {
						n = -1
					}
					got, err := g.Get(context.Background(), value(n))
					switch {
					case err == nil && got != n:
						errs <- fmt.Errorf("Get = %d, nil; want %d", got, n)
						return
					case err != nil && (got != 0 || !errors.Is(err, ErrInvariant) && !errors.Is(err, ErrSilenced)):
						errs <- fmt.Errorf("Get = %d, %v; want 0 and ErrInvariant or ErrSilenced", got, err)
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
				errs <- nil
			}()
		}
		for range 8 {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	})
}

func TestNameKindState(t *testing.T) {
	g := MustNew(Config[int]{})
	if g.Name() != "guard" || g.Kind() != holdfast.KindGuard {
		t.Errorf("Name, Kind = %q, %v; want guard, guard", g.Name(), g.Kind())
	}
	for s, want := range map[State]string{StateActive: "active", StateSilenced: "silenced", 9: "unknown"} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q; want %q", s, got, want)
		}
	}
}

func TestSuccessPathDoesNotAllocate(t *testing.T) {
	g := MustNew(Config[int]{Check: nonNegative})
	ctx := context.Background()
	next := func(context.Context) error { return nil }
	fn := value(3)
	if got := testing.AllocsPerRun(100, func() { _ = g.Execute(ctx, next) }); got != 0 {
		t.Errorf("Execute allocs = %v; want 0", got)
	}
	if got := testing.AllocsPerRun(100, func() { _, _ = g.Get(ctx, fn) }); got != 0 {
		t.Errorf("Get allocs = %v; want 0", got)
	}
}

func BenchmarkExecuteSuccess(b *testing.B) {
	g := MustNew(Config[int]{Check: nonNegative})
	ctx := context.Background()
	next := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		_ = g.Execute(ctx, next)
	}
}

func BenchmarkGetSuccess(b *testing.B) {
	g := MustNew(Config[int]{Check: nonNegative})
	ctx := context.Background()
	fn := value(3)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = g.Get(ctx, fn)
	}
}

func BenchmarkGetSilenced(b *testing.B) {
	g := MustNew(Config[int]{Check: nonNegative, Violations: 1, ProbeInterval: time.Hour})
	g.Check(-1)
	ctx := context.Background()
	fn := value(3)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = g.Get(ctx, fn)
	}
}
