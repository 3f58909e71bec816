package toxic

import (
	"encoding/json"
	"io"
	"net"
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
