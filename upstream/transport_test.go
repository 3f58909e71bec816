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

	for _, tt := range []struct{ protocol, want string }{
		{"", "HTTP/1.1"},
		{ProtocolHTTP1, "HTTP/1.1"},
		{ProtocolH2C, "HTTP/2.0"},
	} {
		t.Run(tt.protocol, func(t *testing.T) {
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
	u, err := New(Config{Endpoints: addrs(1), MaxIdlePerEndpoint: 7, IdleTimeout: 42 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	tr, ok := u.Transport().(*http.Transport)
	if !ok {
		t.Fatalf("Transport() = %T; want *http.Transport", u.Transport())
	}
	if tr.Proxy != nil || !tr.DisableCompression || tr.MaxIdleConnsPerHost != 7 || tr.IdleConnTimeout != 42*time.Second || tr.DialContext == nil {
		t.Errorf("transport = Proxy set %v, DisableCompression %v, MaxIdleConnsPerHost %d, IdleConnTimeout %v; want unset, true, 7, 42s",
			tr.Proxy != nil, tr.DisableCompression, tr.MaxIdleConnsPerHost, tr.IdleConnTimeout)
	}
	if tr.Protocols == nil || !tr.Protocols.HTTP1() || tr.Protocols.HTTP2() || tr.Protocols.UnencryptedHTTP2() {
		t.Errorf("Protocols = %v; want HTTP1 only", tr.Protocols)
	}
}
