package adaptive

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// recorder is a Listener that keeps every event but rejections.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) OnEvent(e holdfast.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e.String())
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

func TestAcquireUpToLimitThenRefuse(t *testing.T) {
	rec := &recorder{}
	l := MustNew(Config{Name: "lim", Min: 3, Listener: rec})
	if got, want := l.Limit(), 3; got != want {
		t.Fatalf("Limit() while first probing = %d; want min %d", got, want)
	}
	if !l.Probing() {
		t.Error("Probing() = false before any sample; want true")
	}
	if got := l.MinRTT(); got != 0 {
		t.Errorf("MinRTT() before any sample = %v; want 0", got)
	}
	var toks []Token
	for i := range 3 {
		tok, err := l.Acquire()
		if err != nil {
			t.Fatalf("Acquire #%d = %v; want nil", i+1, err)
		}
		toks = append(toks, tok)
	}
	if got := l.InFlight(); got != 3 {
		t.Errorf("InFlight() = %d; want 3", got)
	}
	tok, err := l.Acquire()
	if !errors.Is(err, ErrLimited) {
		t.Fatalf("Acquire over the limit = %v; want ErrLimited", err)
	}
	if tok != (Token{}) {
		t.Errorf("refused Acquire returned %+v; want the zero Token", tok)
	}
	var le *LimitedError
	if !errors.As(err, &le) {
		t.Fatalf("error %T is not a *LimitedError", err)
	}
	if want := (LimitedError{Limit: 3, InFlight: 3}); *le != want {
		t.Errorf("LimitedError = %+v; want %+v", *le, want)
	}
	msg := "adaptive: concurrency limit reached: 3 in flight, limit 3"
	if got := err.Error(); got != msg {
		t.Errorf("Error() = %q; want %q", got, msg)
	}
	if want := []string{"lim: rejected reason=overloaded err=" + msg}; !slices.Equal(rec.take(), want) {
		t.Errorf("events differ; want %q", want)
	}
	toks[0].Ignore()
	if _, err := l.Acquire(); err != nil {
		t.Errorf("Acquire after a release = %v; want nil", err)
	}
	if got := l.InFlight(); got != 3 {
		t.Errorf("InFlight() = %d; want 3", got)
	}
}

func TestZeroTokenDoesNothing(t *testing.T) {
	l := MustNew(Config{})
	if _, err := l.Acquire(); err != nil {
		t.Fatal(err)
	}
	var tok Token
	tok.Done()
	tok.Drop()
	tok.Ignore()
	tok.Finish(nil)
	tok.Finish(context.DeadlineExceeded)
	if got := l.InFlight(); got != 1 {
		t.Errorf("InFlight() = %d; want 1", got)
	}
}

func TestTokenEndedTwicePanics(t *testing.T) {
	l := MustNew(Config{})
	tok, err := l.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	tok.Done()
	defer func() {
		if r := recover(); r != "adaptive: Token ended twice" {
			t.Errorf("recover() = %v; want the double-end panic", r)
		}
	}()
	tok.Done()
}

type timeoutError struct{ timeout bool }

func (e timeoutError) Error() string   { return fmt.Sprintf("timeout=%v", e.timeout) }
func (e timeoutError) Timeout() bool   { return e.timeout }
func (e timeoutError) Temporary() bool { return true }

var classifyTests = []struct {
	err  error
	drop bool // IsDrop
	want string
}{
	{nil, false, "sample"},
	{context.DeadlineExceeded, true, "drop"},
	{fmt.Errorf("get: %w", context.DeadlineExceeded), true, "drop"},
	{&LimitedError{Limit: 1, InFlight: 1}, true, "drop"},
	{fmt.Errorf("downstream: %w", ErrLimited), true, "drop"},
	{timeoutError{true}, true, "drop"},
	{fmt.Errorf("dial: %w", timeoutError{true}), true, "drop"},
	{timeoutError{false}, false, "ignore"},
	{context.Canceled, false, "ignore"},
	{errors.New("404"), false, "ignore"},
}

func TestIsDrop(t *testing.T) {
	for _, tt := range classifyTests {
		if got := IsDrop(tt.err); got != tt.drop {
			t.Errorf("IsDrop(%v) = %v; want %v", tt.err, got, tt.drop)
		}
	}
}

// TestExecuteClassifiesOutcomes checks what Execute and Finish teach the
// limiter from each kind of outcome.
func TestExecuteClassifiesOutcomes(t *testing.T) {
	for _, viaToken := range []bool{false, true} {
		for _, tt := range classifyTests {
			t.Run(fmt.Sprintf("token=%v/%v", viaToken, tt.err), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					l := MustNew(Config{ProbeSamples: 1})
					l.Execute(t.Context(), func(context.Context) error { return nil }) // ends the probe
					var err error
					if viaToken {
						tok, aerr := l.Acquire()
						if aerr != nil {
							t.Fatal(aerr)
						}
						time.Sleep(time.Millisecond)
						tok.Finish(tt.err)
					} else {
						err = l.Execute(t.Context(), func(context.Context) error {
							time.Sleep(time.Millisecond)
							return tt.err
						})
						if err != tt.err {
							t.Errorf("Execute = %v; want next's error %v", err, tt.err)
						}
					}
					got := "ignore"
					switch {
					case l.ctl.samples == 1 && l.ctl.sum == time.Millisecond && l.ctl.drops == 0:
						got = "sample"
					case l.ctl.samples == 0 && l.ctl.drops == 1:
						got = "drop"
					case l.ctl.samples != 0 || l.ctl.drops != 0:
						got = fmt.Sprintf("samples=%d sum=%v drops=%d", l.ctl.samples, l.ctl.sum, l.ctl.drops)
					}
					if got != tt.want {
						t.Errorf("outcome %v counted as %s; want %s", tt.err, got, tt.want)
					}
					if n := l.InFlight(); n != 0 {
						t.Errorf("InFlight() = %d; want 0", n)
					}
				})
			})
		}
	}
}

func TestCustomIsDrop(t *testing.T) {
	errBusy := errors.New("503")
	l := MustNew(Config{ProbeSamples: 1, IsDrop: func(err error) bool { return err == errBusy }})
	l.Execute(t.Context(), func(context.Context) error { return nil })
	l.Execute(t.Context(), func(context.Context) error { return errBusy })
	l.Execute(t.Context(), func(context.Context) error { return context.DeadlineExceeded })
	if got := l.ctl.drops; got != 1 {
		t.Errorf("drops = %d; want 1 (only the custom drop error)", got)
	}
}

func TestExecute(t *testing.T) {
	l := MustNew(Config{Min: 1})
	ctx := t.Context()
	inside := -1
	err := l.Execute(ctx, func(context.Context) error {
		inside = l.InFlight()
		// The only slot is taken: a nested call is refused.
		return l.Execute(ctx, func(context.Context) error { return nil })
	})
	if !errors.Is(err, ErrLimited) {
		t.Errorf("nested Execute = %v; want ErrLimited", err)
	}
	if inside != 1 {
		t.Errorf("InFlight() inside the call = %d; want 1", inside)
	}

	func() {
		defer func() { recover() }()
		l.Execute(ctx, func(context.Context) error { panic("call panicked") })
	}()
	if got := l.InFlight(); got != 0 {
		t.Errorf("InFlight() after a panic = %d; want 0", got)
	}

	v, err := Get(ctx, l, func(context.Context) (string, error) { return "ok", nil })
	if v != "ok" || err != nil {
		t.Errorf("Get = %q, %v; want %q, nil", v, err, "ok")
	}
	tok, _ := l.Acquire()
	n, err := Get(ctx, l, func(context.Context) (int, error) { return 7, nil })
	if n != 0 || !errors.Is(err, ErrLimited) {
		t.Errorf("Get at the limit = %d, %v; want 0, ErrLimited", n, err)
	}
	tok.Ignore()

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	called := false
	if err := l.Execute(cctx, func(context.Context) error { called = true; return nil }); !errors.Is(err, context.Canceled) || called {
		t.Errorf("Execute with an ended context = %v, called %v; want context.Canceled, not called", err, called)
	}
	if got, want := l.Kind(), holdfast.KindBulkhead; got != want {
		t.Errorf("Kind() = %v; want %v", got, want)
	}
	if got, want := l.Name(), "adaptive"; got != want {
		t.Errorf("Name() = %q; want %q", got, want)
	}
}

// TestLimitFollowsLatency drives a limiter through its first probe, a busy
// window at no-load latency (the limit rises) and a busy window at four
// times that (the limit falls), and checks the events of each step.
func TestLimitFollowsLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		l := MustNew(Config{Min: 2, Initial: 10, ProbeSamples: 4, MinSamples: 5, Listener: rec})
		ctx := t.Context()
		// run runs n calls of latency d, as many at a time as the limit
		// allows, and returns once they all finished.
		run := func(n int, d time.Duration) {
			var wg sync.WaitGroup
			for range n {
				for l.InFlight() >= l.Limit() {
					time.Sleep(time.Millisecond)
				}
				wg.Go(func() {
					if err := l.Execute(ctx, func(context.Context) error { time.Sleep(d); return nil }); err != nil {
						t.Errorf("Execute = %v", err)
					}
				})
				synctest.Wait()
			}
			wg.Wait()
		}

		run(4, 10*time.Millisecond)
		if want := []string{"adaptive: state_change probing->limiting", "adaptive: limit_changed value=10"}; !slices.Equal(rec.take(), want) {
			t.Errorf("events after the probe differ; want %q", want)
		}
		if got := l.MinRTT(); got != 10*time.Millisecond {
			t.Errorf("MinRTT() = %v; want 10ms", got)
		}

		// 10 at a time at no-load latency for 100ms: g = 1.25, so
		// 12.5 + √12.5 = 16.
		run(100, 10*time.Millisecond)
		if want := []string{"adaptive: limit_changed value=16"}; !slices.Equal(rec.take(), want) {
			t.Errorf("events after a healthy window differ; want %q", want)
		}
		if got := l.Limit(); got != 16 {
			t.Errorf("Limit() = %d; want 16", got)
		}

		// Four times slower: g = 0.5 (the floor), so the limit of 16.04
		// becomes 8.02 + √8.02 = 10.85, which admits 10.
		run(64, 40*time.Millisecond)
		if got, want := rec.take(), []string{"adaptive: limit_changed value=10"}; !slices.Equal(got, want) {
			t.Errorf("events after a slow window = %q; want %q", got, want)
		}
		if l.Probing() {
			t.Error("Probing() = true; want false")
		}
	})
}
