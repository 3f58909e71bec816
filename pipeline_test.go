package holdfast_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/holdfast-dev/holdfast"
)

// tracer is a policy that records when it is entered and left.
type tracer struct {
	name string
	kind holdfast.Kind
	log  *[]string
}

func (p *tracer) Execute(ctx context.Context, next func(context.Context) error) error {
	*p.log = append(*p.log, p.name+">")
	err := next(ctx)
	*p.log = append(*p.log, "<"+p.name)
	return err
}
func (p *tracer) Kind() holdfast.Kind { return p.kind }

func TestRecommendedOrdersStagesByKind(t *testing.T) {
	var log []string
	mk := func(name string, k holdfast.Kind) *tracer { return &tracer{name, k, &log} }
	p, err := holdfast.New[int](holdfast.Recommended(
		mk("timeout", holdfast.KindTimeout),
		mk("breaker", holdfast.KindBreaker),
		mk("other", holdfast.KindOther),
		mk("retry", holdfast.KindRetry),
		mk("fallback", holdfast.KindFallback),
		mk("bulkhead", holdfast.KindBulkhead),
		mk("ratelimit", holdfast.KindRateLimit),
		mk("hedge", holdfast.KindHedge),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range p.Policies() {
		names = append(names, s.(*tracer).name)
	}
	want := []string{"fallback", "retry", "breaker", "hedge", "ratelimit", "bulkhead", "timeout", "other"}
	if !slices.Equal(names, want) {
		t.Errorf("order = %v; want %v", names, want)
	}
}

// TestNewKeepsTheGivenOrder: New(timeout, retry) runs the timeout outside
// the retry, an overall deadline. New used to reorder them silently, which
// made it a per-attempt one.
func TestNewKeepsTheGivenOrder(t *testing.T) {
	var log []string
	p, err := holdfast.New[string](
		&tracer{"timeout", holdfast.KindTimeout, &log},
		&tracer{"retry", holdfast.KindRetry, &log},
	)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Get(context.Background(), func(context.Context) (string, error) {
		log = append(log, "call")
		return "ok", nil
	})
	if got != "ok" || err != nil {
		t.Fatalf("Get = %q, %v; want ok, nil", got, err)
	}
	want := []string{"timeout>", "retry>", "call", "<retry", "<timeout"}
	if !slices.Equal(log, want) {
		t.Errorf("trace = %v; want %v", log, want)
	}
}

func TestNewRejectsNilPolicy(t *testing.T) {
	_, err := holdfast.New[int](nil)
	if !errors.Is(err, holdfast.ErrNilPolicy) {
		t.Errorf("New(nil) error = %v; want ErrNilPolicy", err)
	}
}

// retrier calls next up to n times until it succeeds.
type retrier struct{ n int }

func (r retrier) Execute(ctx context.Context, next func(context.Context) error) error {
	var err error
	for range r.n {
		if err = next(ctx); err == nil {
			return nil
		}
	}
	return err
}

// constFallback replaces any failure with v.
type constFallback struct{ v string }

func (f constFallback) Execute(ctx context.Context, next func(context.Context) error) error {
	next(ctx)
	return nil
}
func (f constFallback) Kind() holdfast.Kind { return holdfast.KindFallback }
func (f constFallback) Recover(ctx context.Context, err error) (string, error, bool) {
	return f.v, nil, true
}

// positive withholds results that are not positive.
type positive struct{ violations int }

var errNotPositive = errors.New("not positive")

func (g *positive) Execute(ctx context.Context, next func(context.Context) error) error {
	err := next(ctx)
	if errors.Is(err, errNotPositive) {
		g.violations++
	}
	return err
}
func (g *positive) Check(v int) error {
	if v <= 0 {
		return errNotPositive
	}
	return nil
}

func TestGetReturnsTheLastAttemptsResult(t *testing.T) {
	p := holdfast.MustNew[int](retrier{n: 3})
	boom := errors.New("boom")
	calls := 0
	got, err := p.Get(context.Background(), func(context.Context) (int, error) {
		calls++
		return calls * 10, boom
	})
	if got != 30 || !errors.Is(err, boom) || calls != 3 {
		t.Errorf("Get = %d, %v after %d calls; want 30, boom after 3", got, err, calls)
	}
	// The recycled frame must not leak the previous result.
	got, err = p.Get(context.Background(), func(context.Context) (int, error) { return 7, nil })
	if got != 7 || err != nil {
		t.Errorf("second Get = %d, %v; want 7, nil", got, err)
	}
}

func TestFallbackReplacesTheResult(t *testing.T) {
	p := holdfast.MustNew[string](constFallback{v: "cached"}, retrier{n: 2})
	got, err := p.Get(context.Background(), func(context.Context) (string, error) {
		return "partial", errors.New("down")
	})
	if got != "cached" || err != nil {
		t.Errorf("Get = %q, %v; want cached, nil", got, err)
	}
}

func TestCheckerWithholdsABadResult(t *testing.T) {
	g := &positive{}
	p := holdfast.MustNew[int](g)
	got, err := p.Get(context.Background(), func(context.Context) (int, error) { return -5, nil })
	if got != 0 || !errors.Is(err, errNotPositive) {
		t.Errorf("Get = %d, %v; want 0, errNotPositive", got, err)
	}
	if g.violations != 1 {
		t.Errorf("violations = %d; want 1", g.violations)
	}
	got, err = p.Get(context.Background(), func(context.Context) (int, error) { return 5, nil })
	if got != 5 || err != nil {
		t.Errorf("Get = %d, %v; want 5, nil", got, err)
	}
}

func TestRunPassesTheError(t *testing.T) {
	p := holdfast.MustNew[struct{}](retrier{n: 2})
	calls := 0
	err := p.Run(context.Background(), func(context.Context) error {
		calls++
		if calls == 1 {
			return errors.New("first")
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Errorf("Run = %v after %d calls; want nil after 2", err, calls)
	}
}

// racer runs next twice at once and returns when both are done, like a
// hedge whose first attempt is slow.
type racer struct{}

func (racer) Kind() holdfast.Kind { return holdfast.KindHedge }
func (racer) Execute(ctx context.Context, next func(context.Context) error) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() { errs[i] = next(ctx) })
	}
	wg.Wait()
	if errs[0] == nil || errs[1] == nil {
		return nil
	}
	return errs[0]
}

func TestConcurrentStagesKeepTheSuccessfulResult(t *testing.T) {
	p := holdfast.MustNew[string](racer{})
	for range 100 {
		var mu sync.Mutex
		n := 0
		got, err := p.Get(context.Background(), func(context.Context) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			n++
			if n == 1 {
				return "winner", nil
			}
			return "loser", errors.New("late")
		})
		if got != "winner" || err != nil {
			t.Fatalf("Get = %q, %v; want winner, nil", got, err)
		}
	}
}

// pass is the cheapest possible policy.
type pass struct{ k holdfast.Kind }

func (p pass) Execute(ctx context.Context, next func(context.Context) error) error { return next(ctx) }
func (p pass) Kind() holdfast.Kind                                                 { return p.k }

func BenchmarkPipelineOverhead(b *testing.B) {
	p := holdfast.MustNew[int](pass{holdfast.KindRetry}, pass{holdfast.KindBreaker}, pass{holdfast.KindRateLimit}, pass{holdfast.KindBulkhead})
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	b.ReportAllocs()
	for b.Loop() {
		p.Get(ctx, fn)
	}
}
