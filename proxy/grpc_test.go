package proxy

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var grpcTimeoutTests = []struct {
	in     string
	want   time.Duration
	wantOK bool
}{
	{"1H", time.Hour, true},
	{"2M", 2 * time.Minute, true},
	{"30S", 30 * time.Second, true},
	{"250m", 250 * time.Millisecond, true},
	{"999999u", 999999 * time.Microsecond, true},
	{"0n", 0, true},
	{"99999999n", 99999999, true},
	{"00000001S", time.Second, true},
	{"99999999H", math.MaxInt64, true}, // past time.Duration: the largest one
	{"", 0, false},
	{"S", 0, false},
	{"10", 0, false},
	{"10s", 0, false}, // units are case-sensitive: s is not a unit
	{"10x", 0, false},
	{"-1S", 0, false},
	{"+1S", 0, false},
	{"1.5S", 0, false},
	{" 1S", 0, false},
	{"123456789S", 0, false}, // nine digits
}

func TestGRPCTimeout(t *testing.T) {
	for _, tt := range grpcTimeoutTests {
		got, ok := grpcTimeout(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("grpcTimeout(%q): got %v, %t; want %v, %t", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func FuzzGRPCTimeout(f *testing.F) {
	for _, tt := range grpcTimeoutTests {
		f.Add(tt.in)
	}
	units := map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second, 'm': time.Millisecond, 'u': time.Microsecond, 'n': time.Nanosecond}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := grpcTimeout(v)
		if !ok {
			if d != 0 {
				t.Fatalf("grpcTimeout(%q): got %v with ok false; want 0", v, d)
			}
			return
		}
		if d < 0 {
			t.Fatalf("grpcTimeout(%q): got negative %v", v, d)
		}
		// An accepted value is digits and a unit, and means what they say
		// unless it does not fit a Duration.
		n, err := strconv.ParseUint(v[:len(v)-1], 10, 64)
		unit, known := units[v[len(v)-1]]
		if err != nil || !known || len(v) > 9 {
			t.Fatalf("grpcTimeout(%q): accepted a malformed value as %v", v, d)
		}
		if n <= uint64(math.MaxInt64/int64(unit)) && d != time.Duration(n)*unit {
			t.Fatalf("grpcTimeout(%q): got %v; want %v", v, d, time.Duration(n)*unit)
		}
	})
}

func TestIsGRPC(t *testing.T) {
	tests := []struct {
		contentType string
		want        bool
	}{
		{"application/grpc", true},
		{"application/grpc+proto", true},
		{"application/grpc+json", true},
		{"application/grpc; charset=utf-8", true},
		{"Application/GRPC", true}, // media types are case-insensitive
		{"application/grpc-web", false},
		{"application/grpc-web+proto", false},
		{"application/grpcx", false},
		{"application/json", false},
		{"", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, "/svc/Method", nil)
		if tt.contentType != "" {
			r.Header.Set("Content-Type", tt.contentType)
		}
		if got := isGRPC(r); got != tt.want {
			t.Errorf("isGRPC(content-type %q): got %t; want %t", tt.contentType, got, tt.want)
		}
	}
}

func TestGRPCCode(t *testing.T) {
	tests := []struct {
		status int
		reason string
		want   int
	}{
		{http.StatusGatewayTimeout, ReasonTimeout, grpcDeadlineExceeded},
		{http.StatusTooManyRequests, ReasonRateLimited, grpcResourceExhausted},
		{http.StatusRequestEntityTooLarge, ReasonBodyTooLarge, grpcResourceExhausted},
		{http.StatusNotFound, ReasonNoRoute, grpcUnimplemented},
		{http.StatusBadRequest, ReasonInvalidRequest, grpcInternal},
		{http.StatusServiceUnavailable, ReasonBreakerOpen, grpcUnavailable},
		{http.StatusServiceUnavailable, ReasonOverloaded, grpcUnavailable},
		{http.StatusServiceUnavailable, ReasonNoHealthyUpstream, grpcUnavailable},
		{http.StatusBadGateway, ReasonUpstreamReset, grpcUnavailable},
		{http.StatusBadGateway, ReasonUpstreamError, grpcUnavailable},
		// Injected faults carry any status: gRPC's HTTP table decides.
		{http.StatusBadRequest, ReasonFault, grpcInternal},
		{http.StatusUnauthorized, ReasonFault, grpcUnauthenticated},
		{http.StatusForbidden, ReasonFault, grpcPermissionDenied},
		{http.StatusNotFound, ReasonFault, grpcUnimplemented},
		{http.StatusTooManyRequests, ReasonFault, grpcUnavailable},
		{http.StatusBadGateway, ReasonFault, grpcUnavailable},
		{http.StatusServiceUnavailable, ReasonFault, grpcUnavailable},
		{http.StatusGatewayTimeout, ReasonFault, grpcUnavailable},
		{http.StatusInternalServerError, ReasonFault, grpcUnknown},
		{http.StatusTeapot, ReasonFault, grpcUnknown},
	}
	for _, tt := range tests {
		if got := grpcCode(tt.status, tt.reason); got != tt.want {
			t.Errorf("grpcCode(%d, %q): got %d; want %d", tt.status, tt.reason, got, tt.want)
		}
	}
}

func TestGRPCPercentEncode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"no route matches POST /a.B/C", "no route matches POST /a.B/C"},
		{"100%", "100%25"},
		{"line\nbreak\ttab", "line%0Abreak%09tab"},
		{"café", "caf%C3%A9"},
		{"\x00\x7f", "%00%7F"},
	}
	for _, tt := range tests {
		if got := grpcPercentEncode(tt.in); got != tt.want {
			t.Errorf("grpcPercentEncode(%q): got %q; want %q", tt.in, got, tt.want)
		}
	}
}

// TestGRPCLocalReply checks the Trailers-Only shape: HTTP 200, the gRPC
// content type, status and message in headers, no body, and headers set
// before (the request id) kept.
func TestGRPCLocalReply(t *testing.T) {
	w := httptest.NewRecorder()
	w.Header().Set("X-Request-Id", "id-1")
	grpcLocalReply(w, http.StatusTooManyRequests, ReasonRateLimited, "rate limit exceeded: 100%", 1500*time.Millisecond)
	if w.Code != http.StatusOK {
		t.Errorf("HTTP status: got %d; want 200", w.Code)
	}
	for k, want := range map[string]string{
		"Content-Type":           "application/grpc",
		"Grpc-Status":            strconv.Itoa(grpcResourceExhausted),
		"Grpc-Message":           "rate limit exceeded: 100%25",
		"Grpc-Retry-Pushback-Ms": "1500",
		HeaderReason:             ReasonRateLimited,
		"X-Request-Id":           "id-1",
	} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("header %s: got %q; want %q", k, got, want)
		}
	}
	if w.Body.Len() != 0 {
		t.Errorf("body: got %q; want none", w.Body.String())
	}
}

// TestResetAfterDeadlineIsTimeout: an upstream that resets the request once
// the deadline has passed (as a gRPC server does at its grpc-timeout) timed
// out; one that resets it before the deadline reset it.
func TestResetAfterDeadlineIsTimeout(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name       string
		deadline   time.Time
		wantStatus int
		wantReason string
	}{
		{"deadline passed", now.Add(-time.Millisecond), http.StatusGatewayTimeout, ReasonTimeout},
		{"deadline ahead", now.Add(time.Hour), http.StatusBadGateway, ReasonUpstreamReset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithDeadline(context.Background(), tt.deadline)
			defer cancel()
			status, reason, _, _ := failure(ctx, &outcome{kind: outcomeReset})
			if status != tt.wantStatus || reason != tt.wantReason {
				t.Errorf("failure: got %d %q; want %d %q", status, reason, tt.wantStatus, tt.wantReason)
			}
		})
	}
}

func TestFormatGRPCTimeout(t *testing.T) {
	for _, tt := range []struct {
		in   time.Duration
		want string
	}{
		{time.Nanosecond, "1n"},
		{99999999 * time.Nanosecond, "99999999n"},
		{100 * time.Millisecond, "100000u"},
		{1500 * time.Millisecond, "1500000u"},
		{100 * time.Second, "100000m"},
		{30 * time.Hour, "108000S"},
		{time.Duration(math.MaxInt64), "2562047H"},
	} {
		got := formatGRPCTimeout(tt.in)
		if got != tt.want {
			t.Errorf("formatGRPCTimeout(%v) = %q; want %q", tt.in, got, tt.want)
		}
		back, ok := grpcTimeout(got)
		if !ok || back > tt.in || len(got) > 9 {
			t.Errorf("formatGRPCTimeout(%v) = %q, which reads back as %v, %v; want at most %v", tt.in, got, back, ok, tt.in)
		}
	}
}

// TestGRPCTimeoutReducedPerAttempt: each attempt passes on the client's
// grpc-timeout less the time already spent, so a retried call's upstream
// gives up when the client does. Before, the header went on unchanged.
func TestGRPCTimeoutReducedPerAttempt(t *testing.T) {
	seen := make(chan time.Duration, 4)
	var n atomic.Int32
	b := startHandler(t, true, func(w http.ResponseWriter, r *http.Request) {
		d, _ := grpcTimeout(r.Header.Get("Grpc-Timeout"))
		seen <- d
		if n.Add(1) == 1 {
			time.Sleep(300 * time.Millisecond)
			w.Header().Set("Content-Type", "application/grpc")
			w.Header().Set("Grpc-Status", "14")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		w.WriteHeader(200)
		w.Header().Set("Grpc-Status", "0")
	})
	e := startProxy(t, yamlf(`
upstreams:
	u:
		protocol: h2c
		endpoints: [{address: %s}]
routes:
	- name: all
		upstream: u
		retry: {attempts: 2, retry_on: [gateway_error], backoff: {base: 1ms, max: 1ms}}
`, b.URL))
	req, _ := http.NewRequest("POST", e.url+"/svc/Method", strings.NewReader("\x00\x00\x00\x00\x00"))
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Grpc-Timeout", "5S")
	req.Header.Set("Te", "trailers")
	req.Header.Set("Idempotency-Key", "k1") // a POST is retried only with one
	resp, err := e.h2c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	var first, second time.Duration
	for i, d := range []*time.Duration{&first, &second} {
		select {
		case *d = <-seen:
		case <-time.After(waitLimit):
			t.Fatalf("attempt %d never reached the upstream", i+1)
		}
	}
	if first > 5*time.Second || second > 5*time.Second-300*time.Millisecond {
		t.Errorf("upstream saw grpc-timeout %v then %v; want at most 5s, then at most 5s less the 300ms the first attempt took", first, second)
	}
}
