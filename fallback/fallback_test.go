package fallback

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/holdfast-dev/holdfast"
)

var (
	errDown      = errors.New("backend down")
	errOther     = errors.New("other failure")
	errFunc      = errors.New("cache empty")
	errCancelled = fmt.Errorf("call: %w", context.Canceled)
)

// recorder collects events; tests here are sequential so no lock is needed.
type recorder struct{ events []holdfast.Event }

func (r *recorder) OnEvent(e holdfast.Event) { r.events = append(r.events, e) }

func TestRecover(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config[string]
		err        error
		wantResult string
		wantErr    error // matched with errors.Is; nil means no error
		wantOK     bool
		wantEvents int
	}{
		{name: "nil error is not a failure", cfg: Config[string]{Value: "v"}, err: nil, wantOK: false},
		{name: "value replaces failure", cfg: Config[string]{Value: "v"}, err: errDown, wantResult: "v", wantOK: true, wantEvents: 1},
		{name: "zero value is a valid fallback", cfg: Config[string]{}, err: errDown, wantResult: "", wantOK: true, wantEvents: 1},
		{name: "deadline is handled by default", cfg: Config[string]{Value: "v"}, err: context.DeadlineExceeded, wantResult: "v", wantOK: true, wantEvents: 1},
		{name: "canceled passes through", cfg: Config[string]{Value: "v"}, err: context.Canceled, wantErr: context.Canceled, wantOK: false},
		{name: "wrapped canceled passes through", cfg: Config[string]{Value: "v"}, err: errCancelled, wantErr: context.Canceled, wantOK: false},
		{
			name:       "func computes replacement from the error",
			cfg:        Config[string]{Func: func(_ context.Context, err error) (string, error) { return "from " + err.Error(), nil }},
			err:        errDown,
			wantResult: "from backend down",
			wantOK:     true,
			wantEvents: 1,
		},
		{
			name:    "func failure is a FailedError",
			cfg:     Config[string]{Func: func(context.Context, error) (string, error) { return "ignored", errFunc }},
			err:     errDown,
			wantErr: ErrFailed,
			wantOK:  true,
		},
		{name: "On selects errors", cfg: Config[string]{Value: "v", On: OnErrors(errDown)}, err: fmt.Errorf("wrapped: %w", errDown), wantResult: "v", wantOK: true, wantEvents: 1},
		{name: "On rejects others", cfg: Config[string]{Value: "v", On: OnErrors(errDown)}, err: errOther, wantErr: errOther, wantOK: false},
		{name: "On may take canceled", cfg: Config[string]{Value: "v", On: OnErrors(context.Canceled)}, err: errCancelled, wantResult: "v", wantOK: true, wantEvents: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			tt.cfg.Listener = rec
			f := MustNew(tt.cfg)
			got, gotErr, ok := f.Recover(context.Background(), tt.err)
			if ok != tt.wantOK {
				t.Errorf("ok = %v; want %v", ok, tt.wantOK)
			}
			if got != tt.wantResult {
				t.Errorf("result = %q; want %q", got, tt.wantResult)
			}
			if tt.wantErr == nil && gotErr != nil || tt.wantErr != nil && !errors.Is(gotErr, tt.wantErr) {
				t.Errorf("err = %v; want %v", gotErr, tt.wantErr)
			}
			if len(rec.events) != tt.wantEvents {
				t.Fatalf("got %d events %v; want %d", len(rec.events), rec.events, tt.wantEvents)
			}
			for _, e := range rec.events {
				want := holdfast.Event{Source: holdfast.KindFallback, Policy: "fallback", Kind: holdfast.EventFallback, Err: tt.err}
				if e != want {
					t.Errorf("event = %v; want %v", e, want)
				}
			}
		})
	}
}

func TestFailedError(t *testing.T) {
	f := MustNew(Config[int]{
		Name: "prices",
		Func: func(context.Context, error) (int, error) { return 0, errFunc },
	})
	_, err := f.Get(context.Background(), func(context.Context) (int, error) { return 0, errDown })
	for _, target := range []error{ErrFailed, errFunc, errDown} {
		if !errors.Is(err, target) {
			t.Errorf("errors.Is(%v, %v) = false; want true", err, target)
		}
	}
	fe, ok := errors.AsType[*FailedError](err)
	if !ok {
		t.Fatalf("got %T; want *FailedError", err)
	}
	if fe.Policy != "prices" || fe.Cause != errDown || fe.Err != errFunc {
		t.Errorf("got %+v; want policy prices, cause %v, err %v", fe, errDown, errFunc)
	}
	want := "fallback: prices: cache empty (replacing: backend down)"
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
}

func TestGetAndExecute(t *testing.T) {
	funcErr := func(context.Context, error) ([]int, error) { return nil, errFunc }
	tests := []struct {
		name      string
		cfg       Config[[]int]
		val       []int
		err       error
		wantVal   []int
		wantErr   error
		wantExecN bool // whether Execute returns nil
	}{
		{name: "success passes through", cfg: Config[[]int]{Value: []int{0}}, val: []int{1, 2}, wantVal: []int{1, 2}, wantExecN: true},
		{name: "failure replaced", cfg: Config[[]int]{Value: []int{0}}, err: errDown, wantVal: []int{0}, wantExecN: true},
		{name: "unhandled keeps fn's value", cfg: Config[[]int]{Value: []int{0}}, val: []int{7}, err: context.Canceled, wantVal: []int{7}, wantErr: context.Canceled},
		{name: "func error", cfg: Config[[]int]{Func: funcErr}, err: errDown, wantErr: ErrFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := MustNew(tt.cfg)
			fn := func(context.Context) ([]int, error) { return tt.val, tt.err }
			got, err := Get(context.Background(), f, fn)
			if fmt.Sprint(got) != fmt.Sprint(tt.wantVal) {
				t.Errorf("Get value = %v; want %v", got, tt.wantVal)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Get err = %v; want %v", err, tt.wantErr)
			}
			eerr := f.Execute(context.Background(), func(context.Context) error { return tt.err })
			if (eerr == nil) != tt.wantExecN {
				t.Errorf("Execute = %v; want nil: %v", eerr, tt.wantExecN)
			}
			if !errors.Is(eerr, tt.wantErr) {
				t.Errorf("Execute = %v; want %v", eerr, tt.wantErr)
			}
		})
	}
}

func TestExecutePassesContext(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "v")
	var got any
	f := MustNew(Config[int]{Func: func(ctx context.Context, _ error) (int, error) {
		got = ctx.Value(key{})
		return 1, nil
	}})
	if err := f.Execute(ctx, func(context.Context) error { return errDown }); err != nil {
		t.Fatalf("Execute = %v; want nil", err)
	}
	if got != "v" {
		t.Errorf("Func saw context value %v; want v", got)
	}
}

func TestNameAndKind(t *testing.T) {
	tests := []struct {
		cfg  Config[int]
		want string
	}{
		{Config[int]{}, "fallback"},
		{Config[int]{Name: "catalog"}, "catalog"},
	}
	for _, tt := range tests {
		f := MustNew(tt.cfg)
		if got := f.Name(); got != tt.want {
			t.Errorf("Name() = %q; want %q", got, tt.want)
		}
		if got := f.Kind(); got != holdfast.KindFallback {
			t.Errorf("Kind() = %v; want %v", got, holdfast.KindFallback)
		}
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := MustNew(Config[int]{Logger: log, Func: func(_ context.Context, err error) (int, error) {
		if errors.Is(err, errOther) {
			return 0, errFunc
		}
		return 1, nil
	}})
	f.Recover(context.Background(), errDown)
	f.Recover(context.Background(), errOther)
	out := buf.String()
	for _, want := range []string{"level=DEBUG msg=\"fallback used\"", "level=WARN msg=\"fallback failed\"", "err=\"cache empty\""} {
		if !strings.Contains(out, want) {
			t.Errorf("log output %q lacks %q", out, want)
		}
	}
}

func TestSuccessPathDoesNotAllocate(t *testing.T) {
	f := MustNew(Config[[]int]{Value: []int{}})
	ctx := context.Background()
	next := func(context.Context) error { return nil }
	fn := func(context.Context) ([]int, error) { return nil, nil }
	if got := testing.AllocsPerRun(100, func() { _ = f.Execute(ctx, next) }); got != 0 {
		t.Errorf("Execute allocs = %v; want 0", got)
	}
	if got := testing.AllocsPerRun(100, func() { _, _ = f.Get(ctx, fn) }); got != 0 {
		t.Errorf("Get allocs = %v; want 0", got)
	}
}

func BenchmarkExecuteSuccess(b *testing.B) {
	f := MustNew(Config[int]{Value: 1})
	ctx := context.Background()
	next := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		_ = f.Execute(ctx, next)
	}
}

func BenchmarkGetFallback(b *testing.B) {
	f := MustNew(Config[int]{Value: 1})
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 0, errDown }
	b.ReportAllocs()
	for b.Loop() {
		_, _ = f.Get(ctx, fn)
	}
}
