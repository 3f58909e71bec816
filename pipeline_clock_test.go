package holdfast

import (
	"testing"
	"testing/synctest"
	"time"
)

// TestCoarseClockShared checks the clock policies get outside a bubble: the
// shared coarse one, never ahead of the system clock.
func TestCoarseClockShared(t *testing.T) {
	c := NewCoarseClock()
	if !c.Coarse() {
		t.Fatal("Coarse() = false outside a synctest bubble; want true")
	}
	prev := time.Duration(0)
	for i := range 1000 {
		got := c.Since()
		exact := time.Since(c.Base())
		if got < prev || got > exact {
			t.Fatalf("read %d: Since() = %v after %v, with time.Since(base) = %v; want between", i, got, prev, exact)
		}
		prev = got
	}
}

// TestCoarseClockInBubble checks that a clock made in a synctest bubble reads
// the virtual time exactly.
func TestCoarseClockInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewCoarseClock()
		if c.Coarse() {
			t.Fatal("Coarse() = true in a synctest bubble; want false")
		}
		for _, d := range []time.Duration{0, time.Nanosecond, 300 * time.Microsecond, time.Second} {
			time.Sleep(d)
			if got, want := c.Since(), time.Since(c.Base()); got != want {
				t.Errorf("Since() = %v; want %v", got, want)
			}
		}
	})
}

// TestCoarseClockTicks runs a coarse clock of its own in a bubble, where its
// ticker ticks in virtual time: while read, it is at most a tick behind and
// never ahead; unread for coarseIdleTicks ticks, it stops; the next read is
// exact and starts it again; readings never go backwards.
func TestCoarseClockTicks(t *testing.T) {
	const tick = time.Millisecond
	synctest.Test(t, func(t *testing.T) {
		c := newCoarseClock()
		quit := make(chan struct{})
		done := make(chan struct{})
		go func() { c.run(tick, quit); close(done) }()
		synctest.Wait()
		var last int64
		read := func(step string) (got, exact int64) {
			t.Helper()
			got, exact = c.now(), int64(time.Since(c.origin))
			if got < last {
				t.Fatalf("%s: reading %v after %v; want no step back", step, time.Duration(got), time.Duration(last))
			}
			if got > exact {
				t.Fatalf("%s: reading %v ahead of the time %v", step, time.Duration(got), time.Duration(exact))
			}
			last = got
			return got, exact
		}

		// In use: read every 300µs for 20ms.
		for range 66 {
			time.Sleep(300 * time.Microsecond)
			if got, exact := read("in use"); exact-got > int64(tick) {
				t.Fatalf("in use: reading %v, %v behind the time; want at most %v", time.Duration(got), time.Duration(exact-got), tick)
			}
		}
		if !c.running() {
			t.Fatal("running = false while in use; want true")
		}

		// Idle: the ticker stops after coarseIdleTicks ticks without reads.
		time.Sleep(coarseIdleTicks*tick + tick/2)
		synctest.Wait()
		if c.running() {
			t.Fatalf("running = true after %d idle ticks; want false", coarseIdleTicks)
		}
		time.Sleep(time.Hour)
		if got, exact := read("stopped"); got != exact {
			t.Fatalf("stopped: reading %v; want the exact time %v", time.Duration(got), time.Duration(exact))
		}
		synctest.Wait() // the read woke the ticker
		if !c.running() {
			t.Fatal("running = false after a read of a stopped clock; want true")
		}
		time.Sleep(tick / 3)
		if got, exact := read("restarted"); exact-got > int64(tick) {
			t.Fatalf("restarted: reading %v behind; want at most %v", time.Duration(exact-got), tick)
		}

		close(quit)
		<-done
	})
}

// BenchmarkClock compares a read of the coarse clock with the system
// clock's.
func BenchmarkClock(b *testing.B) {
	c := NewCoarseClock()
	b.Run("coarse", func(b *testing.B) {
		for b.Loop() {
			_ = c.Since()
		}
	})
	b.Run("time.Since", func(b *testing.B) {
		base := c.Base()
		for b.Loop() {
			_ = time.Since(base)
		}
	})
	b.Run("time.Now", func(b *testing.B) {
		for b.Loop() {
			_ = time.Now()
		}
	})
}
