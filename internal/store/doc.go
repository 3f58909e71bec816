// Package store opens the NATS JetStream that durable routes and
// idempotency records keep their state in: an embedded server in this
// process (its file store under a data directory, every write synced to
// disk before it is acknowledged, no port opened; the client reaches it
// in process), or an external JetStream cluster that a fleet of proxies
// shares.
//
//	s, err := store.Open(store.Config{DataDir: "./holdfast-data"})
//	if err != nil { ... }
//	defer s.Close()
//	js := s.JetStream()
package store
