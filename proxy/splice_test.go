package proxy

import (
	"io"
	"net"
	"testing"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if b, err = ln.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestSpliceEndsWhenTheClientSideIsClosedUnderIt(t *testing.T) {
	// A shutdown whose time is up closes an upgraded client connection:
	// the session ends with it, though the upstream never sends or
	// closes.
	_, cc := tcpPair(t)      // the proxy's end of the client's connection
	uc, silent := tcpPair(t) // the proxy's end of the upstream's; silent never answers
	done := make(chan struct{})
	go func() {
		splice(cc, cc, uc, 0)
		close(done)
	}()
	cc.Close()
	h1Recv(t, done, "the session to end")
	if _, err := silent.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the upstream read %v; want EOF, its connection closed", err)
	}
}

func TestSpliceHalfClosesOnTheClientsEnd(t *testing.T) {
	// A client that ends its side (FIN) still gets what the upstream sends
	// after.
	client, cc := tcpPair(t)
	uc, up := tcpPair(t)
	go splice(cc, cc, uc, 0)
	client.(*net.TCPConn).CloseWrite()
	if _, err := up.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the upstream read %v; want EOF, the client's end passed on", err)
	}
	io.WriteString(up, "last words")
	up.Close()
	got, err := io.ReadAll(client)
	if err != nil || string(got) != "last words" {
		t.Fatalf("the client got %q, %v; want the upstream's last words", got, err)
	}
}
