package guard

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast"
)

var validateTests = []struct {
	name           string
	violations     int
	window         time.Duration
	probeInterval  time.Duration
	probeTimeout   time.Duration
	recoveryProbes int
	wantErr        string
}{
	{name: "zero is valid"},
	{name: "explicit", violations: 5, window: time.Second, probeInterval: time.Second, probeTimeout: 10 * time.Millisecond, recoveryProbes: 2},
	{name: "negative violations", violations: -1, wantErr: "guard.violations: must be in [1, 10000], got -1"},
	{name: "too many violations", violations: 10001, wantErr: "guard.violations: must be in [1, 10000], got 10001"},
	{name: "negative window", window: -time.Second, wantErr: "guard.window: must not be negative, got -1s"},
	{name: "negative probe interval", probeInterval: -1, wantErr: "guard.probe_interval: must not be negative, got -1ns"},
	{name: "negative probe timeout", probeTimeout: -time.Millisecond, wantErr: "guard.probe_timeout: must not be negative, got -1ms"},
	{name: "negative recovery probes", recoveryProbes: -3, wantErr: "guard.recovery_probes: must be in [1, 10000], got -3"},
	{name: "several at once", violations: -1, recoveryProbes: -1,
		wantErr: "guard.violations: must be in [1, 10000], got -1\nguard.recovery_probes: must be in [1, 10000], got -1"},
}

func TestValidate(t *testing.T) {
	for _, tt := range validateTests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config[int]{Violations: tt.violations, Window: tt.window, ProbeInterval: tt.probeInterval,
				ProbeTimeout: tt.probeTimeout, RecoveryProbes: tt.recoveryProbes}
			got := ""
			if err := c.Validate(); err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("Validate() = %q; want %q", got, tt.wantErr)
			}
			g, err := New(c)
			if (err == nil) != (tt.wantErr == "") {
				t.Fatalf("New error = %v; want error: %v", err, tt.wantErr != "")
			}
			if g != nil {
				g.Close()
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	g := MustNew(Config[int]{})
	want := Config[int]{Name: "guard", Violations: 3, Window: time.Minute, ProbeInterval: 5 * time.Second,
		ProbeTimeout: 5 * time.Second, RecoveryProbes: 3}
	got := g.cfg
	if got.Name != want.Name || got.Violations != want.Violations || got.Window != want.Window ||
		got.ProbeInterval != want.ProbeInterval || got.ProbeTimeout != want.ProbeTimeout || got.RecoveryProbes != want.RecoveryProbes {
		t.Errorf("defaults = %+v; want %+v", got, want)
	}
	g = MustNew(Config[int]{ProbeInterval: time.Second})
	if g.cfg.ProbeTimeout != time.Second {
		t.Errorf("ProbeTimeout default = %v; want the probe interval, 1s", g.cfg.ProbeTimeout)
	}
}

func FuzzValidate(f *testing.F) {
	for _, tt := range validateTests {
		f.Add(tt.violations, int64(tt.window), int64(tt.probeInterval), int64(tt.probeTimeout), tt.recoveryProbes)
	}
	f.Fuzz(func(t *testing.T, violations int, window, interval, timeout int64, probes int) {
		c := Config[int]{Violations: violations, Window: time.Duration(window), ProbeInterval: time.Duration(interval),
			ProbeTimeout: time.Duration(timeout), RecoveryProbes: probes}
		err := c.Validate()
		valid := violations >= 0 && violations <= maxViolations && window >= 0 && interval >= 0 && timeout >= 0 &&
			probes >= 0 && probes <= maxRecoveryProbes
		if (err == nil) != valid {
			t.Fatalf("Validate(%+v) = %v; want valid %v", c, err, valid)
		}
		if err == nil {
			g, err := New(c)
			if err != nil {
				t.Fatalf("New after valid Validate: %v", err)
			}
			g.Close()
			return
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.HasPrefix(line, "guard.") {
				t.Errorf("error line %q does not start with guard.", line)
			}
		}
		if _, ok := errors.AsType[*holdfast.ConfigError](err); !ok {
			t.Errorf("Validate error %v holds no *holdfast.ConfigError", err)
		}
	})
}
