package toxic

// partition cuts the proxy off: new connections it hits are reset as soon
// as they are accepted (the client sees "connection reset by peer", as a
// firewall rejecting with a TCP reset shows it) and open connections it hits
// are reset at once. It acts on whole connections, so its stream does not
// matter. It has no attributes.
type partition struct{}

func parsePartition(*attrs) any { return &partition{} }

func (t *partition) Pipe(s *Stub) { s.Reset() }
