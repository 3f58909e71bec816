package breaker

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// fleetBreaker is a breaker that trips at 50% of 4 calls, opens for 1 s
// and closes after 1 probe, recording its state changes.
func fleetBreaker(t *testing.T) (*Breaker, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var changes []string
	b := MustNew(Config{FailureRate: 0.5, MinimumRequests: 4, OpenDuration: time.Second, HalfOpenRequests: 1,
		Listener: holdfast.ListenerFunc(func(e holdfast.Event) {
			if e.Kind == holdfast.EventStateChange {
				mu.Lock()
				changes = append(changes, e.From+">"+e.To+":"+e.Reason)
				mu.Unlock()
			}
		})})
	return b, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), changes...) }
}

func TestOpenUntil(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, changes := fleetBreaker(t)
		if !b.OpenUntil(time.Now().Add(3 * time.Second)) {
			t.Fatal("OpenUntil on a closed breaker reported no change")
		}
		var oe *OpenError
		if _, err := b.Allow(); !errors.As(err, &oe) || oe.Remaining != 3*time.Second {
			t.Fatalf("Allow after OpenUntil(+3s) = %v; want ErrOpen with 3s remaining", err)
		}
		if c := b.Counts(); c.State != Open || c.Trips != 0 {
			t.Errorf("Counts = %+v; want open and no trips of its own", c)
		}
		// Never shortened; extended.
		if b.OpenUntil(time.Now().Add(time.Second)) {
			t.Error("OpenUntil(+1s) on a breaker open for 3s changed it; want it left alone")
		}
		if b.OpenUntil(time.Now()) {
			t.Error("OpenUntil(now) changed the breaker")
		}
		if !b.OpenUntil(time.Now().Add(5 * time.Second)) {
			t.Error("OpenUntil(+5s) on a breaker open for 3s did not extend it")
		}
		time.Sleep(5*time.Second - time.Nanosecond)
		if _, err := b.Allow(); !errors.Is(err, ErrOpen) {
			t.Fatalf("Allow just before the open time is over = %v; want ErrOpen", err)
		}
		time.Sleep(time.Nanosecond)
		p, err := b.Allow()
		if err != nil {
			t.Fatalf("Allow once the open time is over = %v; want a probe", err)
		}
		p.Done(nil)
		if s := b.State(); s != Closed {
			t.Errorf("after a good probe: %s; want closed", s)
		}
		want := []string{"closed>open:fleet", "open>half_open:open_duration_elapsed", "half_open>closed:probes_succeeded"}
		if got := changes(); !slices.Equal(got, want) {
			t.Errorf("state changes %q; want %q", got, want)
		}
	})
}

// TestOpenUntilKeepsOwnTripsGrowth: extending a breaker's own open time
// keeps its reopen count, so the breaker's next open time still grows;
// its trips stay its own.
func TestOpenUntilKeepsOwnTripsGrowth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := MustNew(Config{ConsecutiveFailures: 1, OpenDuration: time.Second, OpenBackoff: 2, MaxOpenDuration: time.Minute, HalfOpenRequests: 1})
		fail := func() {
			p, err := b.Allow()
			if err != nil {
				t.Fatalf("Allow = %v", err)
			}
			p.Done(errors.New("boom"))
		}
		fail() // trip: open 1s
		time.Sleep(time.Second)
		fail() // probe fails: reopens 1, open 2s
		if !b.OpenUntil(time.Now().Add(10 * time.Second)) {
			t.Fatal("OpenUntil(+10s) did not extend a 2s open time")
		}
		time.Sleep(10 * time.Second)
		fail() // probe fails again: reopens 2, open 4s
		if c := b.Counts(); c.Trips != 3 || c.Remaining != 4*time.Second {
			t.Errorf("Counts = %+v; want 3 trips of its own and 4s open (the growth kept)", c)
		}
	})
}

func TestCloseFleet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, changes := fleetBreaker(t)
		if b.CloseFleet() {
			t.Error("CloseFleet on a closed breaker reported a change")
		}
		b.OpenUntil(time.Now().Add(time.Hour))
		if !b.CloseFleet() {
			t.Fatal("CloseFleet on an open breaker reported no change")
		}
		if c := b.Counts(); c.State != Closed || c.Calls != 0 {
			t.Errorf("after CloseFleet: %+v; want closed with a fresh window", c)
		}
		if _, err := b.Allow(); err != nil {
			t.Errorf("Allow after CloseFleet = %v", err)
		}
		want := []string{"closed>open:fleet", "open>closed:fleet"}
		if got := changes(); !slices.Equal(got, want) {
			t.Errorf("state changes %q; want %q", got, want)
		}

		// A forced breaker is the operator's: the fleet leaves it alone.
		b.ForceOpen()
		if b.CloseFleet() || b.State() != Open {
			t.Error("CloseFleet changed a forced-open breaker")
		}
		b.ForceClosed()
		if b.OpenUntil(time.Now().Add(time.Hour)) || b.State() != Closed {
			t.Error("OpenUntil changed a forced-closed breaker")
		}
	})
}

func TestCounted(t *testing.T) {
	b := MustNew(Config{IsFailure: func(err error) bool { return !errors.Is(err, errClient) }})
	tests := []struct {
		err              error
		counted, failure bool
	}{
		{nil, true, false},
		{errors.New("boom"), true, true},
		{errClient, true, false},
		{context.Canceled, false, false},
		{context.DeadlineExceeded, true, true},
	}
	for _, tt := range tests {
		if c, f := b.Counted(tt.err); c != tt.counted || f != tt.failure {
			t.Errorf("Counted(%v) = %t, %t; want %t, %t", tt.err, c, f, tt.counted, tt.failure)
		}
	}
	if got := b.Settings(); got.FailureRate == 0 || got.OpenDuration == 0 {
		t.Errorf("Settings() = %+v; want the defaults applied", got)
	}
}

var errClient = errors.New("client's fault")
