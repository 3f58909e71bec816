package bulkhead

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// recorder is a Listener that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []holdfast.Event
}

func (r *recorder) OnEvent(e holdfast.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) all() []holdfast.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *recorder) strings() []string {
	var s []string
	for _, e := range r.all() {
		s = append(s, e.String())
	}
	return s
}

func checkCounts(t *testing.T, b *Bulkhead, inFlight, queued int) {
	t.Helper()
	if got := b.InFlight(); got != inFlight {
		t.Errorf("InFlight() = %d; want %d", got, inFlight)
	}
	if got := b.Queued(); got != queued {
		t.Errorf("Queued() = %d; want %d", got, queued)
	}
}

func TestAcquireUpToLimitThenFull(t *testing.T) {
	tests := []struct {
		limit, queue int
		wantMsg      string
	}{
		{1, 0, "bulkhead: full: all 1 slots taken"},
		{3, 0, "bulkhead: full: all 3 slots taken"},
		{2, 2, "bulkhead: full: all 2 slots and 2 queue places taken"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("limit=%d,queue=%d", tt.limit, tt.queue), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &recorder{}
				b := MustNew(Config{Name: "bh", Limit: tt.limit, Queue: tt.queue, QueueTimeout: time.Hour, Listener: rec})
				ctx := t.Context()
				for i := range tt.limit {
					if err := b.Acquire(ctx); err != nil {
						t.Fatalf("Acquire #%d = %v; want nil", i+1, err)
					}
				}
				for range tt.queue {
					go b.Acquire(ctx) // stays queued until the test ends
				}
				synctest.Wait()
				checkCounts(t, b, tt.limit, tt.queue)

				start := time.Now()
				err := b.Acquire(ctx)
				if !errors.Is(err, ErrFull) {
					t.Fatalf("Acquire over limit and queue = %v; want ErrFull", err)
				}
				if elapsed := time.Since(start); elapsed != 0 {
					t.Errorf("refusal took %v; want 0 (at once)", elapsed)
				}
				var fe *FullError
				if !errors.As(err, &fe) {
					t.Fatalf("error %T is not a *FullError", err)
				}
				want := FullError{Reason: holdfast.ReasonOverloaded, Limit: tt.limit, Queue: tt.queue}
				if *fe != want {
					t.Errorf("FullError = %+v; want %+v", *fe, want)
				}
				if got := err.Error(); got != tt.wantMsg {
					t.Errorf("Error() = %q; want %q", got, tt.wantMsg)
				}
				if _, ok := holdfast.RetryAfter(err); ok {
					t.Error("RetryAfter(err) found a hint; a bulkhead knows none")
				}
				wantEvents := []string{"bh: rejected reason=overloaded err=" + tt.wantMsg}
				if got := rec.strings(); !slices.Equal(got, wantEvents) {
					t.Errorf("events = %q; want %q", got, wantEvents)
				}
				// Free everything so the queued goroutines finish.
				for range tt.limit + tt.queue {
					b.Release()
					synctest.Wait()
				}
				checkCounts(t, b, 0, 0)
			})
		})
	}
}

// TestFIFO queues callers one at a time and checks that released slots reach
// them strictly in arrival order, including a caller that arrives after
// releases have begun, and that a release hands the slot over rather than
// freeing it for a newcomer to grab.
func TestFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := MustNew(Config{Limit: 1, Queue: 10, QueueTimeout: time.Hour})
		ctx := t.Context()
		if err := b.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
		var (
			mu    sync.Mutex
			order []int
		)
		enqueue := func(id int) {
			go func() {
				if err := b.Acquire(ctx); err != nil {
					t.Errorf("caller %d: Acquire = %v", id, err)
					return
				}
				mu.Lock()
				order = append(order, id)
				mu.Unlock()
				// Holds its slot until the test releases it.
			}()
			synctest.Wait() // id is queued before the next arrives
		}
		for id := range 5 {
			enqueue(id)
		}
		checkCounts(t, b, 1, 5)

		b.Release()
		// Handed over, not freed: the slot is already caller 0's, so a
		// newcomer finds none free and must queue behind callers 1-4.
		checkCounts(t, b, 1, 4)
		enqueue(5)
		checkCounts(t, b, 1, 5)
		for range 5 {
			b.Release()
			synctest.Wait()
		}
		checkCounts(t, b, 1, 0)
		b.Release()
		checkCounts(t, b, 0, 0)

		if want := []int{0, 1, 2, 3, 4, 5}; !slices.Equal(order, want) {
			t.Errorf("slots went to callers %v; want %v", order, want)
		}
	})
}

// TestCancelLeavesQueueAtOnce checks that a caller cancelled while queued
// frees its queue place immediately (no time passes, and a newcomer can take
// the place), gets the context's error, and is skipped by later releases.
func TestCancelLeavesQueueAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		b := MustNew(Config{Limit: 1, Queue: 2, QueueTimeout: time.Hour, Listener: rec})
		ctx := t.Context()
		if err := b.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
		var (
			mu     sync.Mutex
			served []string
		)
		results := map[string]chan error{}
		enqueue := func(id string, ctx context.Context) {
			ch := make(chan error, 1)
			results[id] = ch
			go func() {
				err := b.Acquire(ctx)
				if err == nil {
					mu.Lock()
					served = append(served, id)
					mu.Unlock()
				}
				ch <- err
			}()
			synctest.Wait()
		}
		ctxA, cancelA := context.WithCancel(ctx)
		enqueue("A", ctxA)
		enqueue("B", ctx)
		checkCounts(t, b, 1, 2)

		start := time.Now()
		cancelA()
		synctest.Wait()
		if elapsed := time.Since(start); elapsed != 0 {
			t.Errorf("leaving the queue took %v; want 0", elapsed)
		}
		if err := <-results["A"]; !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled caller got %v; want context.Canceled", err)
		}
		checkCounts(t, b, 1, 1)

		enqueue("C", ctx) // takes the place A left
		checkCounts(t, b, 1, 2)
		if err := b.Acquire(ctx); !errors.Is(err, ErrFull) {
			t.Errorf("Acquire with the queue full again = %v; want ErrFull", err)
		}

		for range 2 {
			b.Release()
			synctest.Wait()
		}
		for _, id := range []string{"B", "C"} {
			if err := <-results[id]; err != nil {
				t.Errorf("caller %s: Acquire = %v; want nil", id, err)
			}
		}
		if want := []string{"B", "C"}; !slices.Equal(served, want) {
			t.Errorf("served %v; want %v", served, want)
		}
		checkCounts(t, b, 1, 0)
		b.Release()
		checkCounts(t, b, 0, 0)
		// The cancellation is the caller's doing, not a refusal: only the
		// overload refusal and the two waits show.
		want := []string{
			"bulkhead: rejected reason=overloaded err=bulkhead: full: all 1 slots and 2 queue places taken",
			"bulkhead: queued",
			"bulkhead: queued",
		}
		if got := rec.strings(); !slices.Equal(got, want) {
			t.Errorf("events = %q; want %q", got, want)
		}
	})
}

func TestQueueTimeout(t *testing.T) {
	tests := []struct {
		name        string
		timeout     time.Duration
		ctxDeadline time.Duration // 0: none
		wantWait    time.Duration
		wantErr     error
	}{
		{"queue timeout", 100 * time.Millisecond, 0, 100 * time.Millisecond, ErrFull},
		{"default queue timeout", 0, 0, DefaultQueueTimeout, ErrFull},
		{"context deadline first", 100 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond, context.DeadlineExceeded},
		{"queue timeout before context deadline", 100 * time.Millisecond, time.Second, 100 * time.Millisecond, ErrFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &recorder{}
				b := MustNew(Config{Limit: 1, Queue: 1, QueueTimeout: tt.timeout, Listener: rec})
				if err := b.Acquire(t.Context()); err != nil {
					t.Fatal(err)
				}
				ctx := t.Context()
				if tt.ctxDeadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.ctxDeadline)
					defer cancel()
				}
				start := time.Now()
				err := b.Acquire(ctx)
				if waited := time.Since(start); waited != tt.wantWait {
					t.Errorf("Acquire returned after %v; want %v", waited, tt.wantWait)
				}
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Acquire = %v; want %v", err, tt.wantErr)
				}
				checkCounts(t, b, 1, 0)
				var want []string
				if tt.wantErr == ErrFull {
					var fe *FullError
					if !errors.As(err, &fe) {
						t.Fatalf("error %T is not a *FullError", err)
					}
					wantFE := FullError{Reason: holdfast.ReasonQueueTimeout, Limit: 1, Queue: 1, Waited: tt.wantWait}
					if *fe != wantFE {
						t.Errorf("FullError = %+v; want %+v", *fe, wantFE)
					}
					msg := fmt.Sprintf("bulkhead: full: no slot free after queueing %v (limit 1)", tt.wantWait)
					if got := err.Error(); got != msg {
						t.Errorf("Error() = %q; want %q", got, msg)
					}
					want = []string{fmt.Sprintf("bulkhead: rejected delay=%v reason=queue_timeout err=%s", tt.wantWait, msg)}
				}
				if got := rec.strings(); !slices.Equal(got, want) {
					t.Errorf("events = %q; want %q", got, want)
				}
			})
		})
	}
}

func TestQueuedEventCarriesWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		b := MustNew(Config{Limit: 1, Queue: 1, QueueTimeout: time.Second, Listener: rec})
		ctx := t.Context()
		if err := b.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
		go func() {
			time.Sleep(30 * time.Millisecond)
			b.Release()
		}()
		if err := b.Acquire(ctx); err != nil {
			t.Fatalf("Acquire = %v; want nil", err)
		}
		want := []holdfast.Event{{Source: holdfast.KindBulkhead, Policy: "bulkhead", Kind: holdfast.EventQueued, Delay: 30 * time.Millisecond}}
		if got := rec.all(); !slices.Equal(got, want) {
			t.Errorf("events = %v; want %v", got, want)
		}
		b.Release()
		checkCounts(t, b, 0, 0)
	})
}

func TestAcquireWithEndedContextTakesNothing(t *testing.T) {
	b := MustNew(Config{Limit: 1})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire = %v; want context.Canceled", err)
	}
	called := false
	if err := b.Execute(ctx, func(context.Context) error { called = true; return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Execute = %v; want context.Canceled", err)
	}
	if called {
		t.Error("Execute called next with an ended context")
	}
	checkCounts(t, b, 0, 0)
}

func TestReleaseWithoutAcquirePanics(t *testing.T) {
	b := MustNew(Config{})
	defer func() {
		if r := recover(); r != "bulkhead: Release without a matching Acquire" {
			t.Errorf("recover() = %v; want the Release panic", r)
		}
	}()
	b.Release()
}

func TestExecute(t *testing.T) {
	boom := errors.New("boom")
	b := MustNew(Config{Limit: 2})
	ctx := t.Context()
	var inside int
	err := b.Execute(ctx, func(context.Context) error {
		inside = b.InFlight()
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("Execute = %v; want %v", err, boom)
	}
	if inside != 1 {
		t.Errorf("InFlight() inside the call = %d; want 1", inside)
	}
	checkCounts(t, b, 0, 0)

	got, err := Get(ctx, b, func(context.Context) (string, error) { return "ok", nil })
	if got != "ok" || err != nil {
		t.Errorf("Get = %q, %v; want %q, nil", got, err, "ok")
	}

	func() {
		defer func() { recover() }()
		b.Execute(ctx, func(context.Context) error { panic("call panicked") })
	}()
	checkCounts(t, b, 0, 0) // the slot came back despite the panic

	if err := b.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := Get(ctx, b, func(context.Context) (int, error) { return 7, nil })
	if v != 0 || !errors.Is(err, ErrFull) {
		t.Errorf("Get on a full bulkhead = %d, %v; want 0, ErrFull", v, err)
	}
}

// TestGrantRacesWait makes a slot hand-over coincide with the end of the
// wait (the queue timeout, or the context's deadline) at the same virtual
// instant, many times. Whichever wins, no slot may be lost or doubled.
func TestGrantRacesWait(t *testing.T) {
	for _, viaContext := range []bool{false, true} {
		t.Run(fmt.Sprintf("context=%v", viaContext), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const wait = 10 * time.Millisecond
				var got, refused, cancelled int
				for range 200 {
					b := MustNew(Config{Limit: 1, Queue: 1, QueueTimeout: wait})
					ctx, cancel := context.WithCancel(t.Context())
					if viaContext {
						ctx, cancel = context.WithTimeout(t.Context(), wait)
						b.queueTimeout = time.Hour
					}
					if err := b.Acquire(ctx); err != nil {
						t.Fatal(err)
					}
					go func() {
						time.Sleep(wait)
						b.Release()
					}()
					switch err := b.Acquire(ctx); {
					case err == nil:
						got++
						b.Release()
					case errors.Is(err, ErrFull):
						refused++
					case errors.Is(err, context.DeadlineExceeded):
						cancelled++
					default:
						t.Fatalf("Acquire = %v", err)
					}
					synctest.Wait()
					cancel()
					checkCounts(t, b, 0, 0)
				}
				t.Logf("slot won %d times, refused %d, cancelled %d", got, refused, cancelled)
			})
		})
	}
}

// TestNeverExceedsLimit runs many callers with random cancellations against
// a small bulkhead and checks that no more than Limit calls ever ran at once
// and that every slot and queue place is returned at the end.
func TestNeverExceedsLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit = 4
		b := MustNew(Config{Limit: limit, Queue: 8, QueueTimeout: 5 * time.Millisecond})
		var running, peak, done atomic.Int64
		var wg sync.WaitGroup
		for i := range 500 {
			wg.Go(func() {
				time.Sleep(time.Duration(i%50) * time.Millisecond / 10)
				ctx, cancel := context.WithTimeout(t.Context(), time.Duration(rand.IntN(8))*time.Millisecond)
				defer cancel()
				b.Execute(ctx, func(context.Context) error {
					n := running.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					time.Sleep(time.Millisecond)
					running.Add(-1)
					done.Add(1)
					return nil
				})
			})
		}
		wg.Wait()
		if p := peak.Load(); p != limit {
			t.Errorf("peak concurrency = %d; want %d (full use, never more)", p, limit)
		}
		if done.Load() == 0 {
			t.Error("no call ran")
		}
		checkCounts(t, b, 0, 0)
	})
}
