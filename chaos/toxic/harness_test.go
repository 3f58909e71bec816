package toxic

import (
	"encoding/json"
	"os"
	"testing"
	"time"
)

// harness runs one toxic on a stub joined to test channels, inside a
// synctest bubble.
type harness struct {
	in    chan Chunk
	out   chan Chunk
	stop  chan struct{}
	stub  *Stub
	done  chan struct{}
	state any
}

func runToxic(t *testing.T, tx Toxic) *harness {
	t.Helper()
	h := &harness{
		in:   make(chan Chunk, 16),
		out:  make(chan Chunk, 64),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	h.stub = &Stub{input: h.in, output: h.out, stop: h.stop, state: &h.state}
	go func() {
		defer close(h.done)
		tx.Pipe(h.stub)
	}()
	return h
}

// send feeds a chunk stamped now.
func (h *harness) send(s string) { h.in <- Chunk{Data: []byte(s), Time: time.Now()} }

// recv waits for the next output chunk and returns it with the time it
// took.
func (h *harness) recv(t *testing.T) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	c, ok := <-h.out
	if !ok {
		t.Fatalf("output closed; want a chunk")
	}
	return string(c.Data), time.Since(start)
}

// finished reports whether Pipe has returned.
func (h *harness) finished() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// collect returns every chunk in out now, joined.
func (h *harness) collect() string {
	var s string
	for {
		select {
		case c := <-h.out:
			s += string(c.Data)
		default:
			return s
		}
	}
}

// mustToxic parses a TCP toxic from its type and attributes.
func mustToxic(t *testing.T, typ, attrs string) Toxic {
	t.Helper()
	e, err := newEntry(ToxicSpec{Type: typ, Toxicity: 1, Attributes: json.RawMessage(attrs)}, protoTCP)
	if err != nil {
		t.Fatalf("newEntry(%s %s): %v", typ, attrs, err)
	}
	return e.tcp
}

func durationOf(n int64) time.Duration { return time.Duration(n) }

var errDeadline = os.ErrDeadlineExceeded
