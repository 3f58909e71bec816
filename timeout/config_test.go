package timeout

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/holdfast-dev/holdfast"
)

var validateTests = []struct {
	name string
	cfg  Config
	want []string
}{
	{name: "zero", cfg: Config{}},
	{name: "set", cfg: Config{Name: "t", Timeout: 2 * time.Second, OverrunThreshold: time.Millisecond}},
	{name: "1ns", cfg: Config{Timeout: 1}},
	{
		name: "negative timeout", cfg: Config{Timeout: -time.Second},
		want: []string{"timeout.timeout: must not be negative, got -1s"},
	},
	{
		name: "negative overrun_threshold", cfg: Config{OverrunThreshold: -time.Millisecond},
		want: []string{"timeout.overrun_threshold: must not be negative, got -1ms"},
	},
	{
		name: "both", cfg: Config{Timeout: -1, OverrunThreshold: -2},
		want: []string{"timeout.timeout: must not be negative, got -1ns", "timeout.overrun_threshold: must not be negative, got -2ns"},
	},
}

func configErrors(t testing.TB, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var msgs []string
	for _, e := range errs {
		var ce *holdfast.ConfigError
		if !errors.As(e, &ce) {
			t.Fatalf("error %q (%T) is not a *holdfast.ConfigError", e, e)
		}
		if ce.Policy != "timeout" || ce.Key == "" {
			t.Errorf("ConfigError{Policy: %q, Key: %q}; want policy timeout and a key", ce.Policy, ce.Key)
		}
		msgs = append(msgs, ce.Error())
	}
	return msgs
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range validateTests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, configErrors(t, tt.cfg.Validate())); diff != "" {
				t.Errorf("Validate() errors (-want +got):\n%s", diff)
			}
			p, err := New(tt.cfg)
			if diff := cmp.Diff(tt.want, configErrors(t, err)); diff != "" {
				t.Errorf("New() errors (-want +got):\n%s", diff)
			}
			if (p == nil) == (len(tt.want) == 0) {
				t.Errorf("New() = %v, %v; want a Timeout exactly when the config is valid", p, err)
			}
		})
	}
}

func TestMustNewPanics(t *testing.T) {
	defer func() {
		err, _ := recover().(error)
		var ce *holdfast.ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("MustNew panicked with %v; want a *holdfast.ConfigError", err)
		}
	}()
	MustNew(Config{Timeout: -1})
}

func FuzzConfigValidate(f *testing.F) {
	for _, tt := range validateTests {
		f.Add(tt.cfg.Name, int64(tt.cfg.Timeout), int64(tt.cfg.OverrunThreshold))
	}
	f.Fuzz(func(t *testing.T, name string, timeout, threshold int64) {
		c := Config{Name: name, Timeout: time.Duration(timeout), OverrunThreshold: time.Duration(threshold)}
		msgs := configErrors(t, c.Validate())
		p, err := New(c)
		if got := configErrors(t, err); !cmp.Equal(msgs, got) {
			t.Fatalf("New() errors %q; Validate() errors %q", got, msgs)
		}
		if (len(msgs) == 0) != (timeout >= 0 && threshold >= 0) {
			t.Fatalf("Validate(timeout %d, threshold %d) = %q; want errors exactly for negative values", timeout, threshold, msgs)
		}
		if p != nil && (p.Timeout() <= 0 || p.Config().OverrunThreshold <= 0 || p.Name() == "") {
			t.Fatalf("New(%+v) gave config %+v; want positive durations and a name", c, p.Config())
		}
	})
}
