package breaker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/holdfast-dev/holdfast"
)

var (
	t0      = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	errBoom = errors.New("boom")
)

// recorder is a Listener that keeps events and, while one goroutine drives
// the breaker, checks that the breaker does not hold its lock while calling
// it.
type recorder struct {
	t      *testing.T
	b      *Breaker
	mu     sync.Mutex
	events []holdfast.Event
}

func (r *recorder) OnEvent(e holdfast.Event) {
	if r.b != nil {
		if !r.b.mu.TryLock() {
			r.t.Errorf("listener called with the breaker's lock held: %v", e)
		} else {
			r.b.mu.Unlock()
		}
	}
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// concurrent turns off the lock check, for tests where other goroutines
// hold the breaker's lock legitimately while the listener runs.
func (r *recorder) concurrent() { r.b = nil }

func (r *recorder) changes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []string
	for _, e := range r.events {
		if e.Kind == holdfast.EventStateChange {
			s = append(s, e.From+"->"+e.To+":"+e.Reason)
		}
	}
	return s
}

// newTest makes a breaker whose events go to a recorder.
func newTest(t *testing.T, cfg Config) (*Breaker, *recorder) {
	t.Helper()
	rec := &recorder{t: t}
	cfg.Listener = rec
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec.b = b
	return b, rec
}

// run plays a script against b starting at *now, one space-separated step at
// a time: "ok", "fail", "cancel" and "notmine" are calls that take no time,
// "slow" is a success that takes 2s, "slowfail" a failure that takes 2s, and
// a duration such as "+11s" lets time pass. Rejected calls are "rejected" in
// the returned list of results.
func run(t *testing.T, b *Breaker, now *time.Time, script string) []string {
	t.Helper()
	var got []string
	for step := range strings.FieldsSeq(script) {
		if d, err := time.ParseDuration(strings.TrimPrefix(step, "+")); err == nil && step[0] == '+' {
			*now = now.Add(d)
			continue
		}
		var err error
		var took time.Duration
		switch step {
		case "ok":
		case "fail":
			err = errBoom
		case "cancel":
			err = fmt.Errorf("client left: %w", context.Canceled)
		case "notmine":
			err = errNotMine
		case "slow":
			took = 2 * time.Second
		case "slowfail":
			err, took = errBoom, 2*time.Second
		default:
			t.Fatalf("bad script step %q", step)
		}
		p, aerr := b.AllowAt(*now)
		if aerr != nil {
			if !errors.Is(aerr, ErrOpen) {
				t.Fatalf("AllowAt: got %v; want nil or ErrOpen", aerr)
			}
			got = append(got, "rejected")
			continue
		}
		*now = now.Add(took)
		p.DoneAt(*now, err)
		got = append(got, step)
	}
	return got
}

func TestTripping(t *testing.T) {
	notMine := func(err error) bool { return !errors.Is(err, errNotMine) }
	tests := []struct {
		name   string
		cfg    Config
		script string
		want   State
		events []string
	}{
		{"consecutive failures trip", Config{ConsecutiveFailures: 3},
			"ok fail fail fail", Open, []string{"closed->open:consecutive_failures"}},
		{"a success breaks the streak", Config{ConsecutiveFailures: 3},
			"fail fail ok fail fail", Closed, nil},
		{"cancel neither breaks the streak nor counts", Config{ConsecutiveFailures: 2},
			"fail cancel fail", Open, []string{"closed->open:consecutive_failures"}},
		{"an error IsFailure rejects is a success", Config{ConsecutiveFailures: 2, IsFailure: notMine},
			"fail notmine fail", Closed, nil},
		{"rate below minimum requests", Config{WindowSize: 10, MinimumRequests: 5},
			"fail fail fail fail", Closed, nil},
		{"rate at minimum requests", Config{WindowSize: 10, MinimumRequests: 5},
			"fail fail fail fail fail", Open, []string{"closed->open:failure_rate"}},
		{"rate exactly at threshold", Config{WindowSize: 4, MinimumRequests: 4, FailureRate: 0.5},
			"ok fail ok fail", Open, []string{"closed->open:failure_rate"}},
		{"rate below threshold", Config{WindowSize: 4, MinimumRequests: 4, FailureRate: 0.75},
			"ok fail ok fail", Closed, nil},
		{"only a failure trips", Config{WindowSize: 4, MinimumRequests: 4, FailureRate: 0.5},
			"fail fail fail ok", Closed, nil},
		{"count window forgets old calls", Config{WindowSize: 4, MinimumRequests: 4, FailureRate: 0.5},
			"fail fail ok ok ok ok fail", Closed, nil},
		{"cancelled calls are not in the window", Config{WindowSize: 2, MinimumRequests: 2, FailureRate: 1},
			"fail cancel cancel fail", Open, []string{"closed->open:failure_rate"}},
		{"time window", Config{Window: 10 * time.Second, MinimumRequests: 3},
			"ok +1s fail +1s fail", Open, []string{"closed->open:failure_rate"}},
		{"time window forgets expired buckets", Config{Window: 10 * time.Second, MinimumRequests: 3},
			"fail fail +10s ok ok fail", Closed, nil},
		{"time window keeps the last bucket", Config{Window: 10 * time.Second, MinimumRequests: 3},
			"fail fail +9s ok ok fail", Open, []string{"closed->open:failure_rate"}},
		{"slow call rate", Config{SlowCallDuration: time.Second, MinimumRequests: 2},
			"ok slow", Open, []string{"closed->open:slow_call_rate"}},
		{"slow call rate below threshold", Config{SlowCallDuration: time.Second, SlowCallRate: 0.75, MinimumRequests: 2},
			"ok ok slow slow", Closed, nil},
		{"slow calls ignored without a threshold", Config{MinimumRequests: 2},
			"slow slow slow", Closed, nil},
		{"slow failure counts for both rates", Config{SlowCallDuration: time.Second, SlowCallRate: 1, FailureRate: 1, MinimumRequests: 1},
			"slowfail", Open, []string{"closed->open:failure_rate"}},
		{"forced closed never trips", Config{ConsecutiveFailures: 1},
			"", Closed, nil}, // ForceClosed below
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, rec := newTest(t, tt.cfg)
			now := t0
			if tt.script == "" {
				b.ForceClosed()
				run(t, b, &now, "fail fail fail")
				if c := b.CountsAt(now); c.Failures != 3 || c.ConsecutiveFailures != 3 {
					t.Errorf("CountsAt() = %+v; want 3 failures counted while forced closed", c)
				}
			} else {
				run(t, b, &now, tt.script)
			}
			if got := b.StateAt(now); got != tt.want {
				t.Errorf("StateAt() = %v; want %v", got, tt.want)
			}
			if diff := cmp.Diff(tt.events, rec.changes()); diff != "" {
				t.Errorf("state changes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOpenRejectsWithRetryAfter(t *testing.T) {
	b, _ := newTest(t, Config{Name: "catalog", ConsecutiveFailures: 1, OpenDuration: 30 * time.Second})
	now := t0
	run(t, b, &now, "fail")
	tests := []struct {
		after time.Duration
		want  time.Duration
	}{
		{0, 30 * time.Second},
		{time.Second, 29 * time.Second},
		{30*time.Second - time.Nanosecond, time.Nanosecond},
	}
	for _, tt := range tests {
		_, err := b.AllowAt(now.Add(tt.after))
		if !errors.Is(err, ErrOpen) {
			t.Fatalf("AllowAt(+%v) = %v; want ErrOpen", tt.after, err)
		}
		if got, ok := holdfast.RetryAfter(err); !ok || got != tt.want {
			t.Errorf("RetryAfter(AllowAt(+%v)) = %v, %v; want %v, true", tt.after, got, ok, tt.want)
		}
		var oe *OpenError
		if !errors.As(err, &oe) || oe.State != Open || oe.Name != "catalog" {
			t.Errorf("AllowAt(+%v) = %#v; want an open *OpenError for catalog", tt.after, err)
		}
		if c := b.CountsAt(now.Add(tt.after)); c.Remaining != tt.want || c.OpenDuration != 30*time.Second {
			t.Errorf("CountsAt(+%v) = %+v; want Remaining %v, OpenDuration 30s", tt.after, c, tt.want)
		}
	}
	if got := b.StateAt(now.Add(30 * time.Second)); got != HalfOpen {
		t.Errorf("StateAt(+30s) = %v; want half_open", got)
	}
	if _, err := b.AllowAt(now.Add(30 * time.Second)); err != nil {
		t.Errorf("AllowAt(+30s) = %v; want a probe admitted", err)
	}
}

func TestHalfOpen(t *testing.T) {
	tests := []struct {
		name   string
		probes string // outcomes of the probes, in order
		want   State
		last   string // the last state change
	}{
		{"all succeed", "ok ok ok", Closed, "half_open->closed:probes_succeeded"},
		{"not yet all", "ok ok", HalfOpen, "open->half_open:open_duration_elapsed"},
		{"a failure reopens", "ok fail", Open, "half_open->open:probe_failed"},
		{"a slow probe reopens", "ok slow", Open, "half_open->open:probe_slow"},
		{"cancelled probes free their slot", "ok cancel ok ok", Closed, "half_open->closed:probes_succeeded"},
		{"notmine is a success", "ok notmine ok", Closed, "half_open->closed:probes_succeeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, rec := newTest(t, Config{
				ConsecutiveFailures: 1, HalfOpenRequests: 3, OpenDuration: 10 * time.Second,
				SlowCallDuration: time.Second, IsFailure: func(err error) bool { return !errors.Is(err, errNotMine) },
			})
			now := t0
			run(t, b, &now, "fail +10s")
			// Hold all three slots to see the fourth refused, then give them back.
			var held []Permit
			for range 3 {
				p, err := b.AllowAt(now)
				if err != nil {
					t.Fatalf("AllowAt: %v; want a probe slot", err)
				}
				held = append(held, p)
			}
			_, err := b.AllowAt(now)
			var oe *OpenError
			if !errors.As(err, &oe) || oe.State != HalfOpen || oe.Remaining != 0 {
				t.Fatalf("fourth AllowAt = %v; want a half-open *OpenError with no wait hint", err)
			}
			if c := b.CountsAt(now); c.State != HalfOpen || c.Probes != 3 {
				t.Errorf("CountsAt() = %+v; want half_open with 3 probes", c)
			}
			for _, p := range held {
				p.Release()
			}
			run(t, b, &now, tt.probes)
			if got := b.StateAt(now); got != tt.want {
				t.Errorf("StateAt() = %v; want %v", got, tt.want)
			}
			if ch := rec.changes(); ch[len(ch)-1] != tt.last {
				t.Errorf("last state change = %q; want %q (all: %q)", ch[len(ch)-1], tt.last, ch)
			}
		})
	}
}

func TestOpenDurationGrows(t *testing.T) {
	b, rec := newTest(t, Config{
		ConsecutiveFailures: 1, HalfOpenRequests: 1,
		OpenDuration: time.Second, MaxOpenDuration: 5 * time.Second, OpenBackoff: 2,
	})
	now := t0
	var got []time.Duration
	wait := func() {
		c := b.CountsAt(now)
		got = append(got, c.OpenDuration)
		now = now.Add(c.Remaining)
	}
	run(t, b, &now, "fail") // closed -> open: 1s
	for range 4 {           // probe fails: 2s, 4s, 5s, 5s
		wait()
		run(t, b, &now, "fail")
	}
	wait()
	run(t, b, &now, "ok fail") // closes, then trips afresh: 1s again
	wait()
	want := []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second, 1 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("open durations (-want +got):\n%s", diff)
	}
	var delays []time.Duration
	for _, e := range rec.events {
		if e.Kind == holdfast.EventStateChange && e.To == "open" {
			delays = append(delays, e.Delay)
		}
	}
	if diff := cmp.Diff(want, delays); diff != "" {
		t.Errorf("Delay of the open events (-want +got):\n%s", diff)
	}
	if c := b.CountsAt(now); c.Trips != 6 {
		t.Errorf("Trips = %d; want 6", c.Trips)
	}
}

// TestStalePermits checks that an outcome counts only in the epoch that
// admitted the call.
func TestStalePermits(t *testing.T) {
	b, rec := newTest(t, Config{ConsecutiveFailures: 1, HalfOpenRequests: 1, OpenDuration: time.Second})
	now := t0
	early, err := b.AllowAt(now) // admitted while closed
	if err != nil {
		t.Fatal(err)
	}
	run(t, b, &now, "fail +1s")
	probe, err := b.AllowAt(now) // half-opens
	if err != nil {
		t.Fatal(err)
	}
	early.DoneAt(now, errBoom) // a failure from the closed epoch must not reopen
	if got := b.StateAt(now); got != HalfOpen {
		t.Fatalf("after a stale failure StateAt() = %v; want half_open", got)
	}
	early.DoneAt(now, nil) // nor count as the probe's success
	if c := b.CountsAt(now); c.ProbeSuccesses != 0 {
		t.Fatalf("after a stale success ProbeSuccesses = %d; want 0", c.ProbeSuccesses)
	}
	probe.DoneAt(now, nil)
	if got := b.StateAt(now); got != Closed {
		t.Errorf("after the probe StateAt() = %v; want closed", got)
	}
	probe.DoneAt(now, errBoom) // finishing it twice cannot trip the new epoch
	if got := b.StateAt(now); got != Closed {
		t.Errorf("after a stale probe failure StateAt() = %v; want closed", got)
	}
	want := []string{"closed->open:consecutive_failures", "open->half_open:open_duration_elapsed", "half_open->closed:probes_succeeded"}
	if diff := cmp.Diff(want, rec.changes()); diff != "" {
		t.Errorf("state changes (-want +got):\n%s", diff)
	}
}

func TestManualControl(t *testing.T) {
	b, rec := newTest(t, Config{ConsecutiveFailures: 2, OpenDuration: time.Second})
	now := t0
	run(t, b, &now, "fail")
	b.ForceOpen()
	_, err := b.AllowAt(now.Add(24 * time.Hour))
	var oe *OpenError
	if !errors.As(err, &oe) || !oe.Forced || oe.Remaining != 0 {
		t.Fatalf("AllowAt a day after ForceOpen = %v; want a forced *OpenError", err)
	}
	if got := b.StateAt(now.Add(24 * time.Hour)); got != Open {
		t.Errorf("StateAt a day after ForceOpen = %v; want open", got)
	}
	if c := b.CountsAt(now); !c.Forced || c.Trips != 0 {
		t.Errorf("CountsAt() = %+v; want forced and no trips", c)
	}
	b.ForceClosed()
	run(t, b, &now, "fail fail fail fail")
	if got := b.StateAt(now); got != Closed {
		t.Errorf("StateAt after failures while forced closed = %v; want closed", got)
	}
	b.Reset()
	if c := b.CountsAt(now); c.Forced || c.Calls != 0 || c.ConsecutiveFailures != 0 {
		t.Errorf("CountsAt after Reset = %+v; want an empty unforced window", c)
	}
	run(t, b, &now, "fail fail")
	if got := b.StateAt(now); got != Open {
		t.Errorf("StateAt after Reset and 2 failures = %v; want open", got)
	}
	b.Reset()
	want := []string{
		"closed->open:forced", "open->closed:forced",
		"closed->open:consecutive_failures", "open->closed:reset",
	}
	if diff := cmp.Diff(want, rec.changes()); diff != "" {
		t.Errorf("state changes (-want +got):\n%s", diff)
	}
}

func TestEvents(t *testing.T) {
	b, rec := newTest(t, Config{Name: "catalog", ConsecutiveFailures: 1, OpenDuration: time.Second})
	now := t0
	run(t, b, &now, "fail ok")
	want := []holdfast.Event{
		{Source: holdfast.KindBreaker, Policy: "catalog", Kind: holdfast.EventStateChange, From: "closed", To: "open", Reason: ReasonConsecutiveFailures, Delay: time.Second, Err: errBoom},
		{Source: holdfast.KindBreaker, Policy: "catalog", Kind: holdfast.EventRejected, Reason: holdfast.ReasonBreakerOpen, Delay: time.Second,
			Err: &OpenError{Name: "catalog", State: Open, Remaining: time.Second}},
	}
	if diff := cmp.Diff(want, rec.events, cmp.Comparer(func(a, b error) bool { return a.Error() == b.Error() })); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	b := MustNew(Config{Name: "db", ConsecutiveFailures: 1, OpenDuration: time.Second, Logger: log})
	now := t0
	run(t, b, &now, "fail ok")
	want := `level=INFO msg="breaker state change" breaker=db from=closed to=open reason=consecutive_failures open_duration=1s error=boom
level=DEBUG msg="breaker rejected a call" breaker=db state=open retry_after=1s
`
	if got := buf.String(); got != want {
		t.Errorf("log output:\n%s\nwant:\n%s", got, want)
	}
}

// TestExecuteRealTime runs Execute with the breaker reading the clock itself,
// in a synctest bubble where time.Sleep moves a virtual clock.
func TestExecuteRealTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := MustNew(Config{
			ConsecutiveFailures: 2, HalfOpenRequests: 1, OpenDuration: 5 * time.Second,
			FailureRate: 1, SlowCallDuration: time.Second, MinimumRequests: 2, WindowSize: 2,
		})
		ctx := context.Background()
		fail := func(context.Context) error { return errBoom }
		slow := func(context.Context) error { time.Sleep(1500 * time.Millisecond); return nil }
		fast := func(context.Context) error { return nil }

		steps := []struct {
			fn      func(context.Context) error
			sleep   time.Duration
			wantErr error
			want    State
		}{
			{fail, 0, errBoom, Closed},
			{fail, 0, errBoom, Open},
			{fast, 4 * time.Second, ErrOpen, Open},
			{fast, time.Second, nil, Closed}, // 5s later: the probe closes it
			{fast, 0, nil, Closed},
			{slow, 0, nil, Open}, // half the window is slow
			{fast, 4 * time.Second, ErrOpen, Open},
			{slow, time.Second, nil, Open}, // a slow probe reopens
		}
		for i, s := range steps {
			time.Sleep(s.sleep)
			if err := b.Execute(ctx, s.fn); !errors.Is(err, s.wantErr) {
				t.Fatalf("step %d: Execute = %v; want %v", i, err, s.wantErr)
			}
			if got := b.State(); got != s.want {
				t.Fatalf("step %d: State() = %v; want %v", i, got, s.want)
			}
		}
		if got, want := b.Counts().Remaining, 5*time.Second; got != want {
			t.Errorf("Remaining = %v; want %v", got, want)
		}
	})
}

func TestExecuteRecordsPanic(t *testing.T) {
	b := MustNew(Config{ConsecutiveFailures: 1})
	func() {
		defer func() {
			if r := recover(); r != "kaboom" {
				t.Errorf("recover() = %v; want the panic to go on up", r)
			}
		}()
		_ = b.Execute(context.Background(), func(context.Context) error { panic("kaboom") })
	}()
	if got := b.State(); got != Open {
		t.Errorf("State() after a panic = %v; want open", got)
	}
}

func TestGet(t *testing.T) {
	b := MustNew(Config{ConsecutiveFailures: 1})
	ctx := context.Background()
	v, err := Get(ctx, b, func(context.Context) (int, error) { return 42, nil })
	if v != 42 || err != nil {
		t.Errorf("Get = %v, %v; want 42, nil", v, err)
	}
	v, err = Get(ctx, b, func(context.Context) (int, error) { return 7, errBoom })
	if v != 7 || err != errBoom {
		t.Errorf("Get = %v, %v; want 7, boom", v, err)
	}
	v, err = Get(ctx, b, func(context.Context) (int, error) { return 42, nil })
	if v != 0 || !errors.Is(err, ErrOpen) {
		t.Errorf("Get on an open breaker = %v, %v; want 0, ErrOpen", v, err)
	}
	func() {
		defer func() { _ = recover() }()
		b.Reset()
		_, _ = Get(ctx, b, func(context.Context) (int, error) { panic("kaboom") })
	}()
	if got := b.State(); got != Open {
		t.Errorf("State() after a panic in Get = %v; want open", got)
	}
}

func TestRecord(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
		d    time.Duration
		want State
	}{
		{"fast success", true, 10 * time.Millisecond, Closed},
		{"fast failure", false, 10 * time.Millisecond, Open},
		{"slow success", true, time.Second, Open},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := MustNew(Config{Window: time.Minute, MinimumRequests: 1, FailureRate: 1,
				SlowCallDuration: time.Second, SlowCallRate: 1})
			p, err := b.AllowAt(t0)
			if err != nil {
				t.Fatal(err)
			}
			p.Record(tt.ok, tt.d)
			if got := b.StateAt(t0.Add(tt.d)); got != tt.want {
				t.Errorf("StateAt() = %v; want %v", got, tt.want)
			}
			// The call ended at t0+d: the open period starts there.
			if c := b.CountsAt(t0.Add(tt.d)); tt.want == Open && c.Remaining != DefaultOpenDuration {
				t.Errorf("Remaining = %v; want %v", c.Remaining, DefaultOpenDuration)
			}
		})
	}
}

func TestZeroPermit(t *testing.T) {
	var p Permit // finishing it must do nothing, and not panic
	p.Done(errBoom)
	p.DoneAt(t0, nil)
	p.Record(false, time.Second)
	p.Release()
}

func TestStateNames(t *testing.T) {
	tests := []struct {
		s    State
		want string
	}{
		{Closed, "closed"}, {Open, "open"}, {HalfOpen, "half_open"}, {State(7), "state(7)"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("State(%d).String() = %q; want %q", tt.s, got, tt.want)
		}
	}
	got, err := json.Marshal(Counts{State: HalfOpen})
	if err != nil || !strings.HasPrefix(string(got), `{"state":"half_open","forced":false,"calls":0`) {
		t.Errorf("json.Marshal(Counts) = %s, %v; want state as a string and snake_case keys", got, err)
	}
}

func TestOpenErrorMessages(t *testing.T) {
	tests := []struct {
		err  *OpenError
		want string
	}{
		{&OpenError{Name: "db", State: Open, Remaining: 12 * time.Second}, "breaker: db is open; retry in 12s"},
		{&OpenError{Name: "db", State: Open, Forced: true}, "breaker: db is forced open"},
		{&OpenError{Name: "db", State: HalfOpen}, "breaker: db is half-open and its probe calls are taken"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q; want %q", got, tt.want)
		}
		wrapped := fmt.Errorf("fetch: %w", tt.err)
		if !errors.Is(wrapped, ErrOpen) || errors.Is(wrapped, context.DeadlineExceeded) {
			t.Errorf("errors.Is(%v, ErrOpen) = false or matches DeadlineExceeded; want only ErrOpen", wrapped)
		}
		if d, ok := holdfast.RetryAfter(wrapped); !ok || d != tt.err.Remaining {
			t.Errorf("holdfast.RetryAfter = %v, %v; want %v, true", d, ok, tt.err.Remaining)
		}
	}
}

func TestNameAndKind(t *testing.T) {
	if got := MustNew(Config{}).Name(); got != "breaker" {
		t.Errorf("Name() = %q; want breaker", got)
	}
	if got := MustNew(Config{Name: "db"}).Name(); got != "db" {
		t.Errorf("Name() = %q; want db", got)
	}
	if got := MustNew(Config{}).Kind(); got != holdfast.KindBreaker {
		t.Errorf("Kind() = %v; want breaker", got)
	}
}

func TestMustNewPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Errorf("MustNew(invalid) did not panic")
		}
	}()
	MustNew(Config{FailureRate: 2})
}

// TestSuccessPathAllocs pins the promise that a closed breaker's success path
// allocates nothing, with and without a clock.
func TestSuccessPathAllocs(t *testing.T) {
	ctx := context.Background()
	for _, bc := range benchConfigs {
		b := MustNew(bc.cfg)
		paths := []struct {
			name string
			fn   func()
		}{
			{"Execute", func() { _ = b.Execute(ctx, ok) }},
			{"Get", func() { _, _ = Get(ctx, b, func(context.Context) (int, error) { return 1, nil }) }},
			{"Allow+Done", func() { p, _ := b.Allow(); p.Done(nil) }},
			{"AllowAt+Record", func() { p, _ := b.AllowAt(t0); p.Record(true, time.Millisecond) }},
		}
		for _, p := range paths {
			if got := testing.AllocsPerRun(100, p.fn); got != 0 {
				t.Errorf("%s/%s: %v allocs per call; want 0", bc.name, p.name, got)
			}
		}
		if got := b.State(); got != Closed {
			t.Errorf("%s: State() = %v; want closed", bc.name, got)
		}
	}
}
