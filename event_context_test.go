package holdfast_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/adaptive"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/bulkhead"
	"github.com/holdfast-dev/holdfast/fallback"
	"github.com/holdfast-dev/holdfast/guard"
	"github.com/holdfast-dev/holdfast/hedge"
	"github.com/holdfast-dev/holdfast/ratelimit"
	"github.com/holdfast-dev/holdfast/retry"
	"github.com/holdfast-dev/holdfast/timeout"
	"github.com/holdfast-dev/holdfast/vote"
)

// recorder is a listener that keeps what it hears, as Event.String without
// the error (whose text the policies' own tests check).
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) OnEvent(e holdfast.Event) {
	e.Err = nil
	r.mu.Lock()
	r.events = append(r.events, e.String())
	r.mu.Unlock()
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

var errBoom = errors.New("boom")

// sleepThen returns a call that sleeps d and returns err.
func sleepThen(d time.Duration, err error) func(context.Context) (int, error) {
	return func(context.Context) (int, error) {
		time.Sleep(d)
		return 1, err
	}
}

// callAt makes the call of a contextCall: it sleeps start, then runs fn
// through p.
func callAt(start time.Duration, fn func(context.Context) (int, error)) func(context.Context, *holdfast.Pipeline[int]) {
	return func(ctx context.Context, p *holdfast.Pipeline[int]) {
		time.Sleep(start)
		p.Get(ctx, fn) // the events are what is checked, not the result
	}
}

type contextCall struct {
	run  func(context.Context, *holdfast.Pipeline[int])
	want []string // the events this call's context listener hears, in order
}

// TestContextListenerHearsItsOwnCall runs concurrent calls through a
// pipeline of each policy, each under a context carrying a listener of its
// own, and checks that each listener hears the events of its own call and
// nothing of the others', while the policy's configured listener hears them
// all. Calls start at once (or after the sleep callAt gives them) in a
// synctest bubble, so delays are exact.
func TestContextListenerHearsItsOwnCall(t *testing.T) {
	tests := []struct {
		name     string
		policies func(l holdfast.Listener) []holdfast.Policy
		calls    []contextCall
	}{
		{
			name: "retry",
			policies: func(l holdfast.Listener) []holdfast.Policy {
				return []holdfast.Policy{retry.MustNew(retry.Config{Name: "r", Attempts: 3, Listener: l,
					Backoff: retry.BackoffConfig{Base: 10 * time.Millisecond, Jitter: retry.JitterNone}})}
			},
			calls: []contextCall{
				{run: callAt(0, failTimes(2)), want: []string{
					"r: attempt attempt=1", "r: retry attempt=1 delay=10ms",
					"r: attempt attempt=2", "r: retry attempt=2 delay=20ms",
					"r: attempt attempt=3",
				}},
				{run: callAt(0, sleepThen(5*time.Millisecond, nil)), want: []string{"r: attempt attempt=1"}},
			},
		},
		{
			name: "breaker",
			policies: func(l holdfast.Listener) []holdfast.Policy {
				return []holdfast.Policy{breaker.MustNew(breaker.Config{Name: "b", ConsecutiveFailures: 1,
					OpenDuration: 10 * time.Second, HalfOpenRequests: 1, Listener: l})}
			},
			calls: []contextCall{
				// Fails at 1s and opens the breaker.
				{run: callAt(0, sleepThen(time.Second, errBoom)), want: []string{"b: state_change delay=10s closed->open reason=consecutive_failures"}},
				// Admitted while closed; its success is dropped once open.
				{run: callAt(0, sleepThen(3*time.Second, nil)), want: nil},
				{run: callAt(2*time.Second, sleepThen(0, nil)), want: []string{"b: rejected delay=9s reason=breaker_open"}},
				// Half-opens the breaker and, as its probe, closes it.
				{run: callAt(11*time.Second, sleepThen(0, nil)), want: []string{
					"b: state_change open->half_open reason=open_duration_elapsed",
					"b: state_change half_open->closed reason=probes_succeeded",
				}},
			},
		},
		{
			name: "hedge",
			policies: func(l holdfast.Listener) []holdfast.Policy {
				return []holdfast.Policy{hedge.MustNew(hedge.Config{Name: "h", Delay: time.Second, Listener: l})}
			},
			calls: []contextCall{
				{run: callAt(0, slowFirst(5*time.Second)), want: []string{"h: hedge attempt=2 delay=1s"}},
				{run: callAt(0, sleepThen(500*time.Millisecond, nil)), want: nil},
			},
		},
		{
			name: "timeout",
			policies: func(l holdfast.Listener) []holdfast.Policy {
				return []holdfast.Policy{timeout.MustNew(timeout.Config{Name: "t", Timeout: time.Second, Listener: l})}
			},
			calls: []contextCall{
				// Ignores its context: times out at 1s, overruns by 1s.
				{run: callAt(0, sleepThen(2*time.Second, nil)), want: []string{"t: timeout", "t: overrun delay=1s"}},
				{run: callAt(0, sleepThen(500*time.Millisecond, nil)), want: nil},
			},
		},
		{
			name: "bulkhead",
			policies: func(l holdfast.Listener) []holdfast.Policy {
				return []holdfast.Policy{bulkhead.MustNew(bulkhead.Config{Name: "bh", Limit: 1, Queue: 1,
					QueueTimeout: 10 * time.Second, Listener: l})}
			},
			calls: []contextCall{
				{run: callAt(0, sleepThen(2*time.Second, nil)), want: nil},
				{run: callAt(500*time.Millisecond, sleepThen(0, nil)), want: []string{"bh: queued delay=1.5s"}},
				{run: callAt(time.Second, sleepThen(0, nil)), want: []string{"bh: rejected reason=overloaded"}},
			},
		},
		{
			name: "adaptive",
			policies: func(l holdfast.Listener) []holdfast.Policy {
				return []holdfast.Policy{adaptive.MustNew(adaptive.Config{Name: "a", Min: 1, Initial: 4,
					ProbeSamples: 1, Listener: l})}
			},
			calls: []contextCall{
				// The one probe call: it ends the probe and lifts the limit.
				{run: callAt(0, sleepThen(time.Second, nil)), want: []string{"a: state_change probing->limiting", "a: limit_changed value=4"}},
				{run: callAt(500*time.Millisecond, sleepThen(0, nil)), want: []string{"a: rejected reason=overloaded"}},
			},
		},
		{
			name: "ratelimit",
			policies: func(l holdfast.Listener) []holdfast.Policy {
				return []holdfast.Policy{ratelimit.MustNew(ratelimit.Config{Name: "rl", RequestsPerSecond: 1,
					Burst: 1, MaxWait: time.Second, Listener: l})}
			},
			calls: []contextCall{
				{run: callAt(0, sleepThen(0, nil)), want: nil},
				{run: callAt(200*time.Millisecond, sleepThen(0, nil)), want: []string{"rl: queued delay=800ms"}},
				{run: callAt(400*time.Millisecond, sleepThen(0, nil)), want: []string{"rl: rejected delay=1.6s reason=rate_limited"}},
			},
		},
		{
			name: "ratelimit keyed",
			policies: func(l holdfast.Listener) []holdfast.Policy {
				return []holdfast.Policy{ratelimit.MustNewKeyed(ratelimit.KeyedConfig{Config: ratelimit.Config{
					Name: "k", RequestsPerSecond: 1, Burst: 1, MaxWait: time.Second, Listener: l}})}
			},
			calls: []contextCall{
				{run: callAt(0, sleepThen(0, nil)), want: nil},
				{run: callAt(200*time.Millisecond, sleepThen(0, nil)), want: []string{"k: queued delay=800ms"}},
				{run: callAt(400*time.Millisecond, sleepThen(0, nil)), want: []string{"k: rejected delay=1.6s reason=rate_limited"}},
			},
		},
		{
			name: "fallback",
			policies: func(l holdfast.Listener) []holdfast.Policy {
				return []holdfast.Policy{fallback.MustNew(fallback.Config[int]{Name: "f", Value: 7, Listener: l})}
			},
			calls: []contextCall{
				{run: callAt(0, sleepThen(time.Second, errBoom)), want: []string{"f: fallback"}},
				{run: callAt(0, sleepThen(2*time.Second, nil)), want: nil},
			},
		},
		{
			name: "vote",
			policies: func(l holdfast.Listener) []holdfast.Policy {
				return []holdfast.Policy{vote.MustNew(vote.Config[struct{}]{Name: "v", Timeout: 10 * time.Second, WaitAll: true, Listener: l})}
			},
			calls: []contextCall{
				{run: callAt(0, sleepThen(time.Second, errBoom)), want: []string{"v: vote reason=no_quorum"}},
				{run: callAt(0, sleepThen(time.Second, nil)), want: []string{"v: vote reason=agreed value=3"}},
			},
		},
		{
			name: "guard",
			policies: func(l holdfast.Listener) []holdfast.Policy {
				return []holdfast.Policy{guard.MustNew(guard.Config[int]{Name: "g", Violations: 1, RecoveryProbes: 1,
					ProbeInterval: 5 * time.Second, Listener: l, Check: func(v int) error {
						if v < 0 {
							return errors.New("negative")
						}
						return nil
					}})}
			},
			calls: []contextCall{
				// Its result breaks the invariant (seen through the pipeline's
				// check) and silences the guard.
				{run: callAt(0, func(context.Context) (int, error) { time.Sleep(time.Second); return -1, nil }),
					want: []string{"g: violation", "g: silenced"}},
				{run: callAt(0, sleepThen(2*time.Second, nil)), want: nil},
				{run: callAt(3*time.Second, sleepThen(0, nil)), want: []string{"g: rejected reason=silenced"}},
				// The trial call after the probe interval re-admits it.
				{run: callAt(7*time.Second, sleepThen(0, nil)), want: []string{"g: recovered attempt=1"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fixed := &recorder{}
				pols := tt.policies(fixed)
				p := holdfast.MustNew[int](pols...)
				recs := make([]*recorder, len(tt.calls))
				var wg sync.WaitGroup
				for i, c := range tt.calls {
					recs[i] = &recorder{}
					ctx := holdfast.WithListener(t.Context(), recs[i])
					wg.Go(func() { c.run(ctx, p) })
				}
				wg.Wait()
				// An overrun is reported after its call returned: let every
				// abandoned call finish.
				time.Sleep(time.Minute)
				synctest.Wait()
				var all []string
				for i, c := range tt.calls {
					if diff := cmp.Diff(c.want, recs[i].got()); diff != "" {
						t.Errorf("call %d's context listener (-want +got):\n%s", i, diff)
					}
					all = append(all, c.want...)
				}
				got := fixed.got()
				slices.Sort(all)
				slices.Sort(got)
				if diff := cmp.Diff(all, got); diff != "" {
					t.Errorf("configured listener, sorted (-want +got):\n%s", diff)
				}
				for _, pol := range pols {
					if c, ok := pol.(interface{ Close() error }); ok {
						c.Close()
					}
				}
			})
		})
	}
}

// failTimes returns a call that fails n times, then succeeds.
func failTimes(n int) func(context.Context) (int, error) {
	var mu sync.Mutex
	calls := 0
	return func(context.Context) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if calls++; calls <= n {
			return 0, errBoom
		}
		return 1, nil
	}
}

// slowFirst returns a call whose first attempt takes d and whose later
// attempts answer at once.
func slowFirst(d time.Duration) func(context.Context) (int, error) {
	var mu sync.Mutex
	calls := 0
	return func(ctx context.Context) (int, error) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		return 1, nil
	}
}

func TestWithListenerStacks(t *testing.T) {
	var got []string
	named := func(name string) holdfast.Listener {
		return holdfast.ListenerFunc(func(e holdfast.Event) { got = append(got, name+":"+e.Kind.String()) })
	}
	root := context.Background()
	outer := holdfast.WithListener(root, named("outer"))
	a := holdfast.WithListener(outer, named("a"))
	b := holdfast.WithListener(outer, named("b")) // a sibling must not see a's listener
	if holdfast.WithListener(a, nil) != a {
		t.Error("WithListener(ctx, nil) is not ctx")
	}
	e := holdfast.Event{Kind: holdfast.EventRetry}
	tests := []struct {
		name  string
		ctx   context.Context
		fixed holdfast.Listener
		want  []string
	}{
		{"none", root, nil, nil},
		{"nil context", nil, named("fixed"), []string{"fixed:retry"}},
		{"fixed only", root, named("fixed"), []string{"fixed:retry"}},
		{"one", outer, nil, []string{"outer:retry"}},
		{"fixed first, then outermost first", a, named("fixed"), []string{"fixed:retry", "outer:retry", "a:retry"}},
		{"sibling", b, nil, []string{"outer:retry", "b:retry"}},
		{"derived context", context.WithoutCancel(a), nil, []string{"outer:retry", "a:retry"}},
	}
	for _, tt := range tests {
		got = nil
		holdfast.EmitContext(tt.ctx, tt.fixed, e)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %q; want %q", tt.name, got, tt.want)
		}
	}
}

// EmitContext allocates nothing, with or without listeners in the context,
// however deep the context: a policy pays only a lookup for the feature.
func TestEmitContextAllocatesNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, time.Hour)
	defer cancel()
	n := 0
	count := holdfast.ListenerFunc(func(holdfast.Event) { n++ })
	e := holdfast.Event{Source: holdfast.KindRetry, Policy: "r", Kind: holdfast.EventRetry, Attempt: 1, Delay: time.Second, Err: errBoom}
	tests := []struct {
		name string
		ctx  context.Context
	}{
		{"background", context.Background()},
		{"no listener", ctx},
		{"two listeners", holdfast.WithListener(holdfast.WithListener(ctx, count), count)},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(100, func() { holdfast.EmitContext(tt.ctx, count, e) }); got != 0 {
			t.Errorf("%s: EmitContext allocates %v times per event; want 0", tt.name, got)
		}
	}
	if n == 0 {
		t.Error("the listener heard nothing")
	}
}

func BenchmarkEmitContext(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	l := holdfast.ListenerFunc(func(holdfast.Event) {})
	e := holdfast.Event{Source: holdfast.KindRetry, Policy: "r", Kind: holdfast.EventAttempt, Attempt: 1}
	for _, bb := range []struct {
		name string
		ctx  context.Context
	}{
		{"none", ctx},
		{"one", holdfast.WithListener(ctx, l)},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				holdfast.EmitContext(bb.ctx, l, e)
			}
		})
	}
}
