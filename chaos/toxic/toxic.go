package toxic

import (
	"time"
)

// Toxic is a fault on one direction (stream) of a TCP connection. Pipe moves
// data from the stub's input to its output, changing it on the way: delaying,
// dropping, slicing or cutting it. It returns when the input ends, when the
// toxic ends the stream itself ([Stub.Close], [Stub.Reset]), or when the stub
// is interrupted because the proxy's toxics changed.
//
// Toxics are chained in the order they were added; a connection runs its own
// chain, so a Toxic value is shared by every connection and must not keep
// per-connection state in its fields (use [Stub.State]).
//
// A toxic never blocks on anything but the stub's methods: they return false
// when the stub is interrupted, and the toxic then passes whatever data it
// holds to [Stub.Send] (which keeps it for the next chain) and returns.
type Toxic interface {
	Pipe(s *Stub)
}

// Chunk is one piece of a stream: the bytes one read returned, and when the
// proxy read them. Toxics that delay data count from Time, so a chunk that
// waited behind others, or moved to a new chain, is not delayed twice.
type Chunk struct {
	Data []byte
	Time time.Time
}

// end says how a stream stopped, in the order of precedence.
type end uint8

const (
	endEOF   end = iota // the source finished; half-close the destination
	endClose            // a toxic cut the connection (close both sides)
	endReset            // a toxic reset the connection (RST both sides)
)

// Stub connects one toxic to its neighbours in one direction of one
// connection. Its methods are for the toxic's Pipe goroutine only.
type Stub struct {
	prefix []Chunk // chunks left over from the previous chain, read before input
	input  <-chan Chunk
	output chan<- Chunk
	stop   <-chan struct{} // closed to interrupt the chain

	state *any // per-connection state of this toxic, kept across chains

	held        []Chunk // chunks passed to Send after the interruption
	interrupted bool
	eof         bool
	end         end
}

// Recv returns the next chunk of the stream. It returns false when the input
// has ended (see [Stub.EOF]) or the stub was interrupted.
func (s *Stub) Recv() (Chunk, bool) {
	if s.interrupted {
		return Chunk{}, false
	}
	if len(s.prefix) > 0 {
		c := s.prefix[0]
		s.prefix = s.prefix[1:]
		return c, true
	}
	select {
	case c, ok := <-s.input:
		if !ok {
			s.eof = true
		}
		return c, ok
	case <-s.stop:
		s.interrupted = true
		return Chunk{}, false
	}
}

// RecvWithin is [Stub.Recv] that also gives up after d; timedOut reports
// that case. A d <= 0 times out at once unless a chunk is ready.
func (s *Stub) RecvWithin(d time.Duration) (c Chunk, ok, timedOut bool) {
	if s.interrupted {
		return Chunk{}, false, false
	}
	if len(s.prefix) > 0 {
		c := s.prefix[0]
		s.prefix = s.prefix[1:]
		return c, true, false
	}
	if d <= 0 {
		select {
		case c, ok := <-s.input:
			s.eof = !ok
			return c, ok, false
		case <-s.stop:
			s.interrupted = true
			return Chunk{}, false, false
		default:
			return Chunk{}, false, true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case c, ok := <-s.input:
		s.eof = !ok
		return c, ok, false
	case <-s.stop:
		s.interrupted = true
		return Chunk{}, false, false
	case <-t.C:
		return Chunk{}, false, true
	}
}

// Send passes c to the next toxic. It returns false when the stub was
// interrupted; c is then kept, in order, and handed to the next chain, so no
// data is lost when toxics change.
func (s *Stub) Send(c Chunk) bool {
	if s.interrupted {
		s.held = append(s.held, c)
		return false
	}
	select {
	case s.output <- c:
		return true
	case <-s.stop:
		s.interrupted = true
		s.held = append(s.held, c)
		return false
	}
}

// Sleep waits for d. It returns false, early, when the stub is interrupted.
func (s *Stub) Sleep(d time.Duration) bool {
	if s.interrupted {
		return false
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.stop:
		s.interrupted = true
		return false
	}
}

// Close ends the stream the way a peer closing its socket would: data the toxic
// already sent still arrives, then the connection is closed on both sides.
// The rest of the input is discarded. The toxic returns after calling Close.
func (s *Stub) Close() {
	if s.end < endClose {
		s.end = endClose
	}
}

// Reset ends the connection at once with a TCP reset (RST) on both sides,
// as a crashed or firewalled peer would. The toxic returns after calling
// Reset.
func (s *Stub) Reset() { s.end = endReset }

// Interrupted reports whether the chain is being rebuilt; the toxic should
// return.
func (s *Stub) Interrupted() bool { return s.interrupted }

// EOF reports whether [Stub.Recv] found the end of the input.
func (s *Stub) EOF() bool { return s.eof }

// State returns this toxic's state for this connection and direction,
// creating it with newState on first use. The state outlives a rebuilt chain
// (when other toxics are added or removed), so a toxic such as limit_data keeps
// counting.
func (s *Stub) State(newState func() any) any {
	if *s.state == nil {
		*s.state = newState()
	}
	return *s.state
}
