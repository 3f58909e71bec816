package ratelimit

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestReserveN(t *testing.T) {
	l := MustNew(Config{RequestsPerSecond: 10, Burst: 2})
	tests := []struct {
		at        time.Duration
		n         int
		wantOK    bool
		wantDelay time.Duration
	}{
		{0, 2, true, 0},
		{0, 1, true, 100 * time.Millisecond},
		{0, 2, true, 300 * time.Millisecond},
		{50 * time.Millisecond, 1, true, 350 * time.Millisecond},
		{0, 3, false, 0}, // more than the bucket
		{0, 0, true, 0},
	}
	for i, tt := range tests {
		now := t0.Add(tt.at)
		r := l.ReserveN(now, tt.n)
		if r.OK() != tt.wantOK || r.DelayFrom(now) != tt.wantDelay {
			t.Fatalf("reservation %d: ReserveN(t0+%v, %d) = ok %v delay %v; want ok %v delay %v",
				i, tt.at, tt.n, r.OK(), r.DelayFrom(now), tt.wantOK, tt.wantDelay)
		}
		if want := now.Add(tt.wantDelay); tt.wantOK && !r.TimeToAct().Equal(want) {
			t.Errorf("reservation %d: TimeToAct() = %v; want %v", i, r.TimeToAct(), want)
		}
		if !tt.wantOK && !r.TimeToAct().IsZero() {
			t.Errorf("reservation %d: TimeToAct() of a refused reservation = %v; want the zero Time", i, r.TimeToAct())
		}
	}
	var zero Reservation
	if zero.OK() || zero.DelayFrom(t0) != 0 || !zero.TimeToAct().IsZero() {
		t.Errorf("the zero Reservation is ok %v delay %v; want not ok, no delay", zero.OK(), zero.DelayFrom(t0))
	}
	zero.CancelAt(t0) // must not panic
}

func TestReservationCancel(t *testing.T) {
	type op struct {
		at     time.Duration
		n      int // > 0: reserve n; 0: cancel reservation idx
		idx    int // which reservation to cancel
		tokens float64
	}
	ms := time.Millisecond
	tests := []struct {
		name  string
		burst int
		ops   []op
	}{
		{"the only reservation comes back", 2, []op{
			{0, 2, 0, 0}, {0, 1, 0, -1}, {50 * ms, 0, 1, 0.5},
		}},
		{"not once it is due", 2, []op{
			{0, 2, 0, 0}, {0, 1, 0, -1}, {150 * ms, 0, 1, 0.5},
		}},
		{"due exactly now still comes back", 2, []op{
			{0, 2, 0, 0}, {0, 1, 0, -1}, {100 * ms, 0, 1, 1},
		}},
		{"not when a later grant is in effect", 2, []op{
			{0, 2, 0, 0}, {0, 1, 0, -1}, {0, 1, 0, -2}, {0, 0, 1, -2},
		}},
		{"in reverse order, both come back", 2, []op{
			{0, 2, 0, 0}, {0, 1, 0, -1}, {0, 1, 0, -2}, {0, 0, 2, -1}, {0, 0, 1, 0},
		}},
		{"once only", 2, []op{
			{0, 1, 0, 1}, {0, 1, 0, 0}, {0, 0, 1, 1}, {0, 1, 0, 0}, {0, 0, 1, 0},
		}},
		{"an immediate grant comes back too", 2, []op{
			{0, 2, 0, 0}, {0, 0, 0, 2},
		}},
		// The sequence a random search found to exceed the rate when tokens
		// were given back out of order: here the out-of-order cancels give
		// nothing back, and the last reservation waits its turn.
		{"out of order gives nothing back", 3, []op{
			{0, 2, 0, 1}, {0, 0, 0, 3}, {0, 1, 0, 2}, {0, 3, 0, -1}, {0, 1, 0, -2},
			{0, 0, 2, -2}, {0, 0, 1, -2}, {0, 3, 0, -5},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := MustNew(Config{RequestsPerSecond: 10, Burst: tt.burst})
			var rs []*Reservation
			for i, o := range tt.ops {
				now := t0.Add(o.at)
				if o.n > 0 {
					rs = append(rs, l.ReserveN(now, o.n))
				} else {
					rs[o.idx].CancelAt(now)
				}
				if got := l.TokensAt(now); got != o.tokens {
					t.Fatalf("op %d: TokensAt(t0+%v) = %v; want %v", i, o.at, got, o.tokens)
				}
			}
		})
	}
}

func TestReserveAndCancelNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := MustNew(Config{RequestsPerSecond: 2, Burst: 1})
		if d := l.Reserve().Delay(); d != 0 {
			t.Fatalf("first Reserve().Delay() = %v; want 0", d)
		}
		r := l.Reserve()
		if d := r.Delay(); d != 500*time.Millisecond {
			t.Fatalf("second Reserve().Delay() = %v; want 500ms", d)
		}
		time.Sleep(200 * time.Millisecond)
		if d := r.Delay(); d != 300*time.Millisecond {
			t.Fatalf("Delay() 200ms later = %v; want 300ms", d)
		}
		r.Cancel()
		if got := l.Tokens(); got != 0.4 {
			t.Fatalf("Tokens() after Cancel = %v; want 0.4", got)
		}
	})
}
