package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/holdfast-dev/holdfast"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

type step struct {
	at   time.Duration // after t0
	n    int
	want bool
}

var allowTests = []struct {
	name  string
	c     Config
	steps []step
}{
	{"one per second", Config{RequestsPerSecond: 1, Burst: 1}, []step{
		{0, 1, true}, {0, 1, false}, {time.Second - 1, 1, false}, {time.Second, 1, true}, {time.Second, 1, false},
	}},
	{"burst then rate", Config{RequestsPerSecond: 10, Burst: 3}, []step{
		{0, 1, true}, {0, 1, true}, {0, 1, true}, {0, 1, false},
		{100 * time.Millisecond, 1, true}, {100 * time.Millisecond, 1, false},
		{350 * time.Millisecond, 2, true}, // 2.5 tokens
		{350 * time.Millisecond, 1, false}, {400 * time.Millisecond, 1, true},
	}},
	{"n at once", Config{RequestsPerSecond: 10, Burst: 5}, []step{
		{0, 6, false}, // more than the bucket: never
		{0, 5, true}, {0, 0, true}, {0, -1, true}, {0, 1, false},
		{300 * time.Millisecond, 4, false}, // refused requests take nothing
		{300 * time.Millisecond, 3, true},
	}},
	{"refill caps at burst", Config{RequestsPerSecond: 100, Burst: 2}, []step{
		{0, 2, true}, {time.Hour, 2, true}, {time.Hour, 1, false},
	}},
	{"earlier times get no credit", Config{RequestsPerSecond: 1, Burst: 2}, []step{
		{10 * time.Second, 2, true}, {9 * time.Second, 1, false}, {11 * time.Second, 1, true}, {11 * time.Second, 1, false},
	}},
	{"half a request per second", Config{RequestsPerSecond: 0.5}, []step{
		{0, 1, true}, {1999 * time.Millisecond, 1, false}, {2 * time.Second, 1, true},
	}},
}

func TestAllowAt(t *testing.T) {
	for _, tt := range allowTests {
		t.Run(tt.name, func(t *testing.T) {
			l := MustNew(tt.c)
			for i, s := range tt.steps {
				var got bool
				if s.n == 1 {
					got = l.AllowAt(t0.Add(s.at))
				} else {
					got = l.AllowN(t0.Add(s.at), s.n)
				}
				if got != s.want {
					t.Fatalf("step %d: AllowN(t0+%v, %d) = %v; want %v", i, s.at, s.n, got, s.want)
				}
			}
		})
	}
}

func TestTokensAt(t *testing.T) {
	l := MustNew(Config{RequestsPerSecond: 10, Burst: 4})
	if got := l.TokensAt(t0); got != 4 {
		t.Errorf("TokensAt(t0) of a new limiter = %v; want 4", got)
	}
	l.AllowN(t0, 4)
	l.ReserveN(t0, 2)
	tests := []struct {
		at   time.Duration
		want float64
	}{
		{0, -2}, {50 * time.Millisecond, -1.5}, {200 * time.Millisecond, 0}, {time.Second, 4}, {time.Hour, 4},
	}
	for _, tt := range tests {
		if got := l.TokensAt(t0.Add(tt.at)); got != tt.want {
			t.Errorf("TokensAt(t0+%v) = %v; want %v", tt.at, got, tt.want)
		}
	}
}

// TestAllowExactUnderContention has goroutines race for a bucket at one
// instant: exactly Burst of their requests may win.
func TestAllowExactUnderContention(t *testing.T) {
	l := MustNew(Config{RequestsPerSecond: 1, Burst: 500})
	var won atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if l.AllowAt(t0) {
					won.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := won.Load(); got != 500 {
		t.Fatalf("%d requests were allowed at one instant; want the burst, 500", got)
	}
}

// recorder is a Listener that keeps what it hears.
type recorder struct {
	mu     sync.Mutex
	events []holdfast.Event
}

func (r *recorder) OnEvent(e holdfast.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.Err = nil // compared separately
	r.events = append(r.events, e)
}

func (r *recorder) take() []holdfast.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

func TestExecute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		l := MustNew(Config{Name: "api", RequestsPerSecond: 10, Burst: 2, Listener: rec})
		calls := 0
		next := func(context.Context) error { calls++; return nil }
		ctx := context.Background()
		for i := range 2 {
			if err := l.Execute(ctx, next); err != nil {
				t.Fatalf("call %d: Execute = %v; want nil", i, err)
			}
		}
		err := l.Execute(ctx, next)
		if !errors.Is(err, ErrLimited) {
			t.Fatalf("third call: Execute = %v; want ErrLimited", err)
		}
		var le *LimitedError
		if !errors.As(err, &le) || le.Delay != 100*time.Millisecond || le.Err != nil {
			t.Fatalf("third call: error = %#v; want a *LimitedError with Delay 100ms and no cause", err)
		}
		if d, ok := holdfast.RetryAfter(err); !ok || d != 100*time.Millisecond {
			t.Errorf("RetryAfter(err) = %v, %v; want 100ms, true", d, ok)
		}
		if calls != 2 {
			t.Errorf("next ran %d times; want 2", calls)
		}
		want := []holdfast.Event{{Source: holdfast.KindRateLimit, Policy: "api", Kind: holdfast.EventRejected, Reason: holdfast.ReasonRateLimited, Delay: 100 * time.Millisecond}}
		if diff := cmp.Diff(want, rec.take()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}

		time.Sleep(30 * time.Millisecond)
		if _, err := Get(ctx, l, func(context.Context) (int, error) { return 1, nil }); !errors.Is(err, ErrLimited) {
			t.Errorf("Get 30ms later = %v; want ErrLimited", err)
		}
		time.Sleep(70 * time.Millisecond)
		got, err := Get(ctx, l, func(context.Context) (int, error) { return 42, nil })
		if got != 42 || err != nil {
			t.Errorf("Get 100ms later = %v, %v; want 42, nil", got, err)
		}
	})
}

func TestExecutePassesNextError(t *testing.T) {
	l := MustNew(Config{RequestsPerSecond: 1})
	want := errors.New("boom")
	if err := l.Execute(context.Background(), func(context.Context) error { return want }); err != want {
		t.Fatalf("Execute = %v; want next's error %v", err, want)
	}
}

func TestExecuteMaxWait(t *testing.T) {
	tests := []struct {
		name      string
		maxWait   time.Duration
		deadline  time.Duration // 0: none
		wantErr   error         // nil, ErrLimited
		wantCause error
		wantWait  time.Duration // how long Execute took
		wantEvent holdfast.Event
	}{
		{"waits for the token", 150 * time.Millisecond, 0, nil, nil, 100 * time.Millisecond,
			holdfast.Event{Source: holdfast.KindRateLimit, Policy: "ratelimit", Kind: holdfast.EventQueued, Delay: 100 * time.Millisecond}},
		{"wait exactly max", 100 * time.Millisecond, 0, nil, nil, 100 * time.Millisecond,
			holdfast.Event{Source: holdfast.KindRateLimit, Policy: "ratelimit", Kind: holdfast.EventQueued, Delay: 100 * time.Millisecond}},
		{"wait longer than max", 99 * time.Millisecond, 0, ErrLimited, nil, 0,
			holdfast.Event{Source: holdfast.KindRateLimit, Policy: "ratelimit", Kind: holdfast.EventRejected, Reason: holdfast.ReasonRateLimited, Delay: 100 * time.Millisecond}},
		{"deadline too soon", time.Second, 50 * time.Millisecond, ErrLimited, context.DeadlineExceeded, 0,
			holdfast.Event{Source: holdfast.KindRateLimit, Policy: "ratelimit", Kind: holdfast.EventRejected, Reason: holdfast.ReasonRateLimited, Delay: 100 * time.Millisecond}},
		{"deadline far enough", time.Second, 200 * time.Millisecond, nil, nil, 100 * time.Millisecond,
			holdfast.Event{Source: holdfast.KindRateLimit, Policy: "ratelimit", Kind: holdfast.EventQueued, Delay: 100 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &recorder{}
				l := MustNew(Config{RequestsPerSecond: 10, Burst: 1, MaxWait: tt.maxWait, Listener: rec})
				ctx := context.Background()
				if tt.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.deadline)
					defer cancel()
				}
				l.AllowAt(time.Now())
				start := time.Now()
				ran := false
				err := l.Execute(ctx, func(context.Context) error { ran = true; return nil })
				if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("Execute = %v; want %v", err, tt.wantErr)
				}
				if ran != (tt.wantErr == nil) {
					t.Errorf("next ran = %v; want %v", ran, tt.wantErr == nil)
				}
				if tt.wantCause != nil && !errors.Is(err, tt.wantCause) {
					t.Errorf("Execute = %v; want it to wrap %v", err, tt.wantCause)
				}
				if tt.wantCause == nil && errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Execute = %v; want no deadline cause", err)
				}
				if got := time.Since(start); got != tt.wantWait {
					t.Errorf("Execute took %v; want %v", got, tt.wantWait)
				}
				if diff := cmp.Diff([]holdfast.Event{tt.wantEvent}, rec.take()); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			})
		})
	}
}

func TestWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := MustNew(Config{RequestsPerSecond: 10, Burst: 2})
		ctx := context.Background()
		start := time.Now()
		for i, want := range []time.Duration{0, 0, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond} {
			if err := l.Wait(ctx); err != nil {
				t.Fatalf("Wait %d = %v", i, err)
			}
			if got := time.Since(start); got != want {
				t.Fatalf("Wait %d returned at %v; want %v", i, got, want)
			}
		}
		if err := l.WaitN(ctx, 2); err != nil || time.Since(start) != 500*time.Millisecond {
			t.Fatalf("WaitN(2) = %v at %v; want nil at 500ms", err, time.Since(start))
		}
		if err := l.WaitN(ctx, 0); err != nil || time.Since(start) != 500*time.Millisecond {
			t.Fatalf("WaitN(0) = %v at %v; want nil at once", err, time.Since(start))
		}
	})
}

func TestWaitPastDeadlineReturnsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := MustNew(Config{RequestsPerSecond: 1, Burst: 1})
		l.Allow()
		ctx, cancel := context.WithTimeout(context.Background(), 999*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := l.Wait(ctx)
		if !errors.Is(err, ErrLimited) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait = %v; want ErrLimited wrapping context.DeadlineExceeded", err)
		}
		if d, _ := holdfast.RetryAfter(err); d != time.Second {
			t.Errorf("RetryAfter = %v; want 1s", d)
		}
		if got := time.Since(start); got != 0 {
			t.Errorf("Wait took %v; want it to return at once", got)
		}
		if got := l.Tokens(); got != 0 {
			t.Errorf("Tokens() = %v after the refused Wait; want 0, nothing taken", got)
		}
		// A deadline the token just meets is fine.
		ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
		defer cancel2()
		if err := l.Wait(ctx2); err != nil || time.Since(start) != time.Second {
			t.Errorf("Wait with a 1s deadline = %v at %v; want nil at 1s", err, time.Since(start))
		}
	})
}

func TestWaitCancelledGivesTokenBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := MustNew(Config{RequestsPerSecond: 1, Burst: 1})
		l.Allow()
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error)
		go func() { errc <- l.Wait(ctx) }()
		synctest.Wait()
		if got := l.Tokens(); got != -1 {
			t.Fatalf("Tokens() while waiting = %v; want -1 (one reserved)", got)
		}
		time.Sleep(500 * time.Millisecond)
		cancel()
		if err := <-errc; err != context.Canceled {
			t.Fatalf("Wait = %v; want context.Canceled", err)
		}
		if got := l.Tokens(); got != 0.5 {
			t.Fatalf("Tokens() after the cancelled Wait = %v; want 0.5, the reservation given back", got)
		}
	})
}

func TestWaitErrors(t *testing.T) {
	l := MustNew(Config{RequestsPerSecond: 1, Burst: 3})
	if err := l.WaitN(context.Background(), 4); !errors.Is(err, ErrExceedsBurst) || errors.Is(err, ErrLimited) {
		t.Errorf("WaitN(4) with burst 3 = %v; want ErrExceedsBurst", err)
	}
	if err := l.WaitN(context.Background(), 4); err == nil || !strings.HasPrefix(err.Error(), "ratelimit: ") {
		t.Errorf("WaitN(4) error %q does not start with the package name", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx); err != context.Canceled {
		t.Errorf("Wait(cancelled) = %v; want context.Canceled", err)
	}
	if got := l.TokensAt(time.Now()); got != 3 {
		t.Errorf("Tokens after the failed waits = %v; want 3, nothing taken", got)
	}
}

func TestLimitedError(t *testing.T) {
	tests := []struct {
		err       *LimitedError
		wantText  string
		wantCause error
	}{
		{&LimitedError{Delay: 250 * time.Millisecond}, "ratelimit: limited, retry after 250ms", nil},
		{&LimitedError{Delay: time.Second, Err: context.DeadlineExceeded}, "ratelimit: limited, retry after 1s: context deadline exceeded", context.DeadlineExceeded},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.wantText {
			t.Errorf("Error() = %q; want %q", got, tt.wantText)
		}
		if !errors.Is(tt.err, ErrLimited) {
			t.Errorf("errors.Is(%v, ErrLimited) = false; want true", tt.err)
		}
		if errors.Is(tt.err, ErrExceedsBurst) {
			t.Errorf("errors.Is(%v, ErrExceedsBurst) = true; want false", tt.err)
		}
		if got := errors.Unwrap(tt.err); got != tt.wantCause {
			t.Errorf("Unwrap() = %v; want %v", got, tt.wantCause)
		}
		if got := tt.err.RetryAfter(); got != tt.err.Delay {
			t.Errorf("RetryAfter() = %v; want %v", got, tt.err.Delay)
		}
	}
}

func TestLoggerRecordsRefusals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		l := MustNew(Config{Name: "api", RequestsPerSecond: 4, Burst: 1, Logger: log})
		ok := func(context.Context) error { return nil }
		l.Execute(context.Background(), ok)
		if buf.Len() != 0 {
			t.Fatalf("logged %q for an allowed call; want nothing", buf.String())
		}
		l.Execute(context.Background(), ok)
		got := buf.String()
		for _, want := range []string{"level=DEBUG", `msg="rate limited"`, "policy=api", "retry_after=250ms", "past_deadline=false"} {
			if !strings.Contains(got, want) {
				t.Errorf("log %q lacks %q", got, want)
			}
		}
	})
}

// TestAllowDoesNotAllocate proves the success path is allocation-free.
func TestAllowDoesNotAllocate(t *testing.T) {
	l := MustNew(Config{RequestsPerSecond: 1e9, Burst: 1e9})
	k := MustNewKeyed(KeyedConfig{Config: Config{RequestsPerSecond: 1e9, Burst: 1e9}})
	ctx := context.Background()
	next := func(context.Context) error { return nil }
	get := func(context.Context) (int, error) { return 1, nil }
	now := time.Now()
	k.Allow("user-1")
	tests := []struct {
		name string
		f    func()
	}{
		{"Allow", func() { l.Allow() }},
		{"AllowAt", func() { l.AllowAt(now) }},
		{"AllowN", func() { l.AllowN(now, 2) }},
		{"Wait", func() { l.Wait(ctx) }},
		{"Execute", func() { l.Execute(ctx, next) }},
		{"Get", func() { Get(ctx, l, get) }},
		{"Keyed.Allow", func() { k.Allow("user-1") }},
		{"Keyed.ExecuteKey", func() { k.ExecuteKey(ctx, "user-1", next) }},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(1000, tt.f); got != 0 {
			t.Errorf("%s: %v allocations a call; want 0", tt.name, got)
		}
	}
}
