package grpc_test

import (
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// retryRoute retries every 5xx up to three attempts, so that only the
// idempotency rule can keep a request to one attempt.
const retryRoute = "    retry: {attempts: 3, retry_on: [connect_failure, reset, 5xx], backoff: {base: 1ms, max: 2ms}}\n"

// TestGRPCNotRetried sends gRPC calls through a route that retries 5xx, to
// an upstream that answers every request with HTTP 503. A gRPC call is a
// POST, which the proxy must send once: the upstream may have acted on it.
// The same route does retry a GET, and a call whose metadata carries an
// Idempotency-Key, which shows that the one attempt is the idempotency
// rule at work and not a route that never retries.
func TestGRPCNotRetried(t *testing.T) {
	tests := []struct {
		name         string
		call         func(t *testing.T, proxyAddr string)
		wantRequests int
	}{
		{"grpc unary", grpcCall(nil), 1},
		{"grpc unary with idempotency-key", grpcCall(metadata.Pairs("idempotency-key", "order-42")), 3},
		{"http GET", httpGet, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			backend, addr := startRecordingBackend(t, http.StatusServiceUnavailable)
			proxyAddr, stop, err := startHoldfast(holdfastYAML(addr, retryRoute))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(stop)
			tt.call(t, proxyAddr)
			if got := len(backend.received()); got != tt.wantRequests {
				t.Errorf("upstream saw %d requests; want %d", got, tt.wantRequests)
			}
		})
	}
}

// grpcCall makes one unary call with md through the proxy at addr and
// expects the upstream's 503 to reach the client as Unavailable.
func grpcCall(md metadata.MD) func(t *testing.T, addr string) {
	return func(t *testing.T, addr string) {
		conn, err := dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx := metadata.NewOutgoingContext(guarded(t), md)
		_, err = testpb.NewTestServiceClient(conn).UnaryCall(ctx, &testpb.SimpleRequest{})
		if got := status.Code(err); got != codes.Unavailable {
			t.Errorf("call to an upstream answering 503: got %v (%v); want %v", got, err, codes.Unavailable)
		}
	}
}

func httpGet(t *testing.T, addr string) {
	req, err := http.NewRequestWithContext(guarded(t), http.MethodGet, "http://"+addr+"/grpc.testing.TestService/UnaryCall", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET status: got %d; want %d", resp.StatusCode, http.StatusServiceUnavailable)
	}
	if got := resp.Header.Get("X-Holdfast-Attempts"); got != "3" {
		t.Errorf("X-Holdfast-Attempts: got %q; want %q", got, "3")
	}
}

// TestRequestReachesUpstreamAsGRPC checks what the upstream receives for a
// gRPC call: HTTP/2, the method and path, "te: trailers" (which gRPC
// requires and which is the one TE value a proxy may forward), the gRPC
// content type, the deadline as grpc-timeout, and custom metadata.
func TestRequestReachesUpstreamAsGRPC(t *testing.T) {
	backend, addr := startRecordingBackend(t, http.StatusServiceUnavailable)
	conn := proxyConn(t, holdfastYAML(addr, ""))
	ctx := metadata.AppendToOutgoingContext(guarded(t), "x-tenant", "acme")
	testpb.NewTestServiceClient(conn).UnaryCall(ctx, &testpb.SimpleRequest{})
	got := backend.received()
	if len(got) != 1 {
		t.Fatalf("upstream saw %d requests; want 1", len(got))
	}
	r := got[0]
	if r.proto != 2 {
		t.Errorf("protocol: got HTTP/%d; want HTTP/2 (h2c)", r.proto)
	}
	if r.method != http.MethodPost || r.path != "/grpc.testing.TestService/UnaryCall" {
		t.Errorf("request: got %s %s; want POST /grpc.testing.TestService/UnaryCall", r.method, r.path)
	}
	for _, h := range []struct{ key, want string }{
		{"Te", "trailers"},
		{"Content-Type", "application/grpc"},
		{"X-Tenant", "acme"},
	} {
		if got := r.header.Values(h.key); len(got) != 1 || got[0] != h.want {
			t.Errorf("upstream header %s: got %q; want [%q]", h.key, got, h.want)
		}
	}
	if got := r.header.Get("Grpc-Timeout"); got == "" || !strings.ContainsAny(got[len(got)-1:], "HMSmun") {
		t.Errorf("upstream header Grpc-Timeout: got %q; want the client's deadline", got)
	}
}
