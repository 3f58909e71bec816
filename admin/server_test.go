package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/config"
)

func TestEndpoints(t *testing.T) {
	e := startEnv(t, envOptions{})
	tests := []struct {
		method, path string
		want         int
		wantType     string // Content-Type prefix
		wantBody     string // substring
	}{
		{"GET", "/healthz", 200, "text/plain", "ok"},
		{"HEAD", "/healthz", 200, "text/plain", ""},
		{"GET", "/readyz", 200, "application/json", `"ready": true`},
		{"GET", "/status", 200, "application/json", `"routes"`},
		{"GET", "/config", 200, "application/yaml", "upstreams:"},
		{"GET", "/config?format=json", 200, "application/json", `"upstreams"`},
		{"GET", "/config?format=xml", 400, "application/json", "format must be"},
		{"GET", "/metrics", 200, "text/plain", "holdfast_upstream_breaker_state"},
		{"GET", "/", 200, "text/html", "<title>holdfast status</title>"},
		{"GET", "/ui/app.js", 200, "text/javascript", "fetch('status'"},
		{"GET", "/ui/style.css", 200, "text/css", ".upstream"},
		{"GET", "/nope", 404, "text/plain", ""},
		{"GET", "/reload", 405, "text/plain", ""},
		{"POST", "/healthz", 405, "text/plain", ""},
		{"DELETE", "/quiesce", 405, "text/plain", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			status, body, h := e.do(tt.method, tt.path, nil, nil)
			if status != tt.want {
				t.Fatalf("got status %d; want %d (body %q)", status, tt.want, body)
			}
			if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, tt.wantType) {
				t.Errorf("got Content-Type %q; want prefix %q", ct, tt.wantType)
			}
			if !strings.Contains(body, tt.wantBody) {
				t.Errorf("got body %.300q; want it to contain %q", body, tt.wantBody)
			}
			if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("got X-Content-Type-Options %q; want nosniff", got)
			}
		})
	}
}

func TestIndexHasContentSecurityPolicy(t *testing.T) {
	e := startEnv(t, envOptions{})
	_, _, h := e.do("GET", "/", nil, nil)
	if got := h.Get("Content-Security-Policy"); got != contentSecurityPolicy {
		t.Errorf("got Content-Security-Policy %q; want %q", got, contentSecurityPolicy)
	}
}

func TestReadyz(t *testing.T) {
	e := startEnv(t, envOptions{})
	steps := []struct {
		name   string
		do     func()
		want   int
		reason string // the field that must be true in the body
	}{
		{"fresh", func() {}, 200, "ready"},
		{"quiesced", func() { e.srv.SetQuiesced(true) }, 503, "quiesced"},
		{"unquiesced", func() { e.srv.SetQuiesced(false) }, 200, "ready"},
		{"quiesced by POST", func() { e.do("POST", "/quiesce", nil, nil) }, 503, "quiesced"},
		{"unquiesced by POST", func() { e.do("POST", "/unquiesce", nil, nil) }, 200, "ready"},
		{"draining", e.srv.SetDraining, 503, "draining"},
		{"draining outlasts unquiesce", func() { e.do("POST", "/unquiesce", nil, nil) }, 503, "draining"},
	}
	for _, s := range steps {
		s.do()
		status, body, _ := e.do("GET", "/readyz", nil, nil)
		if status != s.want {
			t.Fatalf("%s: got status %d; want %d", s.name, status, s.want)
		}
		var rd map[string]bool
		if err := json.Unmarshal([]byte(body), &rd); err != nil {
			t.Fatalf("%s: body %q: %v", s.name, body, err)
		}
		if !rd[s.reason] {
			t.Errorf("%s: got %v; want %s true", s.name, rd, s.reason)
		}
		if got := e.srv.Ready(); got != (s.want == 200) {
			t.Errorf("%s: got Ready() %v; want %v", s.name, got, s.want == 200)
		}
	}
}

func TestTokenGuardsMutatingEndpoints(t *testing.T) {
	e := startEnv(t, envOptions{token: true})
	auth := func(v string) http.Header {
		if v == "" {
			return nil
		}
		return http.Header{"Authorization": {v}}
	}
	tests := []struct {
		name          string
		authorization string
		want          int
	}{
		{"no header", "", 401},
		{"wrong token", "Bearer nope", 401},
		{"token prefix", "Bearer " + testToken[:5], 401},
		{"token with extra", "Bearer " + testToken + "x", 401},
		{"basic scheme", "Basic " + testToken, 401},
		{"bare token", testToken, 401},
		{"empty bearer", "Bearer ", 401},
		{"right token", "Bearer " + testToken, 200},
		{"scheme in lower case", "bearer " + testToken, 200},
	}
	for _, path := range []string{"/reload", "/quiesce", "/unquiesce"} {
		for _, tt := range tests {
			before := e.reloads.Load()
			status, body, h := e.do("POST", path, auth(tt.authorization), nil)
			if status != tt.want {
				t.Errorf("POST %s, %s: got status %d; want %d (body %q)", path, tt.name, status, tt.want, body)
			}
			if tt.want == 401 {
				if got := h.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("POST %s, %s: got WWW-Authenticate %q; want a Bearer challenge", path, tt.name, got)
				}
				if e.reloads.Load() != before {
					t.Errorf("POST %s, %s: reload ran without the token", path, tt.name)
				}
				if !e.srv.Ready() {
					t.Errorf("POST %s, %s: readiness changed without the token", path, tt.name)
				}
			}
			if path == "/quiesce" && tt.want == 200 {
				e.srv.SetQuiesced(false)
			}
		}
	}
	// Reading needs no token.
	for _, path := range []string{"/healthz", "/readyz", "/status", "/config", "/metrics", "/"} {
		if status, _, _ := e.do("GET", path, nil, nil); status != 200 {
			t.Errorf("GET %s without a token: got status %d; want 200", path, status)
		}
	}
	// The token never reaches the logs, even from refused requests.
	if logs := e.logs.String(); strings.Contains(logs, testToken) || strings.Contains(logs, testToken[:5]) {
		t.Errorf("the logs hold the token:\n%s", logs)
	}
	if !strings.Contains(e.logs.String(), "reload requested") {
		t.Errorf("got logs %q; want the reload logged", e.logs.String())
	}
}

func TestMutatingWithoutTokenOnLoopback(t *testing.T) {
	e := startEnv(t, envOptions{})
	for _, path := range []string{"/reload", "/quiesce", "/unquiesce"} {
		if status, body, _ := e.do("POST", path, nil, nil); status != 200 {
			t.Errorf("POST %s: got status %d; want 200 (body %q)", path, status, body)
		}
	}
	if got := e.reloads.Load(); got != 1 {
		t.Errorf("got %d reloads; want 1", got)
	}
}

func TestReload(t *testing.T) {
	e := startEnv(t, envOptions{})
	status, body, _ := e.do("POST", "/reload", nil, nil)
	if status != 200 || !strings.Contains(body, `"reloaded"`) {
		t.Errorf("good reload: got %d %q; want 200 reloaded", status, body)
	}
	e.setReloadErr(errReloadRejected)
	status, body, _ = e.do("POST", "/reload", nil, nil)
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "must be positive") {
		t.Errorf("rejected reload: got %d %q; want 422 with the reason", status, body)
	}
	if got := e.reloads.Load(); got != 2 {
		t.Errorf("got %d reloads; want 2", got)
	}

	n := startEnv(t, envOptions{noReload: true})
	if status, _, _ := n.do("POST", "/reload", nil, nil); status != http.StatusNotImplemented {
		t.Errorf("reload without a Reload func: got status %d; want 501", status)
	}
}

func TestRefusesForeignHostOnLoopback(t *testing.T) {
	e := startEnv(t, envOptions{})
	tests := []struct {
		host string
		want int
	}{
		{"", 200}, // the client's own: 127.0.0.1:port
		{"localhost", 200},
		{"localhost:9901", 200},
		{"admin.localhost", 200},
		{"[::1]:9901", 200},
		{"127.0.0.2", 200},
		{"attacker.example", http.StatusMisdirectedRequest},
		{"attacker.example:9901", http.StatusMisdirectedRequest},
		{"10.0.0.1", http.StatusMisdirectedRequest},
		{"localhost.attacker.example", http.StatusMisdirectedRequest},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", e.base+"/status", nil)
		if tt.host != "" {
			req.Host = tt.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("Host %q: got status %d; want %d", tt.host, resp.StatusCode, tt.want)
		}
	}
}

func TestRefusesCrossOriginPost(t *testing.T) {
	e := startEnv(t, envOptions{})
	tests := []struct {
		name   string
		header http.Header
		want   int
	}{
		{"cross-site fetch", http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
		{"foreign origin", http.Header{"Origin": {"http://attacker.example"}}, http.StatusForbidden},
		{"same origin", http.Header{"Sec-Fetch-Site": {"same-origin"}}, 200},
		{"no browser headers (curl)", nil, 200},
	}
	for _, tt := range tests {
		status, _, _ := e.do("POST", "/quiesce", tt.header, nil)
		if status != tt.want {
			t.Errorf("%s: got status %d; want %d", tt.name, status, tt.want)
		}
		if got, want := e.srv.Ready(), tt.want != 200; got != want {
			t.Errorf("%s: got Ready() %v; want %v", tt.name, got, want)
		}
		e.srv.SetQuiesced(false)
	}
}

func TestBoundsRequestBodies(t *testing.T) {
	e := startEnv(t, envOptions{})
	status, _, _ := e.do("POST", "/reload", nil, strings.NewReader(strings.Repeat("x", maxBodyBytes+1)))
	if status != http.StatusRequestEntityTooLarge {
		t.Errorf("got status %d; want 413", status)
	}
	if got := e.reloads.Load(); got != 0 {
		t.Errorf("got %d reloads; want 0", got)
	}
}

func TestNewRefusesBadAccess(t *testing.T) {
	e := startEnv(t, envOptions{})
	tests := []struct {
		name    string
		cfg     Config
		wantKey string
	}{
		{"non-loopback without token", Config{Admin: config.Admin{Listen: "0.0.0.0:0"}, Proxy: e.proxy}, "listen"},
		{"all interfaces without token", Config{Admin: config.Admin{Listen: ":0"}, Proxy: e.proxy}, "listen"},
		{"missing token file", Config{Admin: config.Admin{Listen: "127.0.0.1:0", TokenFile: "/nonexistent/token"}, Proxy: e.proxy}, "token_file"},
		{"empty token file", Config{Admin: config.Admin{Listen: "127.0.0.1:0", TokenFile: writeFile(t, "empty", " \n\t")}, Proxy: e.proxy}, "token_file"},
		{"no proxy", Config{Admin: config.Admin{Listen: "127.0.0.1:0"}}, "proxy"},
	}
	for _, tt := range tests {
		srv, err := New(tt.cfg)
		if err == nil {
			srv.Close()
			t.Errorf("%s: got no error; want one", tt.name)
			continue
		}
		var ce *holdfast.ConfigError
		if !errors.As(err, &ce) || ce.Key != tt.wantKey || ce.Policy != "admin" {
			t.Errorf("%s: got %v; want a ConfigError for admin.%s", tt.name, err, tt.wantKey)
		}
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	e := startEnv(t, envOptions{})
	e.srv.Close()
	e.srv.Close()
	if _, err := http.Get(e.base + "/healthz"); err == nil {
		t.Errorf("GET after Close: got an answer; want a refused connection")
	}
}
