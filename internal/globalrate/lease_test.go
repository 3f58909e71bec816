package globalrate

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/internal/redistest"
)

func newLeasing(t *testing.T, cl *Client, route string, rate float64, burst, lease int) *Limiter {
	t.Helper()
	l, err := New(Config{Route: route, Local: newLocal(t, rate, burst), Client: cl, OnError: OnErrorDeny, Lease: lease})
	if err != nil {
		t.Fatal(err)
	}
	l.callerClock = true
	return l
}

// TestLeaseCutsRoundTrips: with lease 5, one round trip takes 5 tokens and
// the next 4 decisions are this process's alone; another process sharing
// the bucket gets what is left, and then the bucket is empty for both.
func TestLeaseCutsRoundTrips(t *testing.T) {
	srv := redistest.Start(t)
	cl := newClient(t, srv, ClientConfig{})
	a := newLeasing(t, cl, "api", 100, 10, 5)
	b := newLeasing(t, cl, "api", 100, 10, 5)
	for i := range 5 {
		if ok, _ := a.TryAt("u", t0); !ok {
			t.Fatalf("a's decision %d at t0: refused; want the burst", i)
		}
	}
	if s := a.Stats(); s.Leased != 4 {
		t.Errorf("a: %d decisions from its lease; want 4 (one round trip for 5)", s.Leased)
	}
	for i := range 5 {
		if ok, _ := b.TryAt("u", t0); !ok {
			t.Fatalf("b's decision %d at t0: refused; want the other half of the burst", i)
		}
	}
	ok, wait := a.TryAt("u", t0)
	if ok || wait != 10*time.Millisecond {
		t.Errorf("a at t0 with the bucket spent = %v, %v; want refused, 10ms", ok, wait)
	}
	if ok, _ := b.TryAt("u", t0); ok {
		t.Error("b at t0 with the bucket spent: admitted; want refused")
	}
	// 10 ms later one token has accrued: a takes it (a lease of 1).
	if ok, _ := a.TryAt("u", t0.Add(10*time.Millisecond)); !ok {
		t.Error("a at t0+10ms: refused; want the token that accrued")
	}
	if ok, _ := b.TryAt("u", t0.Add(10*time.Millisecond)); ok {
		t.Error("b at t0+10ms: admitted; want refused (a took the one token)")
	}
}

// TestLeaseExpires: leased tokens not spent within lease emission
// intervals are dropped, never spent late.
func TestLeaseExpires(t *testing.T) {
	srv := redistest.Start(t)
	cl := newClient(t, srv, ClientConfig{})
	a := newLeasing(t, cl, "api", 100, 10, 5)
	a.TryAt("u", t0) // takes 5, keeps 4 until t0+40ms
	if ok, _ := a.TryAt("u", t0.Add(39*time.Millisecond)); !ok {
		t.Fatal("a at t0+39ms: refused; want a leased token")
	}
	before := a.Stats().Leased
	a.TryAt("u", t0.Add(40*time.Millisecond))
	if a.Stats().Leased != before {
		t.Error("a spent a leased token at t0+40ms, when the lease was over")
	}
}

// TestLeaseBoundsOvershoot: three processes with leases of 5 offered far
// more than a 100/s limit at random times admit, over every interval
// checked, at most rate·T + burst + lease, and not much less over the run.
func TestLeaseBoundsOvershoot(t *testing.T) {
	srv := redistest.Start(t)
	cl := newClient(t, srv, ClientConfig{})
	const rate, burst, leaseN = 100.0, 10, 5
	fleet := []*Limiter{
		newLeasing(t, cl, "api", rate, burst, leaseN),
		newLeasing(t, cl, "api", rate, burst, leaseN),
		newLeasing(t, cl, "api", rate, burst, leaseN),
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var admitted []time.Duration
	at := time.Duration(0)
	const span = 5 * time.Second
	for at < span {
		at += time.Duration(rng.Int64N(int64(2 * time.Millisecond))) // ~1000 req/s offered
		if ok, _ := fleet[rng.IntN(len(fleet))].TryAt("u", t0.Add(at)); ok {
			admitted = append(admitted, at)
		}
	}
	// Every window [admitted[i], admitted[j]] holds j-i+1 admissions.
	for i := range admitted {
		for j := i; j < len(admitted); j++ {
			T := (admitted[j] - admitted[i]).Seconds()
			if limit := rate*T + burst + leaseN; float64(j-i+1) > limit {
				t.Fatalf("%d admitted in [%v, %v]; want at most rate·T + burst + lease = %.1f", j-i+1, admitted[i], admitted[j], limit)
			}
		}
	}
	if min := rate*span.Seconds() - 3*leaseN; float64(len(admitted)) < min {
		t.Errorf("%d admitted over %v; want at least %.0f (leases lose at most a few tokens)", len(admitted), span, min)
	}
	var leased uint64
	for _, l := range fleet {
		leased += l.Stats().Leased
	}
	t.Logf("%d admitted over %v, %d of them from leases", len(admitted), span, leased)
	if leased == 0 {
		t.Error("no decision came from a lease")
	}
}

func TestLeaseRefusesMoreThanBurst(t *testing.T) {
	srv := redistest.Start(t)
	cl := newClient(t, srv, ClientConfig{})
	if _, err := New(Config{Route: "api", Local: newLocal(t, 100, 10), Client: cl, Lease: 11}); err == nil {
		t.Error("New with lease 11 > burst 10: no error")
	}
}
