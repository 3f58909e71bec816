package toxic

import "time"

// resetPeer resets the connection (TCP RST, "connection reset by peer")
// timeout milliseconds after the first data, or the end of the stream,
// arrives in its stream; data in between is dropped. Attribute: timeout.
type resetPeer struct {
	Timeout int64 `json:"timeout"`
}

func parseResetPeer(a *attrs) any { return &resetPeer{Timeout: a.millis("timeout")} }

// resetState remembers when the first data was seen, across rebuilt chains.
type resetState struct{ armed time.Time }

func (t *resetPeer) Pipe(s *Stub) {
	st := s.State(func() any { return new(resetState) }).(*resetState)
	if st.armed.IsZero() {
		if _, ok := s.Recv(); !ok && s.Interrupted() {
			return
		}
		st.armed = time.Now()
	}
	deadline := st.armed.Add(time.Duration(t.Timeout) * time.Millisecond)
	for !s.EOF() {
		_, ok, expired := s.RecvWithin(time.Until(deadline))
		if expired {
			break
		}
		if !ok && s.Interrupted() {
			return
		}
	}
	if !s.Sleep(time.Until(deadline)) {
		return
	}
	s.Reset()
}
