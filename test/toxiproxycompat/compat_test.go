package toxiproxycompat

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/holdfast-dev/holdfast/chaos/toxic"
)

// These are end-to-end tests on real sockets, so their time bounds are real
// and generous: a lower bound proves the toxic acted, an upper bound only
// catches a hang.
const slack = 3 * time.Second

// startChaos serves the chaos API on a loopback port and returns a
// Toxiproxy client for it.
func startChaos(t *testing.T) (*toxiproxy.Client, string) {
	t.Helper()
	s := toxic.MustNewServer(toxic.Config{Version: "compat-test"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		s.Close()
	})
	return toxiproxy.NewClient(ln.Addr().String()), "http://" + ln.Addr().String()
}

// echoServer answers every connection by echoing its bytes, and closes
// its side when the client has finished sending.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, slack)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(2 * slack))
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// roundTrip writes msg and reads it back, returning how long it took.
func roundTrip(t *testing.T, c net.Conn, msg string) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(got) != msg {
		t.Fatalf("got %q; want %q", got, msg)
	}
	return time.Since(start)
}

func newProxy(t *testing.T, client *toxiproxy.Client, name string) *toxiproxy.Proxy {
	t.Helper()
	p, err := client.CreateProxy(name, "127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatalf("CreateProxy: %v", err)
	}
	if p.Listen == "127.0.0.1:0" || !p.Enabled {
		t.Fatalf("CreateProxy = %+v; want a resolved listen address and enabled", p)
	}
	return p
}

func TestProxyLifecycle(t *testing.T) {
	client, api := startChaos(t)
	resp, err := http.Get(api + "/version")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"version": "compat-test"}` + "\n"; resp.StatusCode != 200 || string(v) != want {
		t.Fatalf("GET /version = %d %q; want %q, Toxiproxy's body", resp.StatusCode, v, want)
	}
	p := newProxy(t, client, "echo")
	if d := roundTrip(t, dial(t, p.Listen), "ping"); d > slack {
		t.Fatalf("round trip took %v with no toxics", d)
	}

	got, err := client.Proxy("echo")
	if err != nil || got.Listen != p.Listen || got.Upstream != p.Upstream || !got.Enabled {
		t.Fatalf("Proxy(echo) = %+v, %v; want %+v", got, err, p)
	}
	all, err := client.Proxies()
	if err != nil || len(all) != 1 || all["echo"] == nil {
		t.Fatalf("Proxies() = %v, %v; want just echo", all, err)
	}

	// Duplicates are 409, unknown names 404, as in Toxiproxy.
	if _, err := client.CreateProxy("echo", "127.0.0.1:0", p.Upstream); err == nil || !strings.Contains(err.Error(), "409") {
		t.Fatalf("duplicate CreateProxy err = %v; want HTTP 409", err)
	}
	if _, err := client.Proxy("nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("Proxy(nope) err = %v; want HTTP 404", err)
	}

	// Disable closes the listener; Enable brings it back on the same address.
	if err := p.Disable(); err != nil {
		t.Fatalf("Disable: %v", err)
	}
	if c, err := net.DialTimeout("tcp", p.Listen, slack); err == nil {
		c.Close()
		t.Fatalf("dial of a disabled proxy succeeded; want connection refused")
	}
	if err := p.Enable(); err != nil {
		t.Fatalf("Enable: %v", err)
	}
	roundTrip(t, dial(t, p.Listen), "back")

	if err := p.Delete(); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := client.Proxy("echo"); err == nil {
		t.Fatalf("Proxy after Delete succeeded")
	}
}

func TestPopulateAndReset(t *testing.T) {
	client, _ := startChaos(t)
	up := echoServer(t)
	cfg := []toxiproxy.Proxy{
		{Name: "a", Listen: "127.0.0.1:0", Upstream: up, Enabled: true},
		{Name: "b", Listen: "127.0.0.1:0", Upstream: up, Enabled: true},
	}
	ps, err := client.Populate(cfg)
	if err != nil || len(ps) != 2 {
		t.Fatalf("Populate = %v, %v; want 2 proxies", ps, err)
	}
	for _, p := range ps {
		roundTrip(t, dial(t, p.Listen), "hi "+p.Name)
	}
	// A bad entry rejects the whole request and changes nothing.
	bad := append(cfg, toxiproxy.Proxy{Name: "c", Listen: "127.0.0.1:0"})
	if _, err := client.Populate(bad); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("Populate with a missing upstream err = %v; want HTTP 400", err)
	}
	if all, _ := client.Proxies(); len(all) != 2 {
		t.Fatalf("after a rejected populate there are %d proxies; want 2", len(all))
	}

	p, _ := client.Proxy("a")
	if _, err := p.AddToxic("", "latency", "", 1, toxiproxy.Attributes{"latency": 50}); err != nil {
		t.Fatalf("AddToxic: %v", err)
	}
	p.Disable()
	if err := client.ResetState(); err != nil {
		t.Fatalf("ResetState: %v", err)
	}
	p, _ = client.Proxy("a")
	if !p.Enabled || len(p.ActiveToxics) != 0 {
		t.Fatalf("after reset a = %+v; want enabled with no toxics", p)
	}
}

func TestToxicCRUD(t *testing.T) {
	client, _ := startChaos(t)
	p := newProxy(t, client, "crud")
	tx, err := p.AddToxic("", "latency", "", 1, toxiproxy.Attributes{"latency": 10, "jitter": 2})
	if err != nil {
		t.Fatalf("AddToxic: %v", err)
	}
	// Toxiproxy's defaults: stream downstream, name <type>_<stream>.
	if tx.Name != "latency_downstream" || tx.Stream != "downstream" || tx.Type != "latency" || tx.Toxicity != 1 {
		t.Fatalf("AddToxic = %+v; want latency_downstream on downstream with toxicity 1", tx)
	}
	if tx.Attributes["latency"] != float64(10) || tx.Attributes["jitter"] != float64(2) {
		t.Fatalf("attributes = %v; want latency 10, jitter 2", tx.Attributes)
	}
	if _, err := p.AddToxic("", "latency", "", 1, nil); err == nil || !strings.Contains(err.Error(), "409") {
		t.Fatalf("duplicate AddToxic err = %v; want HTTP 409", err)
	}
	// Under a free name: a taken one is a 409 first, as in Toxiproxy.
	for _, bad := range []toxiproxy.Toxic{
		{Name: "bad", Type: "latency", Attributes: toxiproxy.Attributes{"latency": -5}},
		{Type: "latency", Stream: "sideways"},
		{Type: "nonsense"},
		{Name: "bad", Type: "latency", Toxicity: 1.5},
	} {
		if _, err := p.AddToxic(bad.Name, bad.Type, bad.Stream, bad.Toxicity, bad.Attributes); err == nil || !strings.Contains(err.Error(), "400") {
			t.Errorf("AddToxic(%+v) err = %v; want HTTP 400", bad, err)
		}
	}
	up, err := p.UpdateToxic("latency_downstream", 0.5, toxiproxy.Attributes{"latency": 20})
	if err != nil || up.Toxicity != 0.5 || up.Attributes["latency"] != float64(20) || up.Attributes["jitter"] != float64(2) {
		t.Fatalf("UpdateToxic = %+v, %v; want toxicity 0.5, latency 20, jitter kept at 2", up, err)
	}
	if _, err := p.UpdateToxic("missing", -1, nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("UpdateToxic(missing) err = %v; want HTTP 404", err)
	}
	if _, err := client.AddToxic(&toxiproxy.ToxicOptions{ProxyName: "crud", ToxicName: "cut", ToxicType: "limit_data", Stream: "upstream", Toxicity: 1, Attributes: toxiproxy.Attributes{"bytes": 100}}); err != nil {
		t.Fatalf("client.AddToxic: %v", err)
	}
	ts, err := p.Toxics()
	if err != nil || len(ts) != 2 || ts[1].Name != "cut" || ts[1].Stream != "upstream" {
		t.Fatalf("Toxics() = %+v, %v; want latency_downstream and cut", ts, err)
	}
	if err := p.RemoveToxic("cut"); err != nil {
		t.Fatalf("RemoveToxic: %v", err)
	}
	if err := p.RemoveToxic("cut"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("second RemoveToxic err = %v; want HTTP 404", err)
	}
}

func TestLatency(t *testing.T) {
	client, _ := startChaos(t)
	p := newProxy(t, client, "slow")
	c := dial(t, p.Listen) // opened before the toxic: it must apply anyway
	roundTrip(t, c, "warm")
	if _, err := p.AddToxic("lag", "latency", "downstream", 1, toxiproxy.Attributes{"latency": 300}); err != nil {
		t.Fatal(err)
	}
	if d := roundTrip(t, c, "slow"); d < 300*time.Millisecond || d > slack {
		t.Fatalf("round trip on an open connection with latency 300ms took %v", d)
	}
	if d := roundTrip(t, dial(t, p.Listen), "new"); d < 300*time.Millisecond || d > slack {
		t.Fatalf("round trip on a new connection with latency 300ms took %v", d)
	}
	if _, err := p.UpdateToxic("lag", -1, toxiproxy.Attributes{"latency": 600}); err != nil {
		t.Fatal(err)
	}
	if d := roundTrip(t, c, "slower"); d < 600*time.Millisecond || d > slack {
		t.Fatalf("round trip after raising latency to 600ms took %v", d)
	}
	if err := p.RemoveToxic("lag"); err != nil {
		t.Fatal(err)
	}
	if d := roundTrip(t, c, "fast"); d > 250*time.Millisecond {
		t.Fatalf("round trip after removing latency took %v; want well under 300ms", d)
	}
}

func TestToxicityZeroNeverApplies(t *testing.T) {
	client, _ := startChaos(t)
	p := newProxy(t, client, "lucky")
	if _, err := p.AddToxic("", "latency", "", 0, toxiproxy.Attributes{"latency": 1000}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if d := roundTrip(t, dial(t, p.Listen), "x"); d > 500*time.Millisecond {
			t.Fatalf("connection %d took %v through a toxic of toxicity 0", i, d)
		}
	}
}

func TestBandwidth(t *testing.T) {
	client, _ := startChaos(t)
	p := newProxy(t, client, "thin")
	if _, err := p.AddToxic("", "bandwidth", "downstream", 1, toxiproxy.Attributes{"rate": 100}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Listen)
	msg := strings.Repeat("x", 100_000) // 100 KB at 100 KB/s: about a second
	start := time.Now()
	go c.Write([]byte(msg))
	if _, err := io.ReadFull(c, make([]byte, len(msg))); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 800*time.Millisecond || d > 2*slack {
		t.Fatalf("100 KB at 100 KB/s took %v; want about 1s", d)
	}
}

func TestLimitData(t *testing.T) {
	client, _ := startChaos(t)
	p := newProxy(t, client, "limited")
	if _, err := p.AddToxic("", "limit_data", "downstream", 1, toxiproxy.Attributes{"bytes": 10}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Listen)
	c.Write([]byte(strings.Repeat("y", 100)))
	got, err := io.ReadAll(c)
	if len(got) != 10 {
		t.Fatalf("read %d bytes (err %v) through limit_data 10; want exactly 10, then the close", len(got), err)
	}
}

func TestResetPeer(t *testing.T) {
	client, _ := startChaos(t)
	p := newProxy(t, client, "rst")
	if _, err := p.AddToxic("", "reset_peer", "downstream", 1, toxiproxy.Attributes{"timeout": 100}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Listen)
	start := time.Now()
	c.Write([]byte("hello"))
	_, err := io.ReadAll(c)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read err = %v; want connection reset by peer", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("reset came after %v; want at least the 100ms timeout", d)
	}
}

func TestTimeout(t *testing.T) {
	client, _ := startChaos(t)
	p := newProxy(t, client, "stuck")
	if _, err := p.AddToxic("", "timeout", "upstream", 1, toxiproxy.Attributes{"timeout": 300}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Listen)
	start := time.Now()
	c.Write([]byte("anyone there?"))
	got, _ := io.ReadAll(c)
	if d := time.Since(start); len(got) != 0 || d < 300*time.Millisecond || d > slack {
		t.Fatalf("got %q after %v; want no data and a close after about 300ms", got, d)
	}
}

func TestSlowClose(t *testing.T) {
	client, _ := startChaos(t)
	p := newProxy(t, client, "lingering")
	if _, err := p.AddToxic("", "slow_close", "downstream", 1, toxiproxy.Attributes{"delay": 400}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Listen)
	c.Write([]byte("bye"))
	c.CloseWrite() // the echo server closes when it sees our end
	start := time.Now()
	got, err := io.ReadAll(c)
	if string(got) != "bye" || err != nil {
		t.Fatalf("got %q, %v; want the echo then a clean close", got, err)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > slack {
		t.Fatalf("close arrived after %v; want the 400ms delay", d)
	}
}

func TestSlicer(t *testing.T) {
	client, _ := startChaos(t)
	p := newProxy(t, client, "sliced")
	if _, err := p.AddToxic("", "slicer", "downstream", 1, toxiproxy.Attributes{"average_size": 1, "size_variation": 0, "delay": 20000}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Listen)
	start := time.Now()
	c.Write([]byte("0123456789"))
	buf := make([]byte, 10)
	reads, n := 0, 0
	for n < 10 {
		m, err := c.Read(buf[n:])
		if err != nil {
			t.Fatal(err)
		}
		n += m
		reads++
	}
	// Ten 1-byte pieces 20ms apart: at least 180ms, and more than one read.
	if d := time.Since(start); reads < 2 || d < 180*time.Millisecond {
		t.Fatalf("10 bytes arrived in %d reads over %v; want slices 20ms apart", reads, d)
	}
}

func TestBlackholeAndPartition(t *testing.T) {
	client, _ := startChaos(t)
	p := newProxy(t, client, "cut")
	open := dial(t, p.Listen)
	roundTrip(t, open, "before")

	if _, err := p.AddToxic("", "partition", "", 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(open); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("open connection after partition: read err = %v; want reset", err)
	}
	// The reset may reach the client while it is still connecting (the
	// kernel completes the handshake before the proxy accepts), or before
	// or after its write; the first call after it fails, later ones see a
	// closed socket.
	if nc, derr := net.DialTimeout("tcp", p.Listen, slack); !errors.Is(derr, syscall.ECONNRESET) {
		if derr != nil {
			t.Fatalf("dial during partition: %v; want a connection or a reset", derr)
		}
		c := nc.(*net.TCPConn)
		c.SetDeadline(time.Now().Add(2 * slack))
		_, werr := c.Write([]byte("x"))
		_, rerr := io.ReadAll(c)
		c.Close()
		if !errors.Is(werr, syscall.ECONNRESET) && !errors.Is(werr, syscall.EPIPE) && !errors.Is(rerr, syscall.ECONNRESET) {
			t.Fatalf("new connection during partition: write err %v, read err %v; want a reset", werr, rerr)
		}
	}
	if err := p.RemoveToxic("partition_downstream"); err != nil {
		t.Fatal(err)
	}

	if _, err := p.AddToxic("hole", "blackhole", "", 1, nil); err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Listen) // accepted...
	c.Write([]byte("hello?"))
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := c.Read(make([]byte, 8)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read through a blackhole = %d, %v; want nothing until the deadline", n, err)
	}
	p.RemoveToxic("hole")
	roundTrip(t, dial(t, p.Listen), "after")
}

// TestHTTPToxics drives an HTTP-mode proxy: created through the raw API
// ("protocol" is an extension the Toxiproxy client does not model), its
// toxics managed with the client.
func TestHTTPToxics(t *testing.T) {
	client, api := startChaos(t)
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok "+r.URL.Path)
	})}
	bl, _ := net.Listen("tcp", "127.0.0.1:0")
	go backend.Serve(bl)
	t.Cleanup(func() { backend.Close() })

	resp, err := http.Post(api+"/proxies", "application/json", strings.NewReader(
		`{"name":"web","listen":"127.0.0.1:0","upstream":"`+bl.Addr().String()+`","protocol":"http"}`))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create http proxy: %v %v", resp.Status, err)
	}
	p, err := client.Proxy("web")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + p.Listen
	get := func(path string, hdr ...string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/a"); code != 200 || body != "ok /a" {
		t.Fatalf("GET /a = %d %q; want 200 from the backend", code, body)
	}

	// TCP toxics are refused on an HTTP proxy, with the key named.
	if _, err := p.AddToxic("", "latency", "", 1, nil); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("latency on an http proxy err = %v; want HTTP 400", err)
	}

	if _, err := p.AddToxic("", "http_status", "", 1, toxiproxy.Attributes{"status": 503,
		"match": map[string]any{"path_prefix": "/fail", "headers": map[string]string{"X-Chaos": "on"}}}); err != nil {
		t.Fatal(err)
	}
	if code, _ := get("/fail/x", "X-Chaos", "on"); code != 503 {
		t.Fatalf("matching request got %d; want 503", code)
	}
	if code, _ := get("/fail/x"); code != 200 {
		t.Fatalf("request without the header got %d; want 200 (no match)", code)
	}
	if code, _ := get("/other", "X-Chaos", "on"); code != 200 {
		t.Fatalf("request to another path got %d; want 200 (no match)", code)
	}
	p.RemoveToxic("http_status_downstream")

	if _, err := p.AddToxic("warmup", "http_fail_first", "", 1, toxiproxy.Attributes{"count": 2, "status": 500}); err != nil {
		t.Fatal(err)
	}
	var codes []int
	for i := 0; i < 4; i++ {
		c, _ := get("/w")
		codes = append(codes, c)
	}
	if want := []int{500, 500, 200, 200}; !equalInts(codes, want) {
		t.Fatalf("http_fail_first count 2: codes %v; want %v", codes, want)
	}
	p.RemoveToxic("warmup")

	if _, err := p.AddToxic("", "http_delay", "", 1, toxiproxy.Attributes{"distribution": "uniform", "min": 200, "max": 300}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if code, _ := get("/d"); code != 200 {
		t.Fatalf("delayed request got %d", code)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > slack {
		t.Fatalf("uniform 200-300ms delay took %v", d)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBadRequestsChangeNothing checks the raw error shape: 400 with
// {"error", "status"} naming the key, and no state change.
func TestBadRequestsChangeNothing(t *testing.T) {
	client, api := startChaos(t)
	newProxy(t, client, "p")
	tests := []struct {
		path, body, wantKey string
		wantStatus          int
	}{
		{"/proxies", `{"name":"q"}`, "upstream", 400},
		{"/proxies", `{"name":"q","upstream":"127.0.0.1:1","listen":"nope"}`, "listen", 400},
		{"/proxies", `{"name":"q","upstream":"127.0.0.1:1","protocol":"udp"}`, "protocol", 400},
		{"/proxies", `{`, "bad request body", 400},
		{"/proxies/p/toxics", `{"type":"latency","attributes":{"latency":-1}}`, "attributes.latency", 400},
		{"/proxies/p/toxics", `{"type":"latency","attributes":{"latncy":1}}`, "attributes.latncy", 400},
		{"/proxies/p/toxics", `{"type":"latency","toxicity":-0.1}`, "toxicity", 400},
		{"/proxies/p/toxics", `{"type":"bogus"}`, "type", 400},
		{"/proxies/p/toxics", `{"type":"latency","stream":"up"}`, "stream", 400},
		{"/proxies/nope/toxics", `{"type":"latency"}`, "proxy not found", 404},
	}
	for _, tt := range tests {
		resp, err := http.Post(api+tt.path, "application/json", strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.wantStatus || !bytes.Contains(b, []byte(tt.wantKey)) || !bytes.Contains(b, []byte(`"status":`)) {
			t.Errorf("POST %s %s = %d %s; want %d naming %q", tt.path, tt.body, resp.StatusCode, b, tt.wantStatus, tt.wantKey)
		}
	}
	all, _ := client.Proxies()
	if len(all) != 1 || len(all["p"].ActiveToxics) != 0 {
		t.Fatalf("after bad requests: %v; want only p, with no toxics", all)
	}
}
