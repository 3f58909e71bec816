package fleetbreaker

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// These tests run real redis-servers and real time: the syncs are real
// round trips. Every wait is a poll with a generous bound.

var errBoom = errors.New("boom")

// member is one process of a test fleet: its breaker and its Fleet.
type member struct {
	b *breaker.Breaker
	f *Fleet
}

// call makes one call through m's breaker, as the proxy does: a permit,
// then the outcome to both the breaker and the fleet. It reports whether
// the breaker admitted it.
func (m member) call(err error) bool {
	p, aerr := m.b.Allow()
	if aerr != nil {
		return false
	}
	p.Done(err)
	m.f.Record(err)
	return true
}

func newFleet(t *testing.T, addr, name string, n int, cfg breaker.Config, quorum int) []member {
	t.Helper()
	var ms []member
	for range n {
		rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
		t.Cleanup(func() { rdb.Close() })
		b := breaker.MustNew(cfg)
		f, err := New(Config{Name: name, Breaker: b, Redis: rdb, Quorum: quorum, Interval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(f.Close)
		ms = append(ms, member{b, f})
	}
	return ms
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func states(ms []member) string {
	s := ""
	for _, m := range ms {
		s += m.b.State().String() + " "
	}
	return s
}

var tripCfg = breaker.Config{FailureRate: 0.5, MinimumRequests: 20, Window: 10 * time.Second, OpenDuration: 300 * time.Millisecond, HalfOpenRequests: 1}

// TestFleetTripsTogether: five processes with 4 failures each (20 in all,
// the breaker's minimum) open together, though none has seen enough to
// trip on its own; a process with the same name elsewhere (another Redis
// key) is untouched.
func TestFleetTripsTogether(t *testing.T) {
	srv := redistest.Start(t)
	fleet := newFleet(t, srv.Addr(), "ledger", 5, tripCfg, 2)
	other := newFleet(t, srv.Addr(), "catalog", 1, tripCfg, 2)
	for _, m := range fleet {
		for range 4 {
			m.call(errBoom)
		}
	}
	defer func() {
		if t.Failed() {
			for i, m := range fleet {
				t.Logf("member %d: %s, %+v", i, m.b.State(), m.f.Stats())
			}
		}
	}()
	waitFor(t, "every breaker of the fleet open", func() bool {
		for _, m := range fleet {
			if m.b.State() == breaker.Closed {
				return false
			}
		}
		return true
	})
	leaders := 0
	for i, m := range fleet {
		s := m.f.Stats()
		if !s.Open || s.Opened != 1 || s.Errors != 0 {
			t.Errorf("member %d: %+v; want open by the fleet once, no errors", i, s)
		}
		if s.Leader {
			leaders++
		}
		if c := m.b.Counts(); c.Trips != 0 {
			t.Errorf("member %d: %d trips of its own; want 0 (4 calls are below its minimum)", i, c.Trips)
		}
	}
	if leaders != 1 {
		t.Errorf("%d leaders; want 1", leaders)
	}
	if s := other[0].b.State(); s != breaker.Closed {
		t.Errorf("breaker catalog: %s; want closed (another dependency)", s)
	}
}

// TestFleetQuorum: one process whose calls all fail trips its own breaker,
// and the others stay closed: one process's view is not the fleet's. A
// second process seeing failures makes the quorum.
func TestFleetQuorum(t *testing.T) {
	srv := redistest.Start(t)
	fleet := newFleet(t, srv.Addr(), "ledger", 3, tripCfg, 2)
	for range 30 {
		fleet[0].call(errBoom)
	}
	for range 30 {
		fleet[1].call(nil)
		fleet[2].call(nil)
	}
	if s := fleet[0].b.State(); s != breaker.Open {
		t.Fatalf("member 0 after 30 failures: %s; want open on its own", s)
	}
	// Long enough for many syncs of every member.
	waitFor(t, "syncs", func() bool { return fleet[1].f.Stats().Syncs > 20 && fleet[2].f.Stats().Syncs > 20 })
	if s := states(fleet[1:]); s != "closed closed " {
		t.Fatalf("members 1, 2 with one failing member: %s; want closed (quorum 2)", s)
	}
	// Member 1 sees the dependency fail too and trips: two votes.
	for range 30 {
		fleet[1].call(errBoom)
	}
	waitFor(t, "member 2 opened by the fleet", func() bool { return fleet[2].b.State() != breaker.Closed })
}

// TestFleetProbesOnceAndCloses: once the fleet's open time is over, only
// its leader probes; the others stay open until the leader's probe
// passes, and then close without probing.
func TestFleetProbesOnceAndCloses(t *testing.T) {
	srv := redistest.Start(t)
	fleet := newFleet(t, srv.Addr(), "ledger", 3, tripCfg, 2)
	defer func() {
		if t.Failed() {
			for i, m := range fleet {
				t.Logf("member %d: %s, %+v, %+v", i, m.b.State(), m.f.Stats(), m.b.Counts())
			}
			t.Logf("redis: %v", srv.MustDo("KEYS", "*"))
		}
	}()
	for _, m := range fleet {
		for range 7 {
			m.call(errBoom)
		}
	}
	waitFor(t, "the fleet open", func() bool {
		for _, m := range fleet {
			if !m.f.Stats().Open {
				return false
			}
		}
		return true
	})
	var leader member
	var others []member
	for _, m := range fleet {
		if m.f.Stats().Leader {
			leader = m
		} else {
			others = append(others, m)
		}
	}
	if leader.b == nil || len(others) != 2 {
		t.Fatalf("no single leader: %+v", fleet)
	}
	// Past the open time, the leader half-opens; the others are held.
	time.Sleep(tripCfg.OpenDuration + 50*time.Millisecond)
	for i, m := range others {
		if m.call(nil) {
			t.Errorf("follower %d admitted a call while the leader probes; want it held open", i)
		}
	}
	if !leader.call(nil) {
		t.Fatal("the leader refused its probe after the open time")
	}
	if s := leader.b.State(); s != breaker.Closed {
		t.Fatalf("leader after a good probe: %s; want closed", s)
	}
	waitFor(t, "the followers closed by the fleet", func() bool {
		for _, m := range others {
			if m.b.State() != breaker.Closed {
				return false
			}
		}
		return true
	})
	for i, m := range others {
		if s := m.f.Stats(); s.Closed != 1 || s.Open {
			t.Errorf("follower %d: %+v; want closed by the fleet once", i, s)
		}
		if !m.call(nil) {
			t.Errorf("follower %d refused a call after the fleet closed", i)
		}
	}
	// The window starts afresh: the failures before the close do not
	// reopen it.
	time.Sleep(100 * time.Millisecond)
	if s := states(fleet); s != "closed closed closed " {
		t.Errorf("after the close: %s; want all closed", s)
	}
}

// TestFleetFailedProbeReopens: the leader's probe fails: the fleet opens
// again, still led by it, and the followers stay held.
func TestFleetFailedProbeReopens(t *testing.T) {
	srv := redistest.Start(t)
	fleet := newFleet(t, srv.Addr(), "ledger", 2, tripCfg, 2)
	for _, m := range fleet {
		for range 10 {
			m.call(errBoom)
		}
	}
	waitFor(t, "the fleet open", func() bool { return fleet[0].f.Stats().Open && fleet[1].f.Stats().Open })
	leader, follower := fleet[0], fleet[1]
	if !leader.f.Stats().Leader {
		leader, follower = follower, leader
	}
	time.Sleep(tripCfg.OpenDuration + 50*time.Millisecond)
	if !leader.call(errBoom) {
		t.Fatal("the leader refused its probe")
	}
	// The reopened fleet holds the follower past another open time.
	time.Sleep(tripCfg.OpenDuration * 3 / 2)
	if follower.call(nil) {
		t.Error("follower admitted a call after the leader's probe failed; want it held open")
	}
	if s := leader.f.Stats(); !s.Open || !s.Leader {
		t.Errorf("leader after its failed probe: %+v; want the fleet open, led by it", s)
	}
}

// TestFleetWithoutRedis: Redis gone, each breaker decides alone, the syncs
// count errors; Redis back, the fleet works again.
func TestFleetWithoutRedis(t *testing.T) {
	srv := redistest.Start(t)
	fleet := newFleet(t, srv.Addr(), "ledger", 2, tripCfg, 2)
	srv.Kill()
	waitFor(t, "errors counted", func() bool { return fleet[0].f.Stats().Errors > 2 && fleet[0].f.Stats().Degraded })
	for range 30 {
		fleet[0].call(errBoom)
	}
	if s := states(fleet); s != "open closed " {
		t.Fatalf("redis down, member 0 failing: %s; want member 0 open on its own, member 1 closed", s)
	}
	srv.Restart()
	waitFor(t, "redis back", func() bool { return !fleet[0].f.Stats().Degraded && !fleet[1].f.Stats().Degraded })
	for range 30 {
		fleet[1].call(errBoom)
	}
	// Member 1 trips on its own: with member 0's vote lost with Redis,
	// the fleet needs a second vote or failures from both within the
	// window; member 0's next trip or failures give it.
	time.Sleep(tripCfg.OpenDuration + 50*time.Millisecond)
	for range 5 {
		fleet[0].call(errBoom)
	}
	waitFor(t, "the fleet open after redis came back", func() bool { return fleet[0].f.Stats().Open && fleet[1].f.Stats().Open })
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	b := breaker.MustNew(breaker.Config{})
	for i, c := range []Config{
		{Breaker: b, Redis: rdb},
		{Name: "x", Redis: rdb},
		{Name: "x", Breaker: b},
		{Name: "x", Breaker: b, Redis: rdb, Quorum: -1},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("config %d: New succeeded; want an error", i)
		}
	}
	f, err := New(Config{Name: "x", Breaker: b, Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	f.Close() // idempotent
	if got := fmt.Sprint(f.cfg.Quorum, f.cfg.Interval); got != "2 100ms" {
		t.Errorf("defaults: quorum, interval = %s; want 2 100ms", got)
	}
}
