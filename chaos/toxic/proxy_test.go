package toxic

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// Tests of proxy changes (populate, update) on real loopback sockets.

// mustCall serves one API request and fails t unless it answers want.
func mustCall(t *testing.T, s *Server, want int, method, path, body string) string {
	t.Helper()
	code, got := call(t, s, method, path, body)
	if code != want {
		t.Fatalf("%s %s %s = %d %s; want %d", method, path, body, code, got, want)
	}
	return got
}

// showProxy returns GET /proxies/{name} as the API answers it.
func showProxy(t *testing.T, s *Server, name string) ProxySpec {
	t.Helper()
	var p ProxySpec
	if err := json.Unmarshal([]byte(mustCall(t, s, 200, "GET", "/proxies/"+name, "")), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// echoes reports whether a round trip on c comes back.
func echoes(c net.Conn, msg string) bool {
	if _, err := c.Write([]byte(msg)); err != nil {
		return false
	}
	got := make([]byte, len(msg))
	_, err := io.ReadFull(c, got)
	return err == nil && string(got) == msg
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// TestPopulateKeepsAnUnchangedProxy: as in Toxiproxy, populate compares
// listen addresses resolved, so localhost:PORT is the proxy running on
// 127.0.0.1:PORT, which keeps its toxics and open connections.
func TestPopulateKeepsAnUnchangedProxy(t *testing.T) {
	tests := []struct {
		name     string
		listen   string // PORT stands for the running proxy's port
		enabled  string // the entry's "enabled", or "" to leave it out
		wantKept bool
	}{
		{"same address", "127.0.0.1:PORT", "", true},
		{"localhost", "localhost:PORT", "", true},
		{"IPv4-mapped", "[::ffff:127.0.0.1]:PORT", "", true},
		{"localhost, disabled", "localhost:PORT", "false", true},
		{"another port", "127.0.0.1:0", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, _ := echoUpstream(t)
			s := newTestServer(t, Config{})
			mustCall(t, s, 201, "POST", "/populate", `[{"name":"a","listen":"127.0.0.1:0","upstream":"`+up+`"}]`)
			first := showProxy(t, s, "a")
			mustCall(t, s, 200, "POST", "/proxies/a/toxics", `{"name":"mark","type":"noop"}`)
			c := e2eDial(t, first.Listen)
			if !echoes(c, "before") {
				t.Fatal("no echo through the proxy")
			}

			listen := strings.ReplaceAll(tt.listen, "PORT", portOf(t, first.Listen))
			entry := `{"name":"a","listen":"` + listen + `","upstream":"` + up + `"`
			if tt.enabled != "" {
				entry += `,"enabled":` + tt.enabled
			}
			body := mustCall(t, s, 201, "POST", "/populate", "["+entry+"}]")
			var resp struct{ Proxies []ProxySpec }
			if err := json.Unmarshal([]byte(body), &resp); err != nil || len(resp.Proxies) != 1 {
				t.Fatalf("populate answered %s (%v); want one proxy", body, err)
			}
			got := showProxy(t, s, "a")
			kept := len(got.Toxics) == 1 && got.Toxics[0].Name == "mark"
			if kept != tt.wantKept {
				t.Fatalf("after populate with %s: toxics %+v; kept = %v, want %v", entry, got.Toxics, kept, tt.wantKept)
			}
			wantEnabled := tt.enabled != "false"
			if got.Enabled != wantEnabled || resp.Proxies[0].Enabled != wantEnabled {
				t.Fatalf("enabled = %v (answered %v); want %v", got.Enabled, resp.Proxies[0].Enabled, wantEnabled)
			}
			if tt.wantKept && (got.Listen != first.Listen || resp.Proxies[0].Listen != first.Listen) {
				t.Fatalf("listen = %q (answered %q); want the running address %q", got.Listen, resp.Proxies[0].Listen, first.Listen)
			}
			if alive := echoes(c, "after"); alive != (tt.wantKept && wantEnabled) {
				t.Fatalf("open connection alive = %v; want %v", alive, tt.wantKept && wantEnabled)
			}
		})
	}
}

// busyAddr returns a loopback address something else listens on, and the
// error net.Listen gives for it: what the API must answer, as Toxiproxy
// does, when a proxy is moved or started there.
func busyAddr(t *testing.T) (string, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	_, lerr := net.Listen("tcp", ln.Addr().String())
	if lerr == nil {
		t.Fatalf("a second listener on %s succeeded", ln.Addr())
	}
	return ln.Addr().String(), lerr.Error()
}

// TestFailedUpdateChangesNothing: an update that cannot listen answers 500
// with Toxiproxy's error shape and leaves the proxy as it was, its old
// listener serving.
func TestFailedUpdateChangesNothing(t *testing.T) {
	tests := []struct {
		name    string
		enabled bool   // the proxy before the update
		method  string // PATCH, or POST as Toxiproxy's client sends
		patch   string // BUSY is a taken address, UP2 another upstream
	}{
		{"move onto a busy port", true, "PATCH", `{"listen":"BUSY"}`},
		{"move with POST", true, "POST", `{"listen":"BUSY","enabled":true}`},
		{"move and change upstream", true, "PATCH", `{"listen":"BUSY","upstream":"UP2"}`},
		{"move and change protocol", true, "PATCH", `{"listen":"BUSY","protocol":"http"}`},
		{"enable onto a busy port", false, "PATCH", `{"listen":"BUSY","enabled":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, _ := echoUpstream(t)
			up2, _ := echoUpstream(t)
			busy, lerr := busyAddr(t)
			s := newTestServer(t, Config{})
			mustCall(t, s, 201, "POST", "/proxies", fmt.Sprintf(`{"name":"p","upstream":%q,"enabled":%v}`, up, tt.enabled))
			if !strings.Contains(tt.patch, "protocol") { // an HTTP proxy takes no TCP toxic
				mustCall(t, s, 200, "POST", "/proxies/p/toxics", `{"name":"mark","type":"noop"}`)
			}
			before := mustCall(t, s, 200, "GET", "/proxies/p", "")
			var open net.Conn
			if tt.enabled {
				open = e2eDial(t, showProxy(t, s, "p").Listen)
				if !echoes(open, "before") {
					t.Fatal("no echo through the proxy")
				}
			}

			patch := strings.NewReplacer("BUSY", busy, "UP2", up2).Replace(tt.patch)
			code, body := call(t, s, tt.method, "/proxies/p", patch)
			want, _ := json.Marshal(map[string]any{"error": lerr, "status": 500})
			if code != 500 || body != string(want)+"\n" {
				t.Fatalf("%s %s = %d %s; want 500 %s", tt.method, patch, code, body, want)
			}
			if after := mustCall(t, s, 200, "GET", "/proxies/p", ""); after != before {
				t.Fatalf("the failed update changed the proxy:\nbefore %s\nafter  %s", before, after)
			}
			if tt.enabled {
				if !echoes(open, "after") {
					t.Fatal("the open connection died in a failed update")
				}
				if !echoes(e2eDial(t, showProxy(t, s, "p").Listen), "new") {
					t.Fatal("the old listener stopped serving after a failed update")
				}
			}
		})
	}
}

func TestFailedUpdateIsErrListen(t *testing.T) {
	up, _ := echoUpstream(t)
	busy, _ := busyAddr(t)
	s := newTestServer(t, Config{})
	p, err := s.CreateProxy(ProxySpec{Name: "p", Upstream: up, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	moved := p
	moved.Listen = busy
	if _, err := s.UpdateProxy(moved); !errors.Is(err, ErrListen) {
		t.Fatalf("UpdateProxy onto a busy port = %v; want ErrListen", err)
	}
	if got, _ := s.Proxy("p"); got.Listen != p.Listen || !got.Enabled {
		t.Fatalf("after the failed update: %+v; want %+v", got, p)
	}
}

// TestUpdateRestarts: what an update restarts and what it keeps.
func TestUpdateRestarts(t *testing.T) {
	tests := []struct {
		name     string
		patch    string // PORT is the proxy's port, UP2 another upstream
		wantOpen bool   // the open connection survives
		wantUp2  bool   // new connections reach UP2
		wantPort bool   // the proxy still listens on PORT
	}{
		{"nothing", `{}`, true, false, true},
		{"the same address resolved", `{"listen":"localhost:PORT"}`, true, false, true},
		{"the same address, enabled", `{"listen":"[::ffff:127.0.0.1]:PORT","enabled":true}`, true, false, true},
		{"a new upstream, in place", `{"upstream":"UP2"}`, false, true, true},
		{"a new port", `{"listen":"127.0.0.1:0"}`, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, _ := echoUpstream(t)
			up2, accepted2 := echoUpstream(t)
			s := newTestServer(t, Config{})
			mustCall(t, s, 201, "POST", "/proxies", fmt.Sprintf(`{"name":"p","upstream":%q}`, up))
			first := showProxy(t, s, "p")
			open := e2eDial(t, first.Listen)
			if !echoes(open, "before") {
				t.Fatal("no echo through the proxy")
			}
			patch := strings.NewReplacer("PORT", portOf(t, first.Listen), "UP2", up2).Replace(tt.patch)
			mustCall(t, s, 200, "PATCH", "/proxies/p", patch)
			got := showProxy(t, s, "p")
			if samePort := got.Listen == first.Listen; samePort != tt.wantPort || !got.Enabled {
				t.Fatalf("after %s: %+v; want enabled, on %s = %v", patch, got, first.Listen, tt.wantPort)
			}
			if alive := echoes(open, "after"); alive != tt.wantOpen {
				t.Fatalf("after %s: open connection alive = %v; want %v", patch, alive, tt.wantOpen)
			}
			if !echoes(e2eDial(t, got.Listen), "new") {
				t.Fatalf("after %s: no echo on %s", patch, got.Listen)
			}
			if reached := accepted2.Load() > 0; reached != tt.wantUp2 {
				t.Fatalf("after %s: UP2 reached = %v; want %v", patch, reached, tt.wantUp2)
			}
		})
	}
}

// TestUpdateSwitchesProtocolInPlace: a new protocol restarts the proxy on
// the socket it listens on.
func TestUpdateSwitchesProtocolInPlace(t *testing.T) {
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hi")
	})}
	bl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go backend.Serve(bl)
	t.Cleanup(func() { backend.Close() })
	s := newTestServer(t, Config{})
	mustCall(t, s, 201, "POST", "/proxies", `{"name":"p","upstream":"`+bl.Addr().String()+`"}`)
	listen := showProxy(t, s, "p").Listen
	get := func() int {
		t.Helper()
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + listen + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	if code := get(); code != 200 {
		t.Fatalf("through the TCP proxy: %d; want 200", code)
	}
	steps := []struct {
		method, path, body string
		want               int
		wantGet            int
	}{
		{"PATCH", "/proxies/p", `{"protocol":"http"}`, 200, 200},
		{"POST", "/proxies/p/toxics", `{"type":"http_status","attributes":{"status":418}}`, 200, 418},
		{"PATCH", "/proxies/p", `{"protocol":"tcp"}`, 400, 418}, // its toxic is HTTP: nothing changes
		{"DELETE", "/proxies/p/toxics/http_status_downstream", "", 204, 200},
		{"PATCH", "/proxies/p", `{"protocol":"tcp"}`, 200, 200},
	}
	for _, st := range steps {
		mustCall(t, s, st.want, st.method, st.path, st.body)
		if got := showProxy(t, s, "p"); got.Listen != listen || !got.Enabled {
			t.Fatalf("after %s %s %s: %+v; want enabled on %s", st.method, st.path, st.body, got, listen)
		}
		if code := get(); code != st.wantGet {
			t.Fatalf("after %s %s %s: GET = %d; want %d", st.method, st.path, st.body, code, st.wantGet)
		}
	}
}

// TestHandoverKeepsTheSocket: the listener handover returns keeps
// accepting on the address after the original is closed, so a restart in
// place never stops listening.
func TestHandoverKeepsTheSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h, err := handover(ln)
	if err != nil {
		t.Fatalf("handover: %v", err)
	}
	defer h.Close()
	if h.Addr().String() != ln.Addr().String() {
		t.Fatalf("handover listens on %s; want %s", h.Addr(), ln.Addr())
	}
	ln.Close()
	c := e2eDial(t, h.Addr().String())
	a, err := h.Accept()
	if err != nil {
		t.Fatalf("accept after the original closed: %v", err)
	}
	defer a.Close()
	c.Write([]byte("x"))
	if _, err := io.ReadFull(a, make([]byte, 1)); err != nil {
		t.Fatalf("read from the handed-over connection: %v", err)
	}
}

// TestSelfLoopRefused: a proxy whose upstream is its own listen address,
// compared resolved, is a 400 naming upstream, on create, update and
// populate. The proxies are created disabled: refusal must not depend on
// binding.
func TestSelfLoopRefused(t *testing.T) {
	tests := []struct {
		listen, upstream, protocol string
		loops                      bool
	}{
		{"127.0.0.1:47001", "127.0.0.1:47001", "", true},
		{"127.0.0.1:47001", "localhost:47001", "", true},
		{"localhost:47001", "127.0.0.1:47001", "", true},
		{"[::ffff:127.0.0.1]:47001", "127.0.0.1:47001", "", true},
		{"0.0.0.0:47001", "127.0.0.1:47001", "", true},
		{":47001", "localhost:47001", "", true},
		{"[::]:47001", "[::1]:47001", "", true},
		{"[::1]:47001", "[::1]:47001", "", true},
		{"127.0.0.1:47001", "0.0.0.0:47001", "", true},
		{"127.0.0.1:80", "http://localhost", "http", true},
		{"127.0.0.1:47001", "http://127.0.0.1:47001", "http", true},
		{"127.0.0.1:47001", "127.0.0.1:47002", "", false},
		{"127.0.0.1:47001", "127.0.0.2:47001", "", false},
		{"[::1]:47001", "127.0.0.1:47001", "", false},
		{"127.0.0.1:0", "127.0.0.1:47001", "", false},
	}
	for _, tt := range tests {
		s := newTestServer(t, Config{})
		body := fmt.Sprintf(`{"name":"p","listen":%q,"upstream":%q,"protocol":%q,"enabled":false}`, tt.listen, tt.upstream, tt.protocol)
		code, got := call(t, s, "POST", "/proxies", body)
		switch {
		case tt.loops && (code != 400 || !strings.Contains(got, `"error":"upstream: must not be the proxy's own listen address`)):
			t.Errorf("POST /proxies %s = %d %s; want 400 naming upstream", body, code, got)
		case !tt.loops && code != 201:
			t.Errorf("POST /proxies %s = %d %s; want 201", body, code, got)
		}
		want := 1
		if tt.loops {
			want = 0
		}
		if n := len(s.Proxies()); n != want {
			t.Errorf("%s: %d proxies; want %d", body, n, want)
		}
	}
}

func TestSelfLoopRefusedOnUpdateAndPopulate(t *testing.T) {
	up, _ := echoUpstream(t)
	s := newTestServer(t, Config{})
	mustCall(t, s, 201, "POST", "/proxies", `{"name":"p","upstream":"`+up+`"}`)
	mustCall(t, s, 201, "POST", "/proxies", `{"name":"off","listen":"127.0.0.1:47001","upstream":"`+up+`","enabled":false}`)
	p := showProxy(t, s, "p")
	before, _ := json.Marshal(s.Proxies())
	steps := []struct {
		method, path, body string
		wantKey            string
	}{
		{"PATCH", "/proxies/p", `{"upstream":"` + p.Listen + `"}`, `"upstream: must not be`},
		{"PATCH", "/proxies/p", `{"upstream":"localhost:` + portOf(t, p.Listen) + `"}`, `"upstream: must not be`},
		{"POST", "/proxies/off", `{"listen":"` + up + `","enabled":false}`, `"upstream: must not be`},
		{"POST", "/populate", `[{"name":"q","upstream":"` + up + `"},{"name":"r","listen":"localhost:47003","upstream":"127.0.0.1:47003"}]`, `"[1].upstream: must not be`},
		{"POST", "/populate", `[{"name":"p","listen":"` + p.Listen + `","upstream":"` + p.Listen + `"}]`, `"[0].upstream: must not be`},
	}
	for _, st := range steps {
		code, got := call(t, s, st.method, st.path, st.body)
		if code != 400 || !strings.Contains(got, st.wantKey) {
			t.Errorf("%s %s %s = %d %s; want 400 containing %s", st.method, st.path, st.body, code, got, st.wantKey)
		}
	}
	if after, _ := json.Marshal(s.Proxies()); string(after) != string(before) {
		t.Fatalf("refused updates changed the proxies:\nbefore %s\nafter  %s", before, after)
	}
}
