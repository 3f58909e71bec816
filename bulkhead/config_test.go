package bulkhead

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast"
)

var configTests = []struct {
	name string
	cfg  Config
	want []string // the errors' texts, in order; nil for a valid config
}{
	{name: "zero value", cfg: Config{}},
	{name: "design example", cfg: Config{Limit: 100, Queue: 50, QueueTimeout: 100 * time.Millisecond}},
	{name: "limit one", cfg: Config{Limit: 1}},
	{name: "queue without timeout", cfg: Config{Queue: 10}},
	{name: "negative limit", cfg: Config{Limit: -1},
		want: []string{"concurrency.limit: must be at least 1, got -1"}},
	{name: "negative queue", cfg: Config{Queue: -5},
		want: []string{"concurrency.queue: must not be negative, got -5"}},
	{name: "negative queue timeout", cfg: Config{Queue: 1, QueueTimeout: -time.Second},
		want: []string{"concurrency.queue_timeout: must not be negative, got -1s"}},
	{name: "all wrong", cfg: Config{Limit: -2, Queue: -1, QueueTimeout: -1},
		want: []string{
			"concurrency.limit: must be at least 1, got -2",
			"concurrency.queue: must not be negative, got -1",
			"concurrency.queue_timeout: must not be negative, got -1ns",
		}},
}

// configErrors splits what Validate returned into its ConfigErrors, failing
// the test for anything else.
func configErrors(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var got []string
	for _, e := range errs {
		var ce *holdfast.ConfigError
		if !errors.As(e, &ce) {
			t.Fatalf("Validate error %v (%T) is not a *holdfast.ConfigError", e, e)
		}
		if ce.Policy != "concurrency" {
			t.Errorf("ConfigError.Policy = %q; want %q", ce.Policy, "concurrency")
		}
		got = append(got, ce.Error())
	}
	return got
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range configTests {
		t.Run(tt.name, func(t *testing.T) {
			got := configErrors(t, tt.cfg.Validate())
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("Validate() = %q; want %q", got, tt.want)
			}
			b, err := New(tt.cfg)
			if (err == nil) != (tt.want == nil) {
				t.Fatalf("New() error = %v; want error %v", err, tt.want != nil)
			}
			if err == nil && b == nil {
				t.Fatal("New() = nil, nil")
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	b := MustNew(Config{})
	if got, want := b.Name(), "bulkhead"; got != want {
		t.Errorf("Name() = %q; want %q", got, want)
	}
	if got, want := b.Limit(), 100; got != want {
		t.Errorf("Limit() = %d; want %d", got, want)
	}
	if got, want := b.queueCap, 0; got != want {
		t.Errorf("queue = %d; want %d", got, want)
	}
	if got, want := b.queueTimeout, 100*time.Millisecond; got != want {
		t.Errorf("queue timeout = %v; want %v", got, want)
	}
	if got, want := b.Kind(), holdfast.KindBulkhead; got != want {
		t.Errorf("Kind() = %v; want %v", got, want)
	}
	if got, want := MustNew(Config{Name: "inventory"}).Name(), "inventory"; got != want {
		t.Errorf("Name() = %q; want %q", got, want)
	}
}

func TestMustNewPanicsOnInvalidConfig(t *testing.T) {
	defer func() {
		r := recover()
		err, _ := r.(error)
		if !errors.As(err, new(*holdfast.ConfigError)) {
			t.Errorf("MustNew panicked with %v; want a *holdfast.ConfigError", r)
		}
	}()
	MustNew(Config{Limit: -1})
}

// FuzzConfigValidate checks that any config either validates and builds a
// working bulkhead, or is refused with key-named ConfigErrors, never a panic.
func FuzzConfigValidate(f *testing.F) {
	for _, tt := range configTests {
		f.Add(tt.cfg.Limit, tt.cfg.Queue, int64(tt.cfg.QueueTimeout))
	}
	f.Fuzz(func(t *testing.T, limit, queue int, timeout int64) {
		c := Config{Limit: limit, Queue: queue, QueueTimeout: time.Duration(timeout)}
		err := c.Validate()
		for _, msg := range configErrors(t, err) {
			if !strings.HasPrefix(msg, "concurrency.") {
				t.Errorf("error %q does not name its key under concurrency", msg)
			}
		}
		wantValid := limit >= 0 && queue >= 0 && timeout >= 0
		if (err == nil) != wantValid {
			t.Fatalf("Validate(%+v) = %v; want valid %v", c, err, wantValid)
		}
		b, err := New(c)
		if !wantValid {
			if err == nil {
				t.Fatalf("New(%+v) succeeded; want an error", c)
			}
			return
		}
		if err != nil {
			t.Fatalf("New(%+v) = %v", c, err)
		}
		if b.Limit() < 1 {
			t.Fatalf("Limit() = %d; want at least 1", b.Limit())
		}
		ctx := t.Context()
		if err := b.Acquire(ctx); err != nil {
			t.Fatalf("Acquire on an idle bulkhead = %v; want nil", err)
		}
		b.Release()
		if got := b.InFlight(); got != 0 {
			t.Fatalf("InFlight() after Release = %d; want 0", got)
		}
	})
}
