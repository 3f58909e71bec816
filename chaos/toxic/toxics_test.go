package toxic

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestLatencyDelaysEachChunkFromItsArrival(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := runToxic(t, mustToxic(t, "latency", `{"latency": 100}`))
		start := time.Now()
		h.send("a")
		time.Sleep(30 * time.Millisecond)
		h.send("b") // arrives 30ms later, so leaves 30ms after a
		if got, _ := h.recv(t); got != "a" || time.Since(start) != 100*time.Millisecond {
			t.Fatalf("first chunk %q at %v; want \"a\" at 100ms", got, time.Since(start))
		}
		if got, _ := h.recv(t); got != "b" || time.Since(start) != 130*time.Millisecond {
			t.Fatalf("second chunk %q at %v; want \"b\" at 130ms, not 100ms after the first", got, time.Since(start))
		}
		close(h.in)
		<-h.done
		if h.stub.interrupted || !h.stub.eof {
			t.Fatalf("after input end: interrupted=%v eof=%v; want a clean end", h.stub.interrupted, h.stub.eof)
		}
	})
}

func TestLatencyJitterStaysInRange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := runToxic(t, mustToxic(t, "latency", `{"latency": 100, "jitter": 20}`))
		for i := 0; i < 50; i++ {
			h.send("x")
			_, d := h.recv(t)
			if d < 80*time.Millisecond || d > 120*time.Millisecond {
				t.Fatalf("delay %v; want within 100ms ± 20ms", d)
			}
		}
		close(h.in)
		<-h.done
	})
}

func TestLatencyInterruptKeepsHeldChunk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := runToxic(t, mustToxic(t, "latency", `{"latency": 1000}`))
		h.send("held")
		time.Sleep(10 * time.Millisecond)
		close(h.stop)
		<-h.done
		if len(h.stub.held) != 1 || string(h.stub.held[0].Data) != "held" {
			t.Fatalf("held after interrupt = %v; want the chunk being delayed", h.stub.held)
		}
	})
}

func TestBandwidthPacesExactly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 10 KB/s: 1000 bytes take 100ms; a 2500-byte chunk goes out in
		// pieces of at most 100ms worth.
		h := runToxic(t, mustToxic(t, "bandwidth", `{"rate": 10}`))
		h.in <- Chunk{Data: make([]byte, 2500), Time: time.Now()}
		want := []struct {
			n int
			d time.Duration
		}{{1000, 100 * time.Millisecond}, {1000, 100 * time.Millisecond}, {500, 50 * time.Millisecond}}
		for i, w := range want {
			got, d := h.recv(t)
			if len(got) != w.n || d != w.d {
				t.Fatalf("piece %d: %d bytes after %v; want %d after %v", i, len(got), d, w.n, w.d)
			}
		}
		close(h.in)
		<-h.done
	})
}

func TestBandwidthZeroHoldsUntilInterrupted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := runToxic(t, mustToxic(t, "bandwidth", `{"rate": 0}`))
		h.send("a")
		h.send("b")
		time.Sleep(time.Hour)
		if got := h.collect(); got != "" {
			t.Fatalf("rate 0 let %q through; want nothing", got)
		}
		close(h.stop)
		<-h.done
		if len(h.stub.held) != 2 {
			t.Fatalf("held = %d chunks; want both handed to the next chain", len(h.stub.held))
		}
	})
}

func TestSlowCloseDelaysTheEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := runToxic(t, mustToxic(t, "slow_close", `{"delay": 250}`))
		h.send("data")
		if got, d := h.recv(t); got != "data" || d != 0 {
			t.Fatalf("got %q after %v; want data at once", got, d)
		}
		start := time.Now()
		close(h.in)
		<-h.done
		if d := time.Since(start); d != 250*time.Millisecond {
			t.Fatalf("end passed on after %v; want 250ms", d)
		}
	})
}

func TestTimeoutDropsThenCloses(t *testing.T) {
	tests := []struct {
		attrs     string
		wantClose time.Duration // 0: never closes
	}{
		{`{"timeout": 500}`, 500 * time.Millisecond},
		{`{"timeout": 0}`, 0},
	}
	for _, tt := range tests {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			h := runToxic(t, mustToxic(t, "timeout", tt.attrs))
			h.send("lost")
			if tt.wantClose == 0 {
				time.Sleep(24 * time.Hour)
				synctest.Wait()
				if h.finished() || h.collect() != "" {
					t.Fatalf("%s: finished=%v; want data dropped and the toxic still running", tt.attrs, h.finished())
				}
				close(h.stop)
				<-h.done
				return
			}
			<-h.done
			if d := time.Since(start); d != tt.wantClose || h.stub.end != endClose || h.collect() != "" {
				t.Fatalf("%s: closed after %v with end %d; want a close after %v and no data", tt.attrs, d, h.stub.end, tt.wantClose)
			}
		})
	}
}

func TestTimeoutKeepsItsClockAcrossChains(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tx := mustToxic(t, "timeout", `{"timeout": 500}`)
		h := runToxic(t, tx)
		time.Sleep(300 * time.Millisecond)
		close(h.stop) // a rebuilt chain: the same state, a new stub
		<-h.done
		h2 := &harness{in: make(chan Chunk), out: make(chan Chunk, 1), stop: make(chan struct{}), done: make(chan struct{})}
		h2.stub = &Stub{input: h2.in, output: h2.out, stop: h2.stop, state: &h.state}
		start := time.Now()
		go func() { defer close(h2.done); tx.Pipe(h2.stub) }()
		<-h2.done
		if d := time.Since(start); d != 200*time.Millisecond {
			t.Fatalf("second chain closed after %v; want the remaining 200ms", d)
		}
	})
}

func TestResetPeerAfterFirstData(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := runToxic(t, mustToxic(t, "reset_peer", `{"timeout": 100}`))
		time.Sleep(time.Second) // idle: nothing happens
		synctest.Wait()
		if h.finished() {
			t.Fatalf("reset_peer acted before any data")
		}
		start := time.Now()
		h.send("x")
		h.send("y")
		<-h.done
		if d := time.Since(start); d != 100*time.Millisecond || h.stub.end != endReset || h.collect() != "" {
			t.Fatalf("ended after %v with end %d; want a reset 100ms after the first data, data dropped", d, h.stub.end)
		}
	})
}

func TestSlicerCutsAndSpaces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := runToxic(t, mustToxic(t, "slicer", `{"average_size": 4, "size_variation": 0, "delay": 1000}`))
		h.send("abcdefghij")
		var parts []string
		var gaps []time.Duration
		for i := 0; i < 3; i++ {
			s, d := h.recv(t)
			parts = append(parts, s)
			gaps = append(gaps, d)
		}
		if strings.Join(parts, "|") != "abcd|efgh|ij" || gaps[1] != time.Millisecond || gaps[2] != time.Millisecond {
			t.Fatalf("pieces %v with gaps %v; want abcd|efgh|ij 1ms apart", parts, gaps)
		}
		close(h.in)
		<-h.done
	})
}

func TestSlicerVariationBounds(t *testing.T) {
	tests := []struct {
		avg, variation int
		lo, hi         int // bounds of every piece but the last
	}{
		{10, 3, 7, 13},
		{4, 4, 1, 8}, // a variation equal to the size: pieces are never empty
		{1, 1, 1, 2},
	}
	for _, tt := range tests {
		synctest.Test(t, func(t *testing.T) {
			attrs := fmt.Sprintf(`{"average_size": %d, "size_variation": %d}`, tt.avg, tt.variation)
			h := runToxic(t, mustToxic(t, "slicer", attrs))
			data := make([]byte, 1000)
			for i := range data {
				data[i] = byte(i)
			}
			h.in <- Chunk{Data: data, Time: time.Now()}
			var got []byte
			for len(got) < len(data) {
				s, _ := h.recv(t)
				if len(got)+len(s) < len(data) && (len(s) < tt.lo || len(s) > tt.hi) {
					t.Fatalf("%s: piece of %d bytes; want %d-%d", attrs, len(s), tt.lo, tt.hi)
				}
				got = append(got, s...)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("%s: pieces joined differ from the input", attrs)
			}
			close(h.in)
			<-h.done
		})
	}
}

func TestLimitDataCountsAcrossChains(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tx := mustToxic(t, "limit_data", `{"bytes": 5}`)
		h := runToxic(t, tx)
		h.send("abc")
		if got, _ := h.recv(t); got != "abc" {
			t.Fatalf("got %q; want abc", got)
		}
		synctest.Wait()
		close(h.stop)
		<-h.done
		h2 := &harness{in: make(chan Chunk, 1), out: make(chan Chunk, 4), stop: make(chan struct{}), done: make(chan struct{})}
		h2.stub = &Stub{input: h2.in, output: h2.out, stop: h2.stop, state: &h.state}
		go func() { defer close(h2.done); tx.Pipe(h2.stub) }()
		h2.send("defgh")
		<-h2.done
		if got := h2.collect(); got != "de" || h2.stub.end != endClose {
			t.Fatalf("second chain passed %q with end %d; want the last 2 bytes then a close", got, h2.stub.end)
		}
	})
}

func TestNoopPassesEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := runToxic(t, mustToxic(t, "noop", ""))
		start := time.Now()
		h.send("one")
		h.send("two")
		if a, _ := h.recv(t); a != "one" {
			t.Fatalf("first chunk %q; want one", a)
		}
		if b, _ := h.recv(t); b != "two" || time.Since(start) != 0 {
			t.Fatalf("second chunk %q after %v; want two at once", b, time.Since(start))
		}
		close(h.in)
		<-h.done
		if h.stub.end != endEOF {
			t.Fatalf("end %d; want the input's end passed on", h.stub.end)
		}
	})
}

func TestBlackholeSwallowsAndPartitionResets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := runToxic(t, &blackhole{})
		h.send("gone")
		synctest.Wait()
		if h.collect() != "" || h.finished() {
			t.Fatalf("blackhole passed data or stopped")
		}
		close(h.in)
		<-h.done

		p := runToxic(t, &partition{})
		<-p.done
		if p.stub.end != endReset {
			t.Fatalf("partition end = %d; want a reset", p.stub.end)
		}
	})
}

func TestStubSendAfterInterruptKeepsOrder(t *testing.T) {
	stop := make(chan struct{})
	close(stop)
	s := &Stub{output: make(chan Chunk), stop: stop}
	if s.Send(Chunk{Data: []byte("1")}) || s.Send(Chunk{Data: []byte("2")}) {
		t.Fatalf("Send on an interrupted stub = true; want false")
	}
	if len(s.held) != 2 || string(s.held[0].Data) != "1" || string(s.held[1].Data) != "2" {
		t.Fatalf("held = %v; want 1, 2 in order", s.held)
	}
	if s.Sleep(time.Hour) || !s.Interrupted() {
		t.Fatalf("Sleep on an interrupted stub = true; want false")
	}
}

func TestStubPrefixComesFirst(t *testing.T) {
	in := make(chan Chunk, 1)
	in <- Chunk{Data: []byte("new")}
	s := &Stub{prefix: []Chunk{{Data: []byte("old")}}, input: in, stop: make(chan struct{})}
	a, _ := s.Recv()
	b, _, _ := s.RecvWithin(0)
	if string(a.Data) != "old" || string(b.Data) != "new" {
		t.Fatalf("got %q then %q; want old then new", a.Data, b.Data)
	}
	if _, ok, timedOut := s.RecvWithin(0); ok || !timedOut {
		t.Fatalf("RecvWithin(0) on an empty input: ok=%v timedOut=%v; want a timeout", ok, timedOut)
	}
}
