package toxic

import "time"

// bandwidth passes data at no more than rate KB/s (1 KB = 1000 bytes, as in
// Toxiproxy), in pieces of at most 100 ms worth. A rate of 0 stops the
// stream: data is held until the toxic is removed. Attribute: rate.
type bandwidth struct {
	Rate int64 `json:"rate"`
}

func parseBandwidth(a *attrs) any {
	return &bandwidth{Rate: a.integer("rate", 0, 0, 1<<40)}
}

func (t *bandwidth) Pipe(s *Stub) {
	if t.Rate == 0 {
		t.stall(s)
		return
	}
	perSecond := time.Duration(t.Rate) * 1000
	piece := int(min(t.Rate*100, 1<<30))
	var due time.Time // when the bytes sent so far have "left the wire"
	for {
		c, ok := s.Recv()
		if !ok {
			return
		}
		data := c.Data
		for len(data) > 0 {
			n := min(len(data), piece)
			if now := time.Now(); due.Before(now) {
				due = now
			}
			due = due.Add(time.Duration(n) * time.Second / perSecond)
			if !s.Sleep(time.Until(due)) {
				s.Send(Chunk{Data: data, Time: c.Time})
				return
			}
			if !s.Send(Chunk{Data: data[:n], Time: c.Time}) {
				if n < len(data) {
					s.Send(Chunk{Data: data[n:], Time: c.Time})
				}
				return
			}
			data = data[n:]
		}
	}
}

// stall holds every chunk; on interruption they move on to the next chain,
// on end of input they are dropped with the stream.
func (t *bandwidth) stall(s *Stub) {
	var held []Chunk
	for {
		c, ok := s.Recv()
		if !ok {
			if s.Interrupted() {
				for _, h := range held {
					s.Send(h)
				}
			}
			return
		}
		held = append(held, c)
	}
}
