package toxic

import (
	"io"
	"net"
	"syscall"
	"testing"
)

// TestRawCopyCarriesTCP: both links of a TCP connection have the Linux
// fast path, and carry data with it.
func TestRawCopyCarriesTCP(t *testing.T) {
	up, _ := echoUpstream(t)
	s, p := e2eProxy(t, protoTCP, up)
	c := e2eDial(t, p.Listen)
	c.Write([]byte("ping"))
	if got, err := io.ReadAll(io.LimitReader(c, 4)); err != nil || string(got) != "ping" {
		t.Fatalf("read %q, %v; want the echo", got, err)
	}
	for _, l := range openConn(t, s, "e2e").links {
		if l.raw == nil {
			t.Errorf("the %v link has no fast path; want one between TCP connections", l.dir)
		}
	}
}

func TestNewRawCopyNeedsTCP(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	p := newProxy(MustNewServer(Config{}), ProxySpec{Name: "pipe", Protocol: protoTCP})
	if l := newLink(newConn(p, a), upstream, a, b); l.raw != nil {
		t.Fatalf("a link over net.Pipe has a fast path; want the plain loop")
	}
}

// TestRawCopyReadsPastAnUrgentMark: a read stops short at TCP urgent data
// with more bytes queued behind it, so a short read does not mean the
// socket is empty, and the fast path must read on until EAGAIN rather than
// wait for the peer's next segment, which never comes here. The urgent byte
// itself is not part of the stream (no SO_OOBINLINE), as on the plain path.
func TestRawCopyReadsPastAnUrgentMark(t *testing.T) {
	up, _ := echoUpstream(t)
	_, p := e2eProxy(t, protoTCP, up)
	c := e2eDial(t, p.Listen)
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		// "ab" and the urgent "c", then "de" right behind: both usually
		// sit in the proxy's receive queue by the time it reads.
		var serr error
		if err := rc.Write(func(fd uintptr) bool {
			serr = syscall.Sendto(int(fd), []byte("abc"), syscall.MSG_OOB, nil)
			return true
		}); err != nil || serr != nil {
			t.Fatalf("send urgent: %v, %v", err, serr)
		}
		if _, err := c.Write([]byte("de")); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 4)
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "abde" {
			t.Fatalf("trip %d: read %q, %v; want \"abde\"", i, got, err)
		}
	}
}
