package adaptive

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func testController(c Config, jitter float64) *controller {
	return newController(c.withDefaults(), t0, func() float64 { return jitter })
}

// feed reports n calls that each took rtt and finished at now, with
// inFlight in flight, and returns the last change.
func feed(c *controller, now time.Time, n int, rtt time.Duration, inFlight int) change {
	var ch change
	for range n {
		ch = c.observe(now.Add(-rtt), now, inFlight, false)
	}
	return ch
}

func TestControllerFirstProbe(t *testing.T) {
	c := testController(Config{Min: 3, Initial: 40, ProbeSamples: 5}, 0)
	if got := c.admitted(); got != 3 {
		t.Fatalf("admitted() while probing = %d; want min 3", got)
	}
	now := t0.Add(time.Second)
	// A call admitted before the probe began met whatever queue there was:
	// it does not count.
	if ch := c.observe(t0.Add(-time.Millisecond), now, 3, false); ch.probeEnded || len(c.probe) != 0 {
		t.Fatalf("a call admitted before the probe was counted: %+v, %d samples", ch, len(c.probe))
	}
	// Neither does a drop.
	c.observe(now.Add(-time.Millisecond), now, 3, true)
	for i, rtt := range []time.Duration{9, 50, 10, 11} { // with the next one, median 10ms
		if ch := c.observe(now.Add(-rtt*time.Millisecond), now, 3, false); ch.probeEnded {
			t.Fatalf("probe ended after %d samples; want 5", i+1)
		}
	}
	ch := c.observe(now.Add(-time.Second), now, 3, false)
	want := change{from: 3, to: 40, probeEnded: true}
	if ch != want {
		t.Errorf("change at the fifth sample = %+v; want %+v", ch, want)
	}
	if got, want := c.noload, 11*time.Millisecond; got != want {
		t.Errorf("noload = %v; want the median %v", got, want)
	}
	if got := c.admitted(); got != 40 {
		t.Errorf("admitted() after the probe = %d; want initial 40", got)
	}
	if got, want := c.nextProbe, now.Add(DefaultProbeInterval); !got.Equal(want) {
		t.Errorf("next probe at %v; want %v", got, want)
	}
}

// probed returns a controller past its first probe, with noload 10ms, at
// limit 20 and a window opened at the returned time.
func probed(c Config) (*controller, time.Time) {
	c.ProbeSamples = 1
	ctl := testController(c, 0)
	now := t0.Add(time.Second)
	ctl.observe(now.Add(-10*time.Millisecond), now, 1, false)
	return ctl, now
}

func TestControllerWindow(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		after     time.Duration // since the window opened
		n         int
		rtt       time.Duration
		inFlight  int
		wantLimit int
	}{
		{"too soon", Config{}, 99 * time.Millisecond, 100, 10 * time.Millisecond, 20, 20},
		{"too few samples", Config{}, time.Second, 9, 10 * time.Millisecond, 20, 20},
		{"closes and grows", Config{}, 100 * time.Millisecond, 10, 10 * time.Millisecond, 20, 30},
		{"closes and shrinks", Config{}, 100 * time.Millisecond, 10, 25 * time.Millisecond, 20, 13}, // g = 0.5: 10 + √10
		{"idle does not grow", Config{}, 100 * time.Millisecond, 10, 10 * time.Millisecond, 9, 20},
		{"half busy grows", Config{}, 100 * time.Millisecond, 10, 10 * time.Millisecond, 10, 30},
		{"custom window and samples", Config{Window: time.Second, MinSamples: 2}, time.Second, 2, 10 * time.Millisecond, 20, 30},
		{"window at least two noloads", Config{Window: time.Millisecond, MinSamples: 5}, 19 * time.Millisecond, 5, 10 * time.Millisecond, 20, 20},
		{"window of two noloads closes", Config{Window: time.Millisecond, MinSamples: 5}, 20 * time.Millisecond, 5, 10 * time.Millisecond, 20, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, start := probed(tt.cfg)
			ch := feed(c, start.Add(tt.after), tt.n, tt.rtt, tt.inFlight)
			if got := c.admitted(); got != tt.wantLimit {
				t.Errorf("admitted() = %d; want %d", got, tt.wantLimit)
			}
			if want := (change{from: 20, to: tt.wantLimit}); ch != want {
				t.Errorf("last change = %+v; want %+v", ch, want)
			}
		})
	}
}

func TestControllerFasterWindowLowersNoload(t *testing.T) {
	c, start := probed(Config{})
	feed(c, start.Add(100*time.Millisecond), 10, 4*time.Millisecond, 20)
	if got, want := c.noload, 4*time.Millisecond; got != want {
		t.Errorf("noload after a window averaging %v = %v; want %v", want, got, want)
	}
}

func TestControllerReprobes(t *testing.T) {
	for _, tt := range []struct {
		jitter float64
		first  time.Duration // of the next probe after the first, since it ended
	}{
		{0, time.Minute},
		{0.5, time.Minute + 4500*time.Millisecond}, // 15% × 0.5 × 1m
	} {
		c := testController(Config{ProbeSamples: 2, ProbeInterval: time.Minute}, tt.jitter)
		end := t0.Add(time.Second)
		feed(c, end, 2, 10*time.Millisecond, 1)
		if c.probing {
			t.Fatal("still probing after the probe samples")
		}
		if got, want := c.nextProbe, end.Add(tt.first); !got.Equal(want) {
			t.Errorf("jitter %g: next probe at +%v; want +%v", tt.jitter, got.Sub(end), tt.first)
		}
		// Windows keep closing; the first to close at or after nextProbe
		// starts the probe.
		before := c.nextProbe.Add(-time.Millisecond)
		if ch := feed(c, before, 10, 10*time.Millisecond, 20); ch.probeStarted || c.probing {
			t.Fatalf("probe started %v early", time.Millisecond)
		}
		limit := c.limit
		ch := feed(c, c.nextProbe.Add(100*time.Millisecond), 10, 10*time.Millisecond, 20)
		if !ch.probeStarted || !c.probing || ch.to != 5 {
			t.Fatalf("change at the interval = %+v, probing %v; want a probe to start at min 5", ch, c.probing)
		}
		// The dependency got slower for good: the probe learns it.
		probeStart := c.probeStart
		feed(c, probeStart.Add(time.Second), 2, 30*time.Millisecond, 5)
		if c.probing {
			t.Fatal("still probing after the probe samples")
		}
		if got, want := c.noload, 30*time.Millisecond; got != want {
			t.Errorf("noload after re-probe = %v; want %v", got, want)
		}
		if c.limit < limit {
			t.Errorf("limit after re-probe = %g; want the limit before it, %g, or more", c.limit, limit)
		}
	}
}

// TestControllerProbesWhenLatencyIsNotItsOwn checks the early re-probe: a
// latency over tolerance that does not fall when the limit halves, or that
// persists at Min, starts a probe at once; one that falls with the limit is
// the limiter's own queueing and does not.
func TestControllerProbesWhenLatencyIsNotItsOwn(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name       string
		cfg        Config
		rtts       []time.Duration // one busy window each, at noload 10ms
		wantLimits []int           // admitted after each window
		wantProbe  int             // the window after which a probe starts, from 1; 0 for none
	}{
		// 20 → 10 + √10 = 13 → 6.6 + √6.6 = 9, half of 20 at the same latency.
		{"latency deaf to the limit", Config{}, []time.Duration{40 * ms, 40 * ms, 40 * ms}, []int{13, 9, 0}, 3},
		{"latency falling with the limit", Config{}, []time.Duration{40 * ms, 40 * ms, 30 * ms}, []int{13, 9, 6}, 0},
		{"latency back within tolerance resets", Config{}, []time.Duration{40 * ms, 10 * ms, 40 * ms, 40 * ms}, []int{13, 20, 13, 9}, 0},
		{"slow at min", Config{Min: 20}, []time.Duration{40 * ms}, []int{5}, 1},
		{"healthy at min", Config{Min: 20}, []time.Duration{10 * ms}, []int{30}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, now := probed(tt.cfg)
			for i, rtt := range tt.rtts {
				now = now.Add(100 * ms)
				ch := feed(c, now, 10, rtt, 30)
				if ch.probeStarted != (i+1 == tt.wantProbe) {
					t.Errorf("window %d (%v): probe started %v; want %v", i+1, rtt, ch.probeStarted, i+1 == tt.wantProbe)
				}
				if c.probing {
					// Probing holds Min; the limit to return to is kept.
					if got := c.admitted(); got != int(c.min) {
						t.Errorf("admitted() while probing = %d; want min %d", got, int(c.min))
					}
					break
				}
				if got := c.admitted(); got != tt.wantLimits[i] {
					t.Errorf("window %d (%v): admitted() = %d; want %d", i+1, rtt, got, tt.wantLimits[i])
				}
			}
		})
	}
}
