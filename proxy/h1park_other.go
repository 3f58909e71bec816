//go:build !linux

package proxy

// parker is Linux's (h1park_linux.go): elsewhere idle connections keep
// their goroutine.
type parker struct{}

func theParker() *parker                         { return nil }
func (*parker) park(*h1Conn, int) (uint64, bool) { return 0, false }
func (*parker) unregister(uint64, int)           {}
