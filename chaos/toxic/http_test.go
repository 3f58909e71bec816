package toxic

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func mustHTTP(t *testing.T, body string) *entry {
	t.Helper()
	e, err := parseBody([]byte(body), protoHTTP)
	if err != nil {
		t.Fatalf("parse %s: %v", body, err)
	}
	return e
}

func TestMatch(t *testing.T) {
	m := mustHTTP(t, `{"type":"http_status","attributes":{"match":{"methods":["get","HEAD"],"path_prefix":"/api","headers":{"x-env":"canary","x-debug":""}}}}`).http.matcher()
	tests := []struct {
		method, path string
		hdr          map[string]string
		want         bool
	}{
		{"GET", "/api/items", map[string]string{"X-Env": "canary", "X-Debug": "1"}, true},
		{"HEAD", "/api", map[string]string{"X-Env": "canary", "X-Debug": ""}, true},
		{"POST", "/api/items", map[string]string{"X-Env": "canary", "X-Debug": "1"}, false},
		{"GET", "/web", map[string]string{"X-Env": "canary", "X-Debug": "1"}, false},
		{"GET", "/api", map[string]string{"X-Env": "prod", "X-Debug": "1"}, false},
		{"GET", "/api", map[string]string{"X-Env": "canary"}, false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.path, nil)
		for k, v := range tt.hdr {
			r.Header.Set(k, v)
		}
		if got := m.matches(r); got != tt.want {
			t.Errorf("%s %s %v: matches = %v; want %v", tt.method, tt.path, tt.hdr, got, tt.want)
		}
	}
	var none *match
	if !none.matches(httptest.NewRequest("GET", "/", nil)) {
		t.Errorf("a nil match must take every request")
	}
}

func TestHTTPDelayDraw(t *testing.T) {
	tests := []struct {
		attrs string
		u, z  float64
		want  float64 // ms
	}{
		{`{"delay":40}`, 0.7, 0, 40},
		{`{"distribution":"uniform","min":10,"max":20}`, 0, 0, 10},
		{`{"distribution":"uniform","min":10,"max":20}`, 0.5, 0, 15},
		{`{"distribution":"normal","mean":100,"stddev":10}`, 0, 1.5, 115},
		{`{"distribution":"normal","mean":10,"stddev":10}`, 0, -3, 0}, // never negative
		{`{"distribution":"pareto","scale":10,"shape":1}`, 0, 0, 10},  // the minimum
		{`{"distribution":"pareto","scale":10,"shape":1}`, 0.9, 0, 100},
		{`{"distribution":"pareto","scale":10,"shape":2}`, 0.75, 0, 20},
		{`{"distribution":"pareto","scale":10,"shape":1,"cap":50}`, 0.99, 0, 50},
	}
	for _, tt := range tests {
		d := mustHTTP(t, `{"type":"http_delay","attributes":`+tt.attrs+`}`).http.(*httpDelay)
		if got := d.draw(tt.u, tt.z); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s draw(%g, %g) = %g; want %g", tt.attrs, tt.u, tt.z, got, tt.want)
		}
	}
}

func TestHTTPDelayWaitsAndGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := mustHTTP(t, `{"type":"http_delay","attributes":{"delay":300}}`).http
		start := time.Now()
		if rep := d.apply(httptest.NewRequest("GET", "/", nil)); rep != nil || time.Since(start) != 300*time.Millisecond {
			t.Fatalf("apply = %v after %v; want nil after 300ms", rep, time.Since(start))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start = time.Now()
		d.apply(httptest.NewRequest("GET", "/", nil).WithContext(ctx))
		if time.Since(start) != 50*time.Millisecond {
			t.Fatalf("apply with a 50ms context returned after %v", time.Since(start))
		}
	})
}

// frontRig is an HTTP proxy served in memory in front of a test backend.
func frontRig(t *testing.T) (*proxy, *front, *int) {
	t.Helper()
	hits := new(int)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*hits++
		w.Header().Set("X-Backend", "yes")
		io.WriteString(w, "from backend "+r.Host)
	}))
	t.Cleanup(backend.Close)
	s := newTestServer(t, Config{})
	p := newProxy(s, ProxySpec{Name: "web", Protocol: protoHTTP, Upstream: backend.URL})
	f := newFront(p, backend.URL)
	t.Cleanup(f.close)
	return p, f, hits
}

func serve(h http.Handler, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(method, path, nil)
	r.Host = "svc.example"
	h.ServeHTTP(rec, r)
	return rec
}

func TestFrontAppliesHTTPToxics(t *testing.T) {
	p, f, hits := frontRig(t)
	if rec := serve(f, "GET", "/x"); rec.Code != 200 || rec.Body.String() != "from backend svc.example" {
		t.Fatalf("no toxics: %d %q; want the backend's answer with the client's Host", rec.Code, rec.Body)
	}
	if _, err := p.addToxic(ToxicSpec{Name: "down", Type: "http_status", Toxicity: 1,
		Attributes: []byte(`{"status":503,"headers":{"Retry-After":"2"},"match":{"methods":["POST"]}}`)}); err != nil {
		t.Fatal(err)
	}
	*hits = 0
	rec := serve(f, "POST", "/x")
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "2" || rec.Header().Get("X-Holdfast-Chaos") != "down" ||
		!strings.Contains(rec.Body.String(), `"reason":"http_status"`) || *hits != 0 {
		t.Fatalf("matching POST: %d %v %q, backend hits %d; want a local 503 that never reached the backend", rec.Code, rec.Header(), rec.Body, *hits)
	}
	if rec := serve(f, "GET", "/x"); rec.Code != 200 {
		t.Fatalf("GET outside the match: %d; want 200", rec.Code)
	}
	p.removeToxic("down")

	p.addToxic(ToxicSpec{Name: "ff", Type: "http_fail_first", Toxicity: 1, Attributes: []byte(`{"count":2,"status":502,"body":"warming up"}`)})
	var codes []int
	for i := 0; i < 4; i++ {
		codes = append(codes, serve(f, "GET", "/").Code)
	}
	if codes[0] != 502 || codes[1] != 502 || codes[2] != 200 || codes[3] != 200 {
		t.Fatalf("http_fail_first count 2: %v; want 502 502 200 200", codes)
	}
	p.removeToxic("ff")

	p.addToxic(ToxicSpec{Name: "never", Type: "http_status", Toxicity: 0})
	for i := 0; i < 20; i++ {
		if c := serve(f, "GET", "/").Code; c != 200 {
			t.Fatalf("toxicity 0 answered %d", c)
		}
	}
}

func TestFrontToxicityRolledPerRequest(t *testing.T) {
	p, f, _ := frontRig(t)
	p.addToxic(ToxicSpec{Type: "http_status", Toxicity: 0.5})
	failed := 0
	const n = 400
	for i := 0; i < n; i++ {
		if serve(f, "GET", "/").Code == 503 {
			failed++
		}
	}
	// Binomial(400, 0.5): 6 standard deviations either side.
	if failed < 140 || failed > 260 {
		t.Fatalf("%d of %d requests failed at toxicity 0.5; want about half", failed, n)
	}
}

func TestFrontUpstreamDown(t *testing.T) {
	s := newTestServer(t, Config{})
	p := newProxy(s, ProxySpec{Name: "web", Protocol: protoHTTP, Upstream: "127.0.0.1:1"})
	f := newFront(p, "127.0.0.1:1")
	defer f.close()
	rec := serve(f, "GET", "/")
	if rec.Code != 502 || rec.Header().Get("X-Holdfast-Reason") != "upstream_unreachable" {
		t.Fatalf("unreachable upstream: %d %v; want a 502 local reply", rec.Code, rec.Header())
	}
}

func TestFrontDownstreamDelayHoldsTheAnswer(t *testing.T) {
	p, f, hits := frontRig(t)
	p.addToxic(ToxicSpec{Type: "http_delay", Stream: "downstream", Toxicity: 1, Attributes: []byte(`{"delay":1}`)})
	p.addToxic(ToxicSpec{Type: "http_delay", Stream: "upstream", Toxicity: 1, Attributes: []byte(`{"delay":1}`)})
	*hits = 0
	if rec := serve(f, "GET", "/"); rec.Code != 200 || *hits != 1 || rec.Header().Get("X-Backend") != "yes" {
		t.Fatalf("delayed request: %d, hits %d; want the backend's answer", rec.Code, *hits)
	}
}
