package toxic

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// call serves one API request in memory.
func call(t *testing.T, h http.Handler, method, path, body string, hdr ...string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

func newTestServer(t *testing.T, c Config) *Server {
	t.Helper()
	s := MustNewServer(c)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestAPIStatusCodesAndShapes(t *testing.T) {
	s := newTestServer(t, Config{Version: "1.2.3"})
	steps := []struct {
		method, path, body string
		want               int
		wantBody           string // a substring
	}{
		{"GET", "/version", "", 200, `{"version": "1.2.3"}`},
		{"GET", "/proxies", "", 200, `{}`},
		{"POST", "/proxies", `{"name":"db","upstream":"127.0.0.1:5432"}`, 201, `"enabled":true,"protocol":"tcp","toxics":[]`},
		{"POST", "/proxies", `{"name":"db","upstream":"127.0.0.1:5432"}`, 409, `{"error":"proxy already exists","status":409}`},
		{"POST", "/proxies", `{"name":"off","upstream":"127.0.0.1:1","enabled":false,"listen":"127.0.0.1:0"}`, 201, `"listen":"127.0.0.1:0","upstream":"127.0.0.1:1","enabled":false`},
		{"POST", "/proxies", `{"name":"x","upstream":"127.0.0.1:1","enabled":"yes"}`, 400, `"error":"enabled: must be a boolean`},
		{"POST", "/proxies", `{"name":"x","upstream":"127.0.0.1:1"} {}`, 400, `data after the JSON value`},
		{"GET", "/proxies/db", "", 200, `"name":"db"`},
		{"GET", "/proxies/nope", "", 404, `{"error":"proxy not found","status":404}`},
		{"POST", "/proxies/db/toxics", `{"type":"latency","attributes":{"latency":10}}`, 200, `"name":"latency_downstream"`},
		{"POST", "/proxies/db/toxics", `{"type":"latency"}`, 409, `"toxic already exists"`},
		{"POST", "/proxies/db/toxics", `{"type":"latency","name":"l2","attributes":{"latency":-1}}`, 400, `"error":"attributes.latency: must be in [0, 86400000], got -1"`},
		{"GET", "/proxies/db/toxics", "", 200, `[{"name":"latency_downstream"`},
		{"GET", "/proxies/db/toxics/latency_downstream", "", 200, `"attributes":{"latency":10,"jitter":0}`},
		{"GET", "/proxies/db/toxics/nope", "", 404, `"toxic not found"`},
		{"PATCH", "/proxies/db/toxics/latency_downstream", `{"attributes":{"jitter":3}}`, 200, `"attributes":{"latency":10,"jitter":3}`},
		{"POST", "/proxies/db/toxics/latency_downstream", `{"toxicity":0.25}`, 200, `"toxicity":0.25`},
		{"PATCH", "/proxies/db/toxics/latency_downstream", `{"toxicity":2}`, 400, `toxicity: must be in [0, 1]`},
		{"PATCH", "/proxies/db/toxics/nope", `{}`, 404, `"toxic not found"`},
		{"PATCH", "/proxies/db", `{"enabled":false}`, 200, `"enabled":false`},
		{"POST", "/proxies/db", `{"enabled":true}`, 200, `"enabled":true`},
		{"PATCH", "/proxies/db", `{"protocol":"http"}`, 400, `toxics[0].type`},
		{"PATCH", "/proxies/nope", `{}`, 404, `proxy not found`},
		{"DELETE", "/proxies/db/toxics/latency_downstream", "", 204, ``},
		{"DELETE", "/proxies/db/toxics/latency_downstream", "", 404, `toxic not found`},
		{"POST", "/populate", `[{"name":"a","upstream":"127.0.0.1:1"},{"name":"b"}]`, 400, `[1].upstream: missing required field`},
		{"POST", "/populate", `[{"name":"a","upstream":"127.0.0.1:1"},{"name":"a","upstream":"127.0.0.1:2"}]`, 400, `[1].name: duplicate proxy name`},
		{"POST", "/populate", `{"name":"a"}`, 400, `must be an array`},
		{"POST", "/populate", `[{"name":"a","upstream":"127.0.0.1:1","toxics":[{"type":"timeout"}]}]`, 201, `{"proxies":[{"name":"a"`},
		{"GET", "/proxies/a/toxics", "", 200, `"type":"timeout"`},
		{"POST", "/reset", "", 204, ``},
		{"GET", "/proxies/a/toxics", "", 200, `[]`},
		{"DELETE", "/proxies/db", "", 204, ``},
		{"DELETE", "/proxies/db", "", 404, `proxy not found`},
		{"PUT", "/proxies", "", 405, ``},
	}
	for _, st := range steps {
		code, body := call(t, s, st.method, st.path, st.body)
		if code != st.want || !strings.Contains(body, st.wantBody) {
			t.Errorf("%s %s %s = %d %s; want %d containing %s", st.method, st.path, st.body, code, body, st.want, st.wantBody)
		}
	}
	if got := len(s.Proxies()); got != 2 {
		t.Fatalf("proxies left = %d; want off and a", got)
	}
}

func TestAPIBadInputChangesNothing(t *testing.T) {
	s := newTestServer(t, Config{})
	call(t, s, "POST", "/proxies", `{"name":"p","upstream":"127.0.0.1:1"}`)
	call(t, s, "POST", "/proxies/p/toxics", `{"type":"latency","attributes":{"latency":5}}`)
	before, _ := json.Marshal(s.Proxies())
	for _, bad := range []struct{ method, path, body string }{
		{"POST", "/proxies/p/toxics", `{"type":"slicer","attributes":{"average_size":0}}`},
		{"PATCH", "/proxies/p/toxics/latency_downstream", `{"attributes":{"latency":-5,"jitter":1}}`},
		{"PATCH", "/proxies/p", `{"upstream":"nohost"}`},
		{"PATCH", "/proxies/p", `{"listen":"x"}`},
		{"POST", "/populate", `[{"name":"p","upstream":"127.0.0.1:9"},{"name":"q","upstream":"bad"}]`},
	} {
		if code, body := call(t, s, bad.method, bad.path, bad.body); code != 400 {
			t.Errorf("%s %s %s = %d %s; want 400", bad.method, bad.path, bad.body, code, body)
		}
	}
	after, _ := json.Marshal(s.Proxies())
	if string(before) != string(after) {
		t.Fatalf("state changed by rejected requests:\nbefore %s\nafter  %s", before, after)
	}
}

func TestAPIGuards(t *testing.T) {
	s := newTestServer(t, Config{Token: "t0k", MaxBodyBytes: 64})
	tests := []struct {
		name               string
		method, path, body string
		hdr                []string
		want               int
	}{
		{"reads need no token", "GET", "/proxies", "", nil, 200},
		{"writes need the token", "POST", "/reset", "", nil, 401},
		{"wrong token", "POST", "/reset", "", []string{"Authorization", "Bearer nope"}, 401},
		{"right token", "POST", "/reset", "", []string{"Authorization", "Bearer t0k"}, 204},
		{"browsers refused", "GET", "/proxies", "", []string{"User-Agent", "Mozilla/5.0"}, 403},
		{"cross-origin refused", "POST", "/reset", "", []string{"Origin", "http://evil.example", "Authorization", "Bearer t0k"}, 403},
		{"body too large", "POST", "/proxies", `{"name":"` + strings.Repeat("x", 100) + `"}`, []string{"Authorization", "Bearer t0k"}, 413},
	}
	for _, tt := range tests {
		if code, body := call(t, s, tt.method, tt.path, tt.body, tt.hdr...); code != tt.want {
			t.Errorf("%s: %d %s; want %d", tt.name, code, body, tt.want)
		}
	}
}

func TestErrorsMatchSentinels(t *testing.T) {
	s := newTestServer(t, Config{})
	_, err := s.Proxy("nope")
	var ae *APIError
	if !errors.Is(err, ErrProxyNotFound) || !errors.As(err, &ae) || ae.Status != 404 || !strings.HasPrefix(err.Error(), "toxic: ") {
		t.Fatalf("Proxy(nope) = %v; want an *APIError matching ErrProxyNotFound with status 404", err)
	}
	_, err = s.CreateProxy(ProxySpec{Name: "x"})
	if !errors.Is(err, ErrInvalid) || errors.Unwrap(err) == nil {
		t.Fatalf("CreateProxy without upstream = %v; want ErrInvalid with a cause", err)
	}
	if _, err := s.CreateProxy(ProxySpec{Name: "x", Upstream: "127.0.0.1:1", Listen: "203.0.113.1:1", Enabled: true}); !errors.Is(err, ErrListen) {
		t.Fatalf("CreateProxy on an address not on this host = %v; want ErrListen", err)
	}
	s.Close()
	if _, err := s.CreateProxy(ProxySpec{Name: "y", Upstream: "127.0.0.1:1"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("CreateProxy after Close = %v; want ErrClosed", err)
	}
	if code, _ := call(t, s, "GET", "/proxies/y", ""); code != 503 {
		t.Fatalf("API after Close = %d; want 503", code)
	}
}

// TestAddToxicChecksInToxiproxysOrder: Toxiproxy rejects a bad stream or
// type (400), then a taken name (409), and only then reads the attributes
// and toxicity (400).
func TestAddToxicChecksInToxiproxysOrder(t *testing.T) {
	s := newTestServer(t, Config{})
	call(t, s, "POST", "/proxies", `{"name":"p","upstream":"127.0.0.1:1"}`)
	if code, body := call(t, s, "POST", "/proxies/p/toxics", `{"type":"latency"}`); code != 200 {
		t.Fatalf("add latency: %d %s", code, body)
	}
	tests := []struct {
		body string
		want int
	}{
		{`{"type":"latency","attributes":{"latency":-1}}`, 409},
		{`{"type":"latency","attributes":{"latncy":1}}`, 409},
		{`{"type":"latency","toxicity":7}`, 409},
		{`{"name":"latency_downstream","type":"slicer"}`, 409},
		{`{"type":"latency","stream":"sideways"}`, 400},
		{`{"name":"latency_downstream","type":"nonsense"}`, 400},
		{`{"name":"latency_downstream","type":"http_status"}`, 400}, // the type is wrong for a TCP proxy
		{`{"name":"other","type":"latency","attributes":{"latency":-1}}`, 400},
	}
	for _, tt := range tests {
		if code, body := call(t, s, "POST", "/proxies/p/toxics", tt.body); code != tt.want {
			t.Errorf("POST /proxies/p/toxics %s = %d %s; want %d", tt.body, code, body, tt.want)
		}
	}
}

// TestCreateProxyChecksInToxiproxysOrder: Toxiproxy rejects a missing name
// or upstream (400), then a taken name (409), before anything else.
func TestCreateProxyChecksInToxiproxysOrder(t *testing.T) {
	s := newTestServer(t, Config{})
	if code, body := call(t, s, "POST", "/proxies", `{"name":"db","upstream":"127.0.0.1:1"}`); code != 201 {
		t.Fatalf("create db: %d %s", code, body)
	}
	tests := []struct {
		body string
		want int
	}{
		{`{"name":"db","upstream":"127.0.0.1:1","listen":"nope"}`, 409},
		{`{"name":"db","upstream":"127.0.0.1:1","protocol":"udp"}`, 409},
		{`{"name":"db","upstream":"127.0.0.1:1","toxics":[{"type":"nonsense"}]}`, 409},
		{`{"name":"db","upstream":"nohostport"}`, 409},
		{`{"name":"db"}`, 400},
		{`{"upstream":"127.0.0.1:1"}`, 400},
		{`{"name":"other","upstream":"127.0.0.1:1","listen":"nope"}`, 400},
	}
	for _, tt := range tests {
		if code, body := call(t, s, "POST", "/proxies", tt.body); code != tt.want {
			t.Errorf("POST /proxies %s = %d %s; want %d", tt.body, code, body, tt.want)
		}
	}
}

// TestVersionBody: Toxiproxy writes {"version": "..."} with a space and a
// newline, and its tests compare the body byte for byte.
func TestVersionBody(t *testing.T) {
	tests := []struct{ version, want string }{
		{"1.2.3", `{"version": "1.2.3"}` + "\n"},
		{`a"b`, `{"version": "a\"b"}` + "\n"},
	}
	for _, tt := range tests {
		s := newTestServer(t, Config{Version: tt.version})
		code, body := call(t, s, "GET", "/version", "")
		if code != 200 || body != tt.want {
			t.Errorf("GET /version with version %q = %d %q; want 200 %q", tt.version, code, body, tt.want)
		}
		var v struct{ Version string }
		if err := json.Unmarshal([]byte(body), &v); err != nil || v.Version != tt.version {
			t.Errorf("GET /version body %q decodes to %q, %v; want %q", body, v.Version, err, tt.version)
		}
	}
}
