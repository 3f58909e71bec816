package toxic

// limitData passes the first bytes bytes of its stream and then closes the
// connection. Attribute: bytes.
type limitData struct {
	Bytes int64 `json:"bytes"`
}

func parseLimitData(a *attrs) any {
	return &limitData{Bytes: a.integer("bytes", 0, 0, maxBytes)}
}

func (t *limitData) Pipe(s *Stub) {
	sent := s.State(func() any { return new(int64) }).(*int64)
	for {
		c, ok := s.Recv()
		if !ok {
			return
		}
		if left := t.Bytes - *sent; int64(len(c.Data)) > left {
			c.Data = c.Data[:max(left, 0)]
		}
		if len(c.Data) > 0 {
			if !s.Send(c) {
				return
			}
			*sent += int64(len(c.Data))
		}
		if *sent >= t.Bytes {
			s.Close()
			return
		}
	}
}
