package toxic

// noop passes its stream through unchanged. It is Toxiproxy's noop toxic:
// clients use it to check that a proxy takes toxics, and Toxiproxy's own
// client tests add one. It has no attributes.
type noop struct{}

func parseNoop(*attrs) any { return &noop{} }

func (t *noop) Pipe(s *Stub) {
	for {
		c, ok := s.Recv()
		if !ok || !s.Send(c) {
			return
		}
	}
}
