//go:build !race

package adversarial

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestHostileUpstreams: upstreams that misbehave must get a prompt, honest
// answer to the client and never cost holdfast its memory.
func TestHostileUpstreams(t *testing.T) {
	t.Parallel()

	// Like net/http's Transport (MaxResponseHeaderBytes), holdfast must
	// bound a response head, or one endpoint can grow it without end.
	t.Run("endless_response_headers", func(t *testing.T) {
		t.Parallel()
		flood := func(c *backendConn) {
			if _, err := http.ReadRequest(c.r); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\n")
			value := strings.Repeat("a", 1000)
			var batch bytes.Buffer
			for line, sent := 0, 0; sent < 1<<30; {
				batch.Reset()
				for range 64 {
					fmt.Fprintf(&batch, "X-Flood-%09d: %s\r\n", line, value)
					line++
				}
				n, err := c.Write(batch.Bytes())
				if err != nil {
					return
				}
				sent += n
			}
		}
		h := startHoldfast(t, minimal+"    timeout: 10s\n", map[string]string{"A": newRawBackend(t, flood).URL()})
		ref := reference(t, newRawBackend(t, flood).URL())

		stop := memoryGuard(h.pid(), 512)
		start := time.Now()
		resp, _, err := roundTrip(h.addr, "GET /flood HTTP/1.1\r\nHost: app\r\n\r\n", http.MethodGet, 5*time.Second)
		took := time.Since(start)
		peak, killed := stop()

		refStart := time.Now()
		refResp, _, refErr := roundTrip(ref, "GET /flood HTTP/1.1\r\nHost: app\r\n\r\n", http.MethodGet, 5*time.Second)
		t.Logf("httputil.ReverseProxy: %s %v after %v", statusOf(refResp), refErr, time.Since(refStart).Round(time.Millisecond))

		if killed {
			t.Fatalf("holdfast passed 512 MiB of resident memory reading an endless response head; killed it")
		}
		if err != nil || resp.StatusCode != http.StatusBadGateway || took > 3*time.Second {
			t.Errorf("endless response headers: %s %v after %v; want 502 within 3s", statusOf(resp), err, took.Round(time.Millisecond))
		}
		if peak >= 200 {
			t.Errorf("holdfast's resident memory peaked at %.0f MiB; want under 200 MiB", peak)
		}
	})

	// An upstream may answer before it has read the request body (RFC 9112
	// §9.5); its answer must reach the client, not a 502 for the upload it
	// stopped reading.
	t.Run("early_413_on_large_upload", func(t *testing.T) {
		t.Parallel()
		refuse := func(c *backendConn) {
			if _, err := http.ReadRequest(c.r); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large")
			c.sleep(3 * time.Second) // reads nothing more; then hangs up
		}
		h := startHoldfast(t, minimal+"    timeout: 6s\n", map[string]string{"A": newRawBackend(t, refuse).URL()})
		ref := reference(t, newRawBackend(t, refuse).URL())
		upload := func(addr string) (*http.Response, []byte, error) {
			const size = 8 << 20
			c, err := dial(addr)
			if err != nil {
				return nil, nil, err
			}
			defer c.Close()
			c.send(fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: app\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", size))
			go func() {
				block := bytes.Repeat([]byte("u"), 64<<10)
				c.SetWriteDeadline(time.Now().Add(8 * time.Second))
				for sent := 0; sent < size; sent += len(block) {
					if _, err := c.Write(block); err != nil {
						return
					}
				}
			}()
			return c.response(http.MethodPost, 8*time.Second)
		}
		refResp, _, refErr := upload(ref)
		t.Logf("httputil.ReverseProxy: %s %v", statusOf(refResp), refErr)
		resp, body, err := upload(h.addr)
		if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("8 MiB upload to an upstream that answers 413 at once and stops reading: %s %v %q; want the upstream's 413", statusOf(resp), err, truncate(body, 100))
		}
	})

	t.Run("expect_100_continue", func(t *testing.T) {
		t.Parallel()
		continues := func(c *backendConn) {
			for {
				req, err := http.ReadRequest(c.r)
				if err != nil {
					return
				}
				saw := "no"
				if strings.EqualFold(req.Header.Get("Expect"), "100-continue") {
					saw = "yes"
					io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
				}
				body, err := io.ReadAll(req.Body)
				if err != nil {
					return
				}
				io.WriteString(c, ok200(string(body), "X-Saw-Expect: "+saw))
			}
		}
		h := startHoldfast(t, minimal, map[string]string{"A": newRawBackend(t, continues).URL()})
		ref := reference(t, newRawBackend(t, continues).URL())
		exchange := func(addr string) error {
			c, err := dial(addr)
			if err != nil {
				return err
			}
			defer c.Close()
			c.send("POST /e HTTP/1.1\r\nHost: app\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n")
			interim, _, err := c.response(http.MethodPost, 3*time.Second)
			if err != nil {
				return fmt.Errorf("waiting for 100 Continue: %v", err)
			}
			if interim.StatusCode != http.StatusContinue {
				return fmt.Errorf("got %s before the body was sent; want 100 Continue", interim.Status)
			}
			c.send("hello world")
			resp, body, err := c.response(http.MethodPost, 3*time.Second)
			if err != nil || resp.StatusCode != http.StatusOK || string(body) != "hello world" {
				return fmt.Errorf("after the body: %s %v %q; want 200 \"hello world\"", statusOf(resp), err, body)
			}
			return nil
		}
		if err := exchange(ref); err != nil {
			t.Logf("httputil.ReverseProxy: %v", err)
		}
		if err := exchange(h.addr); err != nil {
			t.Errorf("Expect: 100-continue through holdfast: %v", err)
		}
	})

	// RFC 9112 §9.6: after "Connection: close" the connection is done, even
	// when the upstream does not hang up at once.
	t.Run("connection_close_from_upstream", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name    string
			hangsUp bool
		}{
			{"closes after answering", true},
			{"keeps the socket open", false},
		} {
			var conns atomic.Int32
			backend := newRawBackend(t, func(c *backendConn) {
				n := conns.Add(1)
				answer(c, func(*http.Request, []byte) string {
					if tc.hangsUp {
						io.WriteString(c, ok200(fmt.Sprintf("conn %d", n), "Connection: close"))
						return ""
					}
					return ok200(fmt.Sprintf("conn %d", n), "Connection: close")
				})
			})
			h := startHoldfast(t, minimal+"    retry: {attempts: 1}\n", map[string]string{"A": backend.URL()})
			for i := 1; i <= 3; i++ {
				resp, body, err := roundTrip(h.addr, "POST /c HTTP/1.1\r\nHost: app\r\nContent-Length: 2\r\n\r\nhi", http.MethodPost, 3*time.Second)
				if want := fmt.Sprintf("conn %d", i); err != nil || resp.StatusCode != http.StatusOK || string(body) != want {
					t.Errorf("upstream that %s, request %d: %s %v %q; want 200 %q (a new upstream connection)", tc.name, i, statusOf(resp), err, body, want)
				}
			}
			for i, c := range backend.connections() {
				if n := len(parseRequests(c.received())); n != 1 {
					t.Errorf("upstream that %s: its connection %d carried %d requests after answering Connection: close; want 1", tc.name, i+1, n)
				}
			}
		}
	})

	t.Run("localhost_without_port", func(t *testing.T) {
		const config = `
listen: {{.Listen}}
admin: {listen: {{.Admin}}}
upstreams:
  app:
    endpoints: [{address: "http://localhost"}]
routes:
  - name: all
    upstream: app
`
		file := filepath.Join(t.TempDir(), "holdfast.yaml")
		os.WriteFile(file, []byte(renderConfig(t, config, map[string]string{"Listen": unusedAddr(t), "Admin": unusedAddr(t)})), 0o600)
		if out, err := exec.Command(binary, "validate", "-c", file).CombinedOutput(); err != nil {
			t.Fatalf("holdfast validate with endpoint http://localhost: %v\n%s", err, out)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:80")
		if err != nil {
			// Only the config is checked here; the request needs port 80.
			t.Logf("cannot listen on 127.0.0.1:80 (%v): http://localhost was validated, not served", err)
			return
		}
		serveRaw(t, ln, func(c *backendConn) {
			answer(c, func(*http.Request, []byte) string { return ok200("port 80") })
		})
		h := startHoldfast(t, config, nil)
		resp, body, err := roundTrip(h.addr, "GET / HTTP/1.1\r\nHost: app\r\n\r\n", http.MethodGet, 3*time.Second)
		if err != nil || resp.StatusCode != http.StatusOK || string(body) != "port 80" {
			t.Errorf("GET through endpoint http://localhost: %s %v %q; want 200 from the server on port 80", statusOf(resp), err, body)
		}
	})

	t.Run("tls_upstream", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		caFile, cert := testPKI(t, dir, "api.internal")
		var checks atomic.Int32
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/healthz" {
				if r.TLS != nil && r.TLS.ServerName == "api.internal" {
					checks.Add(1)
				}
				return
			}
			fmt.Fprintf(w, "secure %s sni=%s", r.URL.Path, r.TLS.ServerName)
		}))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		srv.StartTLS()
		t.Cleanup(srv.Close)
		const config = `
listen: {{.Listen}}
admin: {listen: {{.Admin}}}
upstreams:
  secure:
    endpoints: [{address: "https://{{.Server}}"}]
    tls: {ca_file: "{{.CA}}", server_name: api.internal}
    health_check: {path: /healthz, interval: 200ms, timeout: 1s}
routes:
  - name: all
    upstream: secure
`
		h := startHoldfast(t, config, map[string]string{"Server": srv.Listener.Addr().String(), "CA": caFile})
		resp, body, err := roundTrip(h.addr, "GET /x HTTP/1.1\r\nHost: app\r\n\r\n", http.MethodGet, 3*time.Second)
		if err != nil || resp.StatusCode != http.StatusOK || string(body) != "secure /x sni=api.internal" {
			t.Errorf("GET through an https:// endpoint with tls.ca_file and tls.server_name: %s %v %q; want 200 \"secure /x sni=api.internal\"", statusOf(resp), err, body)
		}
		deadline := time.Now().Add(3 * time.Second)
		for checks.Load() < 2 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if n := checks.Load(); n < 2 {
			t.Errorf("the endpoint received %d health checks over TLS (SNI api.internal) in 3s at a 200ms interval; want at least 2", n)
		}
		for _, up := range h.status(t).Upstreams {
			for _, e := range up.Endpoints {
				if !e.Healthy || e.LastCheckError != "" || e.LastCheck.IsZero() {
					t.Errorf("endpoint %s: healthy %v, last check %v, error %q; want healthy after a passing TLS check", e.Address, e.Healthy, e.LastCheck, e.LastCheckError)
				}
			}
		}
	})
}

// testPKI writes a new CA's certificate to dir and returns its path and a
// server certificate for host signed by it (valid for host only, not for
// the loopback address the server listens on).
func testPKI(t *testing.T, dir, host string) (caFile string, cert tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "holdfast adversarial test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}
}
