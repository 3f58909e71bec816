package hedge

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// resource is a value that must be released exactly once unless returned.
type resource struct {
	name string
	ctx  context.Context // the attempt's context
}

// ledger records releases.
type ledger struct {
	mu       sync.Mutex
	released []string
}

func (l *ledger) release(r *resource) {
	if r == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.released = append(l.released, r.name)
}

func (l *ledger) names() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := slices.Clone(l.released)
	slices.Sort(s)
	return s
}

// plan answers attempt i after took[i] with name i, or fails with errs[i];
// an attempt whose context ends first still returns its resource.
func plan(took []time.Duration, names []string, errs []error) func(context.Context) (*resource, error) {
	var mu sync.Mutex
	n := 0
	return func(ctx context.Context) (*resource, error) {
		mu.Lock()
		i := n
		n++
		mu.Unlock()
		r := &resource{name: names[i], ctx: ctx}
		select {
		case <-time.After(took[i]):
			return r, errs[i]
		case <-ctx.Done():
			return r, ctx.Err()
		}
	}
}

func TestRaceKeepsTheWinnerAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := MustNew(Config{Delay: 10 * time.Millisecond, MaxExtra: 1, BudgetPercent: 100})
		var l ledger
		fn := plan([]time.Duration{time.Second, 20 * time.Millisecond}, []string{"slow", "fast"}, []error{nil, nil})
		v, stop, err := Race(t.Context(), h, fn, l.release)
		if err != nil || v == nil || v.name != "fast" {
			t.Fatalf("Race = %v, %v; want the hedge, fast", v, err)
		}
		synctest.Wait()
		if v.ctx.Err() != nil {
			t.Fatalf("the winner's context ended with the call: %v; want it live until stop", context.Cause(v.ctx))
		}
		if got := l.names(); !slices.Equal(got, []string{"slow"}) {
			t.Errorf("released %v; want [slow], the loser, once", got)
		}
		stop()
		if !errors.Is(v.ctx.Err(), context.Canceled) {
			t.Errorf("after stop the winner's context is %v; want cancelled", v.ctx.Err())
		}
		stop() // idempotent
	})
}

func TestRaceLoserCancelledWithErrLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := MustNew(Config{Delay: 10 * time.Millisecond, MaxExtra: 1, BudgetPercent: 100})
		var loser context.Context
		var mu sync.Mutex
		calls := 0
		fn := func(ctx context.Context) (*resource, error) {
			mu.Lock()
			calls++
			first := calls == 1
			mu.Unlock()
			if first {
				loser = ctx
				<-ctx.Done()
				return &resource{name: "first"}, ctx.Err()
			}
			time.Sleep(5 * time.Millisecond)
			return &resource{name: "second"}, nil
		}
		var l ledger
		v, stop, err := Race(t.Context(), h, fn, l.release)
		defer stop()
		if err != nil || v.name != "second" {
			t.Fatalf("Race = %v, %v; want second", v, err)
		}
		synctest.Wait()
		if got := context.Cause(loser); !errors.Is(got, ErrLost) {
			t.Errorf("loser's cause %v; want ErrLost", got)
		}
		if got := l.names(); !slices.Equal(got, []string{"first"}) {
			t.Errorf("released %v; want [first]", got)
		}
	})
}

func TestRaceAllFailReturnsTheLast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := MustNew(Config{Delay: 10 * time.Millisecond, MaxExtra: 2, BudgetPercent: 100})
		boom := errors.New("503")
		var l ledger
		fn := plan([]time.Duration{5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond},
			[]string{"a", "b", "c"}, []error{boom, boom, boom})
		v, stop, err := Race(t.Context(), h, fn, l.release)
		defer stop()
		if !errors.Is(err, boom) || v == nil || v.name != "c" {
			t.Fatalf("Race = %v, %v; want c with the failure", v, err)
		}
		if v.ctx.Err() != nil {
			t.Errorf("the returned failure's context ended: %v; want it live until stop", v.ctx.Err())
		}
		synctest.Wait()
		if got := l.names(); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("released %v; want [a b], the failures replaced", got)
		}
	})
}

func TestRaceContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := MustNew(Config{Delay: 10 * time.Millisecond, MaxExtra: 1, BudgetPercent: 100})
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		var l ledger
		fn := plan([]time.Duration{time.Second, time.Second}, []string{"a", "b"}, []error{nil, nil})
		v, stop, err := Race(ctx, h, fn, l.release)
		stop()
		if !errors.Is(err, context.DeadlineExceeded) || v != nil {
			t.Fatalf("Race = %v, %v; want nil, the deadline", v, err)
		}
		synctest.Wait()
		if got := l.names(); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("released %v; want [a b]: every value that came back late", got)
		}
	})
}

func TestRaceWithoutBudgetRunsDirect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := MustNew(Config{Delay: time.Millisecond, MaxExtra: 1, BudgetPercent: 1, BudgetBurst: 1})
		for h.budget.available() {
			h.budget.spend()
		}
		var l ledger
		fn := plan([]time.Duration{5 * time.Millisecond}, []string{"only"}, []error{nil})
		v, stop, err := Race(t.Context(), h, fn, l.release)
		if err != nil || v.name != "only" || v.ctx.Err() != nil {
			t.Fatalf("Race = %v, %v (ctx %v); want only, live", v, err, v.ctx.Err())
		}
		stop()
		if v.ctx.Err() == nil {
			t.Errorf("stop left the context live")
		}
		if got := l.names(); len(got) != 0 {
			t.Errorf("released %v; want nothing", got)
		}
	})
}
