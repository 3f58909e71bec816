package toxic

import "time"

// slowClose passes data unchanged but delays the end of the stream (the
// peer's FIN) by delay milliseconds. Attribute: delay.
type slowClose struct {
	Delay int64 `json:"delay"`
}

func parseSlowClose(a *attrs) any { return &slowClose{Delay: a.millis("delay")} }

func (t *slowClose) Pipe(s *Stub) {
	for {
		c, ok := s.Recv()
		if !ok {
			if s.EOF() {
				s.Sleep(time.Duration(t.Delay) * time.Millisecond)
			}
			return
		}
		if !s.Send(c) {
			return
		}
	}
}
