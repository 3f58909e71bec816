package toxic

// blackhole makes the proxy accept connections and never answer, as a
// route into nowhere would: a new connection it hits is never forwarded
// upstream (its bytes are read and dropped, and it stays open until the
// client gives up); on an open connection, data in both streams is dropped
// from then on. It acts on whole connections, so its stream does not matter.
// It has no attributes.
type blackhole struct{}

func parseBlackhole(*attrs) any { return &blackhole{} }

func (t *blackhole) Pipe(s *Stub) {
	for {
		if _, ok := s.Recv(); !ok {
			return
		}
	}
}
