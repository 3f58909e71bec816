package toxic

import "time"

// timeout stops all data and, after timeout milliseconds, closes the
// connection. A timeout of 0 never closes it: data is dropped until the
// toxic is removed. Attribute: timeout.
type timeout struct {
	Timeout int64 `json:"timeout"`
}

func parseTimeout(a *attrs) any { return &timeout{Timeout: a.millis("timeout")} }

// timeoutState remembers when the toxic began on a connection, so a rebuilt
// chain does not restart the clock.
type timeoutState struct{ start time.Time }

func (t *timeout) Pipe(s *Stub) {
	st := s.State(func() any { return &timeoutState{start: time.Now()} }).(*timeoutState)
	if t.Timeout == 0 {
		for {
			if _, ok := s.Recv(); !ok {
				return
			}
		}
	}
	deadline := st.start.Add(time.Duration(t.Timeout) * time.Millisecond)
	for {
		_, ok, expired := s.RecvWithin(time.Until(deadline))
		if expired {
			s.Close()
			return
		}
		if !ok {
			return
		}
	}
}
