package toxic

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// pipeRig is one proxied connection over in-memory pipes:
// app <-> [client side | links | upstream side] <-> backend.
type pipeRig struct {
	p       *proxy
	c       *conn
	app     net.Conn // what the client program holds
	backend net.Conn // what the upstream server holds
}

// newPipeRig must run inside a synctest bubble.
func newPipeRig(t *testing.T) *pipeRig {
	t.Helper()
	s := MustNewServer(Config{})
	p := newProxy(s, ProxySpec{Name: "pipe", Protocol: protoTCP})
	app, clientSide := net.Pipe()
	upSide, backend := net.Pipe()
	c := newConn(p, clientSide)
	c.upstream = upSide
	c.links = []*link{newLink(c, upstream, clientSide, upSide), newLink(c, downstream, upSide, clientSide)}
	c.active.Store(2)
	p.conns[c] = struct{}{}
	for _, l := range c.links {
		go l.run()
	}
	t.Cleanup(func() {
		c.teardown(false)
		app.Close()
		backend.Close()
	})
	return &pipeRig{p: p, c: c, app: app, backend: backend}
}

func (r *pipeRig) add(t *testing.T, body string) {
	t.Helper()
	var in toxicInput
	if err := decodeJSON([]byte(body), &in, "toxic"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.p.addToxic(in.spec()); err != nil {
		t.Fatalf("addToxic(%s): %v", body, err)
	}
}

// downstreamTrip sends msg from the backend and returns how long the app
// waited for it.
func (r *pipeRig) downstreamTrip(t *testing.T, msg string) time.Duration {
	t.Helper()
	start := time.Now()
	go r.backend.Write([]byte(msg))
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(r.app, got); err != nil || string(got) != msg {
		t.Fatalf("app read %q, %v; want %q", got, err, msg)
	}
	return time.Since(start)
}

func TestLinkAppliesToxicsToOpenConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newPipeRig(t)
		if d := r.downstreamTrip(t, "direct"); d != 0 {
			t.Fatalf("no toxics: %v; want 0", d)
		}
		r.add(t, `{"name":"lag","type":"latency","attributes":{"latency":100}}`)
		if d := r.downstreamTrip(t, "slow"); d != 100*time.Millisecond {
			t.Fatalf("after adding latency: %v; want 100ms", d)
		}
		if _, err := r.p.updateToxic("lag", []byte(`{"attributes":{"latency":250}}`)); err != nil {
			t.Fatal(err)
		}
		if d := r.downstreamTrip(t, "slower"); d != 250*time.Millisecond {
			t.Fatalf("after raising latency: %v; want 250ms", d)
		}
		if err := r.p.removeToxic("lag"); err != nil {
			t.Fatal(err)
		}
		if d := r.downstreamTrip(t, "fast"); d != 0 {
			t.Fatalf("after removing latency: %v; want 0", d)
		}
		// The upstream direction was never slowed.
		start := time.Now()
		go r.app.Write([]byte("up"))
		io.ReadFull(r.backend, make([]byte, 2))
		if d := time.Since(start); d != 0 {
			t.Fatalf("upstream trip %v; want 0", d)
		}
	})
}

// TestLinkKeepsEveryByteInOrderAcrossChanges streams numbered records while
// toxics come and go, and checks that nothing is lost, duplicated or
// reordered when chains are replaced mid-stream.
func TestLinkKeepsEveryByteInOrderAcrossChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newPipeRig(t)
		var want bytes.Buffer
		for i := 0; i < 300; i++ {
			fmt.Fprintf(&want, "%04d;", i)
		}
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			b := want.Bytes()
			for i := 0; i < len(b); i += 5 {
				time.Sleep(time.Millisecond)
				r.backend.Write(b[i : i+5])
			}
		}()
		got := make(chan []byte)
		go func() {
			buf := make([]byte, want.Len())
			n, _ := io.ReadFull(r.app, buf)
			got <- buf[:n]
		}()
		steps := []func(){
			func() { r.add(t, `{"name":"lag","type":"latency","attributes":{"latency":20,"jitter":5}}`) },
			func() {
				r.add(t, `{"name":"cut","type":"slicer","attributes":{"average_size":2,"size_variation":1,"delay":300}}`)
			},
			func() { r.p.removeToxic("lag") },
			func() { r.p.updateToxic("cut", []byte(`{"attributes":{"average_size":3}}`)) },
			func() { r.add(t, `{"name":"bw","type":"bandwidth","attributes":{"rate":2}}`) },
			func() { r.p.removeToxic("cut") },
			func() { r.add(t, `{"name":"hold","type":"bandwidth","attributes":{"rate":0}}`) },
			func() { r.p.removeToxic("hold") },
			func() { r.p.removeToxic("bw") },
		}
		for _, step := range steps {
			time.Sleep(25 * time.Millisecond)
			step()
		}
		<-wrote
		if b := <-got; !bytes.Equal(b, want.Bytes()) {
			t.Fatalf("stream changed across toxic changes:\ngot  %q\nwant %q", b, want.Bytes())
		}
	})
}

func TestLinkLimitDataClosesAfterTheBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newPipeRig(t)
		r.add(t, `{"type":"limit_data","attributes":{"bytes":5}}`)
		go r.backend.Write([]byte("0123456789"))
		got, _ := io.ReadAll(r.app)
		if string(got) != "01234" {
			t.Fatalf("app read %q; want the first 5 bytes then the end", got)
		}
		<-r.c.done
	})
}

func TestLinkResetTearsDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newPipeRig(t)
		r.add(t, `{"type":"reset_peer","attributes":{"timeout":50}}`)
		start := time.Now()
		go r.backend.Write([]byte("x"))
		<-r.c.done
		if d := time.Since(start); d != 50*time.Millisecond {
			t.Fatalf("connection torn down after %v; want 50ms", d)
		}
		if _, err := r.app.Read(make([]byte, 1)); err == nil {
			t.Fatalf("app read succeeded after the reset")
		}
	})
}

func TestLinkPartitionCutsOpenConnections(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newPipeRig(t)
		r.downstreamTrip(t, "ok")
		r.add(t, `{"type":"partition"}`)
		<-r.c.done
		synctest.Wait()
		r.p.mu.Lock()
		n := len(r.p.conns)
		r.p.mu.Unlock()
		if n != 0 {
			t.Fatalf("proxy still tracks %d connections after the partition", n)
		}
	})
}

func TestLinkToxicityRolledOncePerConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newPipeRig(t)
		r.add(t, `{"name":"never","type":"latency","toxicity":0,"attributes":{"latency":100}}`)
		for i := 0; i < 3; i++ {
			if d := r.downstreamTrip(t, "x"); d != 0 {
				t.Fatalf("toxicity 0 delayed a trip by %v", d)
			}
		}
		// An update re-rolls, as in Toxiproxy.
		r.p.updateToxic("never", []byte(`{"toxicity":1}`))
		if d := r.downstreamTrip(t, "x"); d != 100*time.Millisecond {
			t.Fatalf("after raising toxicity to 1: %v; want 100ms", d)
		}
	})
}
