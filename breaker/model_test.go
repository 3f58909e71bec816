package breaker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/holdfast-dev/holdfast"
)

// model is a deliberately naive breaker: it keeps every outcome in a slice
// and recounts the window from scratch on every question. The property test
// drives it and a real Breaker with the same random operations and explicit
// times, and demands the same answers.
type model struct {
	cfg Config // defaults applied
	at  func(time.Time) int64

	state   State
	forced  bool
	epoch   int
	until   int64
	reopens int
	trips   uint64

	recs   []modelRec // closed: every outcome of this epoch, oldest first
	consec int64

	probes, probeOK int

	events []string
}

type modelRec struct {
	end        int64
	fail, slow bool
}

type modelPermit struct {
	epoch int
	start int64
}

func newModel(cfg Config, at func(time.Time) int64) *model {
	return &model{cfg: cfg.withDefaults(), at: at}
}

func (m *model) to(s State, forced bool, now int64, reason string) {
	from := m.state
	m.state, m.forced = s, forced
	m.epoch++
	m.recs, m.consec = nil, 0
	m.probes, m.probeOK = 0, 0
	switch s {
	case Closed:
		m.reopens = 0
	case Open:
		if forced {
			m.until = math.MaxInt64
			break
		}
		if from == HalfOpen {
			m.reopens++
		} else {
			m.reopens = 0
		}
		m.until = now + int64(m.openFor())
		m.trips++
	}
	if from != s {
		m.events = append(m.events, fmt.Sprintf("%v->%v:%s", from, s, reason))
	}
}

func (m *model) openFor() time.Duration {
	d := m.cfg.OpenDuration
	for range m.reopens {
		d = time.Duration(float64(d) * m.cfg.OpenBackoff)
		if d >= m.cfg.MaxOpenDuration {
			return m.cfg.MaxOpenDuration
		}
	}
	return min(d, m.cfg.MaxOpenDuration)
}

// allow returns the permit, or the rejection's state and wait hint.
func (m *model) allow(t time.Time) (modelPermit, *OpenError) {
	now := m.at(t)
	if m.state == Open {
		if m.forced || now < m.until {
			e := &OpenError{Name: m.cfg.Name, State: Open, Forced: m.forced}
			if !m.forced {
				e.Remaining = time.Duration(m.until - now)
			}
			return modelPermit{}, e
		}
		m.to(HalfOpen, false, now, ReasonOpenElapsed)
	}
	if m.state == HalfOpen {
		if m.probes >= m.cfg.HalfOpenRequests {
			return modelPermit{}, &OpenError{Name: m.cfg.Name, State: HalfOpen}
		}
		m.probes++
	}
	return modelPermit{epoch: m.epoch, start: now}, nil
}

// window returns the calls, failures and slow calls in the window at now.
func (m *model) window(now int64) (calls, fails, slows int64) {
	recs := m.recs
	if m.cfg.WindowType == WindowCount {
		recs = recs[max(0, len(recs)-m.cfg.WindowSize):]
	}
	for _, r := range recs {
		if m.cfg.WindowType == WindowTime {
			width := int64(m.cfg.Window) / int64(m.cfg.WindowBuckets)
			cur, b := floorDivModel(now, width), floorDivModel(r.end, width)
			if b > cur || b <= cur-int64(m.cfg.WindowBuckets) {
				continue
			}
		}
		calls++
		if r.fail {
			fails++
		}
		if r.slow {
			slows++
		}
	}
	return calls, fails, slows
}

// floorDivModel is floor division spelled differently from floorDiv, so the
// model does not share a bug with the code under test.
func floorDivModel(a, b int64) int64 { return int64(math.Floor(float64(a) / float64(b))) }

// finish records outcome o ("ok", "fail", "cancel", "release") at t.
func (m *model) finish(p modelPermit, o string, t time.Time) {
	now := m.at(t)
	if o == "cancel" || o == "release" {
		if p.epoch == m.epoch && m.state == HalfOpen && m.probes > 0 {
			m.probes--
		}
		return
	}
	if p.epoch != m.epoch {
		return
	}
	fail := o == "fail"
	slow := m.cfg.SlowCallDuration > 0 && now-p.start >= int64(m.cfg.SlowCallDuration)
	switch m.state {
	case HalfOpen:
		switch {
		case fail:
			m.to(Open, false, now, ReasonProbeFailed)
		case slow:
			m.to(Open, false, now, ReasonProbeSlow)
		default:
			m.probeOK++
			if m.probeOK == m.cfg.HalfOpenRequests {
				m.to(Closed, false, now, ReasonProbesSucceeded)
			}
		}
	case Closed:
		m.recs = append(m.recs, modelRec{end: now, fail: fail, slow: slow})
		if fail {
			m.consec++
		} else {
			m.consec = 0
		}
		if m.forced || !(fail || slow) {
			return
		}
		calls, fails, slows := m.window(now)
		switch {
		case fail && m.cfg.ConsecutiveFailures > 0 && m.consec >= int64(m.cfg.ConsecutiveFailures):
			m.to(Open, false, now, ReasonConsecutiveFailures)
		case calls < int64(m.cfg.MinimumRequests):
		case fail && float64(fails) >= m.cfg.FailureRate*float64(calls):
			m.to(Open, false, now, ReasonFailureRate)
		case slow && float64(slows) >= m.cfg.SlowCallRate*float64(calls):
			m.to(Open, false, now, ReasonSlowCallRate)
		}
	}
}

func (m *model) counts(t time.Time) Counts {
	now := m.at(t)
	c := Counts{State: m.state, Forced: m.forced, Trips: m.trips}
	switch m.state {
	case Closed:
		c.Calls, c.Failures, c.SlowCalls = m.window(now)
		c.Successes = c.Calls - c.Failures
		if c.Calls > 0 {
			c.FailureRate = float64(c.Failures) / float64(c.Calls)
			c.SlowCallRate = float64(c.SlowCalls) / float64(c.Calls)
		}
		c.ConsecutiveFailures = m.consec
	case HalfOpen:
		c.Probes, c.ProbeSuccesses = m.probes, m.probeOK
	case Open:
		switch {
		case m.forced:
		case now >= m.until:
			c.State = HalfOpen
		default:
			c.Remaining = time.Duration(m.until - now)
			c.OpenDuration = m.openFor()
		}
	}
	return c
}

// errNotMine is an error the property test's IsFailure does not count.
var errNotMine = errors.New("not the dependency's fault")

func errFor(o string) error {
	switch o {
	case "fail":
		return errors.New("boom")
	case "cancel":
		return fmt.Errorf("gave up: %w", context.Canceled)
	case "notmine":
		return errNotMine
	}
	return nil
}

// randomConfig draws a small config, so that trips, expiry and growth all
// happen within a few dozen operations.
func randomConfig(r *rand.Rand) Config {
	cfg := Config{
		FailureRate:         []float64{0.2, 0.5, 0.75, 1}[r.IntN(4)],
		ConsecutiveFailures: r.IntN(5),
		HalfOpenRequests:    1 + r.IntN(3),
		OpenDuration:        time.Duration(1+r.IntN(5)) * time.Second,
		IsFailure:           func(err error) bool { return !errors.Is(err, errNotMine) },
	}
	if r.IntN(2) == 0 {
		cfg.MaxOpenDuration = cfg.OpenDuration * time.Duration(1+r.IntN(8))
		cfg.OpenBackoff = []float64{1, 1.5, 2, 3}[r.IntN(4)]
	}
	if r.IntN(2) == 0 {
		cfg.WindowType = WindowCount
		cfg.WindowSize = 1 + r.IntN(10)
		cfg.MinimumRequests = 1 + r.IntN(cfg.WindowSize)
	} else {
		cfg.WindowType = WindowTime
		cfg.WindowBuckets = 1 + r.IntN(5)
		cfg.Window = time.Duration(cfg.WindowBuckets*(1+r.IntN(3))) * 500 * time.Millisecond
		cfg.MinimumRequests = 1 + r.IntN(8)
	}
	if r.IntN(2) == 0 {
		cfg.SlowCallDuration = 300 * time.Millisecond
		cfg.SlowCallRate = []float64{0.3, 0.5, 1}[r.IntN(3)]
	}
	return cfg
}

func TestBreakerMatchesModel(t *testing.T) {
	const runs, steps = 400, 150
	for seed := range uint64(runs) {
		r := rand.New(rand.NewPCG(seed, 0x5eed))
		cfg := randomConfig(r)
		var events []string
		cfg.Listener = holdfast.ListenerFunc(func(e holdfast.Event) {
			if e.Kind == holdfast.EventStateChange {
				events = append(events, fmt.Sprintf("%s->%s:%s", e.From, e.To, e.Reason))
			}
		})
		b := MustNew(cfg)
		m := newModel(cfg, b.at)
		// An unaligned start checks that bucket edges follow the breaker's
		// clock, not the test's.
		now := time.Date(2030, 1, 1, 0, 0, 0, int(r.Int64N(1e9)), time.UTC)

		type held struct {
			p  Permit
			mp modelPermit
		}
		var holding []held
		var log []string
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d, config %+v\nops:\n  %s\n%s", seed, cfg, strings.Join(log, "\n  "), fmt.Sprintf(format, args...))
		}
		allow := func() (Permit, modelPermit, bool) {
			p, err := b.AllowAt(now)
			mp, merr := m.allow(now)
			if (err == nil) != (merr == nil) {
				fail("AllowAt: got err %v; want %v", err, merr)
			}
			if err != nil {
				var oe *OpenError
				if !errors.As(err, &oe) || !errors.Is(err, ErrOpen) {
					fail("AllowAt: got %v; want an *OpenError matching ErrOpen", err)
				}
				if diff := cmp.Diff(merr, oe); diff != "" {
					fail("AllowAt rejection (-model +breaker):\n%s", diff)
				}
				return Permit{}, modelPermit{}, false
			}
			return p, mp, true
		}
		outcomes := []string{"ok", "ok", "ok", "fail", "fail", "cancel", "notmine"}

		for step := range steps {
			switch op := r.IntN(20); {
			case op < 11: // a whole call
				o := outcomes[r.IntN(len(outcomes))]
				d := time.Duration(r.IntN(5)) * 100 * time.Millisecond
				log = append(log, fmt.Sprintf("%d: call %s taking %v at %v", step, o, d, now.Format(".000")))
				p, mp, ok := allow()
				now = now.Add(d)
				if ok {
					p.DoneAt(now, errFor(o))
					mo := o
					if o == "notmine" {
						mo = "ok"
					}
					m.finish(mp, mo, now)
				}
			case op < 14: // time passes
				d := time.Duration(r.IntN(30)) * 100 * time.Millisecond
				log = append(log, fmt.Sprintf("%d: advance %v", step, d))
				now = now.Add(d)
			case op < 16: // start a call and hold it
				log = append(log, fmt.Sprintf("%d: hold at %v", step, now.Format(".000")))
				if p, mp, ok := allow(); ok && len(holding) < 4 {
					holding = append(holding, held{p, mp})
				} else if ok {
					p.Release()
					m.finish(mp, "release", now)
				}
			case op < 19: // finish a held call
				if len(holding) == 0 {
					continue
				}
				i := r.IntN(len(holding))
				h := holding[i]
				holding = append(holding[:i], holding[i+1:]...)
				o := []string{"ok", "fail", "cancel", "release"}[r.IntN(4)]
				log = append(log, fmt.Sprintf("%d: finish held %d with %s at %v", step, i, o, now.Format(".000")))
				if o == "release" {
					h.p.Release()
				} else {
					h.p.DoneAt(now, errFor(o))
				}
				m.finish(h.mp, o, now)
			default: // manual control, rarely
				switch r.IntN(6) {
				case 0:
					log = append(log, fmt.Sprintf("%d: ForceOpen", step))
					b.ForceOpen()
					m.to(Open, true, m.at(now), ReasonForced)
				case 1:
					log = append(log, fmt.Sprintf("%d: ForceClosed", step))
					b.ForceClosed()
					m.to(Closed, true, m.at(now), ReasonForced)
				default:
					log = append(log, fmt.Sprintf("%d: Reset", step))
					b.Reset()
					m.to(Closed, false, m.at(now), ReasonReset)
				}
			}

			if diff := cmp.Diff(m.counts(now), b.CountsAt(now)); diff != "" {
				fail("CountsAt (-model +breaker):\n%s", diff)
			}
			if got, want := b.StateAt(now), m.counts(now).State; got != want {
				fail("StateAt = %v; want %v", got, want)
			}
			if diff := cmp.Diff(m.events, events); diff != "" {
				fail("state changes (-model +breaker):\n%s", diff)
			}
		}
	}
}
