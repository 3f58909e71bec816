package toxic

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// Tests of the counters the data path adds to, read by scraping /metrics.
//
// No test waits: each reads the counters only after the client has seen
// the proxy end its side (EOF), which every link does after its last count.

// drainThenReply is an upstream that reads each connection to its end, then
// writes reply bytes and closes. It returns its address and the bytes it
// read, summed over connections.
func drainThenReply(t *testing.T, reply int) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var read atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				n, _ := io.Copy(io.Discard, c)
				read.Add(n)
				c.Write(make([]byte, reply))
			}()
		}
	}()
	return ln.Addr().String(), &read
}

// push sends n bytes to addr, shuts its write side and reads until the
// proxy closes; it returns the bytes read.
func push(t *testing.T, addr string, n int) int64 {
	t.Helper()
	c := e2eDial(t, addr)
	if _, err := c.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.Copy(io.Discard, c)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// checkSeries scrapes url and compares each series with its value.
func checkSeries(t *testing.T, url string, want map[string]string) {
	t.Helper()
	body := scrape(t, url)
	for series, w := range want {
		if got, ok := value(body, series); !ok || got != w {
			t.Errorf("%s: got %q (present %v); want %s", series, got, ok, w)
		}
	}
}

func bytesSeries(name, dir string) string {
	return `holdfast_chaos_proxy_` + name + `_bytes_total{direction="` + dir + `",proxy="db"}`
}

func appliedSeries(toxic, typ string) string {
	return `holdfast_chaos_toxic_applied_total{proxy="db",toxic="` + toxic + `",type="` + typ + `"}`
}

// TestMetricsCountTCP pushes known byte counts through a TCP proxy both
// ways, on the fast path, through a chain of toxics and into a blackhole,
// and checks every counter.
func TestMetricsCountTCP(t *testing.T) {
	const (
		conns = 2
		sent  = 100_000 // by the client, per connection: several reads
		reply = 70_000  // by the upstream, once it has read everything
	)
	itoa := func(n int) string { return strconv.Itoa(n) }
	tests := []struct {
		name   string
		toxics []ToxicSpec
		// bytes that reach the upstream and come back, per connection
		through, back int
		applied       map[string]string // series -> value
	}{
		{
			name: "fast path", through: sent, back: reply,
		},
		{
			name: "chain",
			toxics: []ToxicSpec{
				{Name: "up", Type: "latency", Stream: "upstream", Toxicity: 1},
				{Name: "down", Type: "latency", Stream: "downstream", Toxicity: 1},
				{Name: "never", Type: "slicer", Stream: "downstream", Toxicity: 0, Attributes: []byte(`{"average_size": 1}`)},
			},
			through: sent, back: reply,
			applied: map[string]string{
				appliedSeries("up", "latency"):   itoa(conns),
				appliedSeries("down", "latency"): itoa(conns),
				appliedSeries("never", "slicer"): "0",
			},
		},
		{
			name:    "blackhole",
			toxics:  []ToxicSpec{{Name: "hole", Type: "blackhole", Toxicity: 1}},
			through: 0, back: 0,
			applied: map[string]string{appliedSeries("hole", "blackhole"): itoa(conns)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, upRead := drainThenReply(t, reply)
			s := newTestServer(t, Config{})
			api := httptest.NewServer(s)
			t.Cleanup(api.Close)
			p, err := s.CreateProxy(ProxySpec{Name: "db", Listen: "127.0.0.1:0", Upstream: up, Enabled: true, Toxics: tt.toxics})
			if err != nil {
				t.Fatal(err)
			}
			for range conns {
				if got := push(t, p.Listen, sent); got != int64(tt.back) {
					t.Fatalf("client read %d bytes; want %d", got, tt.back)
				}
			}
			if got := upRead.Load(); got != int64(conns*tt.through) {
				t.Fatalf("upstream read %d bytes; want %d", got, conns*tt.through)
			}
			want := map[string]string{
				`holdfast_chaos_proxy_connections_total{proxy="db"}`: itoa(conns),
				bytesSeries("received", "upstream"):                  itoa(conns * sent),
				bytesSeries("sent", "upstream"):                      itoa(conns * tt.through),
				bytesSeries("received", "downstream"):                itoa(conns * tt.back),
				bytesSeries("sent", "downstream"):                    itoa(conns * tt.back),
			}
			for k, v := range tt.applied {
				want[k] = v
			}
			checkSeries(t, api.URL, want)
		})
	}
}

// TestMetricsAppliedOnOpenConnection: a toxic added while a connection is
// open counts when that connection first rolls it, and again when an
// update re-rolls it; a toxic of another stream or a missed roll does not.
func TestMetricsAppliedOnOpenConnection(t *testing.T) {
	up, _ := echoUpstream(t)
	s := newTestServer(t, Config{})
	api := httptest.NewServer(s)
	t.Cleanup(api.Close)
	p, err := s.CreateProxy(ProxySpec{Name: "db", Listen: "127.0.0.1:0", Upstream: up, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	c := e2eDial(t, p.Listen)
	if !echoes(c, "one") {
		t.Fatal("no echo")
	}
	steps := []struct {
		do   func() error
		want string // applied for toxic lag
	}{
		{func() error {
			_, err := s.AddToxic("db", ToxicSpec{Name: "lag", Type: "latency", Stream: "downstream", Toxicity: 1})
			return err
		}, "1"},
		{func() error { // another toxic's change re-rolls nothing of lag
			_, err := s.AddToxic("db", ToxicSpec{Name: "off", Type: "latency", Toxicity: 0})
			return err
		}, "1"},
		{func() error {
			_, err := s.UpdateToxic("db", "lag", []byte(`{"attributes": {"jitter": 0}}`))
			return err
		}, "2"},
	}
	for i, st := range steps {
		if err := st.do(); err != nil {
			t.Fatal(err)
		}
		if !echoes(c, "two") {
			t.Fatalf("step %d: no echo", i)
		}
		want := map[string]string{appliedSeries("lag", "latency"): st.want}
		if i > 0 {
			want[appliedSeries("off", "latency")] = "0"
		}
		checkSeries(t, api.URL, want)
		if t.Failed() {
			t.Fatalf("after step %d", i)
		}
	}
}

// TestMetricsToxicRetyped: a toxic replaced (populate) by one of the same
// name and another type is exported under its new type only.
func TestMetricsToxicRetyped(t *testing.T) {
	s := newTestServer(t, Config{})
	api := httptest.NewServer(s)
	t.Cleanup(api.Close)
	spec := ProxySpec{Name: "db", Listen: "127.0.0.1:0", Upstream: "127.0.0.1:1", Enabled: false,
		Toxics: []ToxicSpec{{Name: "x", Type: "latency", Toxicity: 1}}}
	if _, err := s.Populate([]ProxySpec{spec}); err != nil {
		t.Fatal(err)
	}
	spec.Toxics = []ToxicSpec{{Name: "x", Type: "bandwidth", Toxicity: 1, Attributes: []byte(`{"rate": 1}`)}}
	if _, err := s.Populate([]ProxySpec{spec}); err != nil {
		t.Fatal(err)
	}
	body := scrape(t, api.URL)
	if _, ok := value(body, appliedSeries("x", "bandwidth")); !ok {
		t.Errorf("no applied series for x as bandwidth:\n%s", body)
	}
	if _, ok := value(body, appliedSeries("x", "latency")); ok {
		t.Errorf("x is still exported as latency:\n%s", body)
	}
}

// TestMetricsDeletedProxyStaysGone: counts into a deleted proxy's counters,
// and a toxic added through it after the deletion, do not bring its series
// back; a new proxy of the same name starts from 0.
func TestMetricsDeletedProxyStaysGone(t *testing.T) {
	up, _ := echoUpstream(t)
	s := newTestServer(t, Config{})
	api := httptest.NewServer(s)
	t.Cleanup(api.Close)
	if _, err := s.CreateProxy(ProxySpec{Name: "db", Listen: "127.0.0.1:0", Upstream: up, Enabled: true,
		Toxics: []ToxicSpec{{Name: "cut", Type: "limit_data", Toxicity: 1, Attributes: []byte(`{"bytes": 100}`)}}}); err != nil {
		t.Fatal(err)
	}
	p, err := s.get("db")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteProxy("db"); err != nil {
		t.Fatal(err)
	}
	// What a connection still open would do, and an API call that found
	// the proxy just before it was deleted.
	p.pc.connections.Inc()
	p.pc.received[upstream].Add(1)
	p.pc.sent[downstream].Add(1)
	for _, e := range p.snap.Load().dirs[downstream] {
		e.countApplied()
	}
	if _, err := p.addToxic(ToxicSpec{Name: "late", Type: "latency", Toxicity: 1}); err != nil {
		t.Fatal(err)
	}
	if body := scrape(t, api.URL); strings.Contains(body, `proxy="db"`) {
		t.Errorf("counts after DeleteProxy brought proxy db back:\n%s", body)
	}
	if _, err := s.CreateProxy(ProxySpec{Name: "db", Listen: "127.0.0.1:0", Upstream: up, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	checkSeries(t, api.URL, map[string]string{
		bytesSeries("received", "upstream"):                  "0",
		`holdfast_chaos_proxy_connections_total{proxy="db"}`: "0",
	})
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// rawBackend is an HTTP/1.1 upstream that counts the bytes it reads and
// writes, and keeps its connections alive.
func rawBackend(t *testing.T) (addr string, in, out *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	in, out = new(atomic.Int64), new(atomic.Int64)
	const resp = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npong"
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(countingReader{c, in})
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					n, _ := io.WriteString(c, resp)
					out.Add(int64(n))
				}
			}()
		}
	}()
	return ln.Addr().String(), in, out
}

// TestMetricsCountHTTP sends two requests on one client connection through
// an HTTP proxy and checks the bytes both sides saw, the connection and
// the toxics applied per request.
func TestMetricsCountHTTP(t *testing.T) {
	backend, backIn, backOut := rawBackend(t)
	s := newTestServer(t, Config{})
	api := httptest.NewServer(s)
	t.Cleanup(api.Close)
	p, err := s.CreateProxy(ProxySpec{Name: "db", Listen: "127.0.0.1:0", Upstream: backend, Protocol: "http", Enabled: true,
		Toxics: []ToxicSpec{
			{Name: "hold", Type: "http_delay", Stream: "upstream", Toxicity: 1, Attributes: []byte(`{"delay": 0}`)},
			{Name: "late", Type: "http_delay", Stream: "downstream", Toxicity: 1, Attributes: []byte(`{"delay": 0}`)},
			{Name: "never", Type: "http_status", Toxicity: 0},
		}})
	if err != nil {
		t.Fatal(err)
	}
	c := e2eDial(t, p.Listen)
	var clientRead atomic.Int64
	br := bufio.NewReader(countingReader{c, &clientRead})
	reqs := []string{
		"GET /a HTTP/1.1\r\nHost: svc\r\n\r\n",
		"GET /b HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n",
	}
	written := 0
	for _, req := range reqs {
		n, err := io.WriteString(c, req)
		if err != nil {
			t.Fatal(err)
		}
		written += n
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "pong" {
			t.Fatalf("%q: got %d %q; want 200 pong", req, resp.StatusCode, b)
		}
	}
	// The proxy closes after the second answer; its writes are done then.
	// The upstream request's write is reported to the transport before it
	// lets the handler see the end of the answer's body (net/http's
	// persistConn.wroteRequest), so it is counted too.
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Fatal(err)
	}
	itoa := func(n int64) string { return strconv.FormatInt(n, 10) }
	checkSeries(t, api.URL, map[string]string{
		`holdfast_chaos_proxy_connections_total{proxy="db"}`: "1",
		bytesSeries("received", "upstream"):                  itoa(int64(written)),
		bytesSeries("sent", "downstream"):                    itoa(clientRead.Load()),
		bytesSeries("sent", "upstream"):                      itoa(backIn.Load()),
		bytesSeries("received", "downstream"):                itoa(backOut.Load()),
		appliedSeries("hold", "http_delay"):                  "2",
		appliedSeries("late", "http_delay"):                  "2",
		appliedSeries("never", "http_status"):                "0",
	})
}
