package upstream

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestTransportProtocols(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()

	for _, tt := range []struct {
		protocol Protocol
		want     string
	}{
		{"", "HTTP/1.1"},
		{ProtocolHTTP1, "HTTP/1.1"},
		{ProtocolH2C, "HTTP/2.0"},
	} {
		t.Run(string(tt.protocol), func(t *testing.T) {
			u, err := New(Config{Endpoints: []EndpointConfig{{Address: srv.URL}}, Protocol: tt.protocol})
			if err != nil {
				t.Fatal(err)
			}
			defer u.Close()
			ep, _ := u.Pick(Mask{})
			for i := range 2 { // the second request reuses the pooled connection
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, ep.Address().String()+"/", nil)
				resp, err := u.Transport().RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(body) != tt.want || resp.Proto != tt.want {
					t.Errorf("request %d: server saw %s, client got %s; want %s", i, body, resp.Proto, tt.want)
				}
			}
		})
	}
}

func TestTransportSettings(t *testing.T) {
	u, err := New(Config{Endpoints: addrs(1), MaxIdlePerEndpoint: 7, IdleTimeout: 42 * time.Second, ConnectTimeout: 3 * time.Second, MaxResponseHeaderBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	tr, ok := u.Transport().(*Transport)
	if !ok {
		t.Fatalf("Transport() = %T; want *Transport", u.Transport())
	}
	h := tr.h1
	if h == nil || tr.h2 != nil {
		t.Fatalf("http1 upstream: h1 %v, h2 %v; want h1 only", h != nil, tr.h2 != nil)
	}
	if h.maxIdle != 7 || h.idleTimeout != 42*time.Second || h.dialer.Timeout != 3*time.Second || h.maxHead != 1000 {
		t.Errorf("h1 = maxIdle %d, idleTimeout %v, connect %v, maxHead %d; want 7, 42s, 3s, 1000", h.maxIdle, h.idleTimeout, h.dialer.Timeout, h.maxHead)
	}

	u2, err := New(Config{Endpoints: addrs(1), Protocol: ProtocolH2C, MaxIdlePerEndpoint: 7, IdleTimeout: 42 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer u2.Close()
	h2 := u2.Transport().(*Transport).h2
	if h2 == nil || h2.Proxy != nil || !h2.DisableCompression || h2.MaxIdleConnsPerHost != 7 || h2.IdleConnTimeout != 42*time.Second || h2.DialContext == nil {
		t.Fatalf("h2c transport = %+v; want no proxy, no compression, 7 idle, 42s", h2)
	}
	if h2.Protocols == nil || h2.Protocols.HTTP1() || !h2.Protocols.UnencryptedHTTP2() {
		t.Errorf("Protocols = %v; want HTTP/2 only", h2.Protocols)
	}
}
