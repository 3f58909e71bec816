package holdfasthttp_test

import (
	"context"
	"errors"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/holdfasthttp"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var retryAfterTests = []struct {
	in   string
	want time.Duration
}{
	{"", 0},
	{"0", 0},
	{"5", 5 * time.Second},
	{" 5\t", 5 * time.Second},
	{"007", 7 * time.Second},
	{"86400", 24 * time.Hour},
	{"86401", 24 * time.Hour},
	{"99999999999999999999999999", 24 * time.Hour}, // too long for an int64: still "a long time"
	{"+5", 0},
	{"-1", 0},
	{"1.5", 0},
	{"5s", 0},
	{"5 6", 0},
	{"0x10", 0},
	{"١", 0}, // an Arabic-Indic digit is not an ASCII DIGIT
	{"soon", 0},
	{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
	{now.Format(http.TimeFormat), 0},
	{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	{now.Add(48 * time.Hour).Format(http.TimeFormat), 24 * time.Hour},
	{now.Add(time.Minute).Format(time.RFC850), time.Minute},
	{now.Add(time.Minute).Format(time.ANSIC), time.Minute},
	{"Sun, 01 Mar 2026 12:00:30 GMT", 30 * time.Second},
	{"Sun, 01 Mar 2026 12:00:30 UTC", 0}, // IMF-fixdate is GMT only
	{"Sun, 01 Mar 2026 25:00:00 GMT", 0},
	{"Sun, 01 Mar 2026", 0},
}

func TestParseRetryAfter(t *testing.T) {
	for _, tt := range retryAfterTests {
		if got := holdfasthttp.ParseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %v; want %v", tt.in, got, tt.want)
		}
	}
}

// FuzzParseRetryAfter checks that any value gives a wait in
// [0, MaxRetryAfter], and that delay-seconds mean exactly what they say.
func FuzzParseRetryAfter(f *testing.F) {
	for _, tt := range retryAfterTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got := holdfasthttp.ParseRetryAfter(v, now)
		if got < 0 || got > holdfasthttp.MaxRetryAfter {
			t.Fatalf("ParseRetryAfter(%q) = %v; want within [0, %v]", v, got, holdfasthttp.MaxRetryAfter)
		}
		trimmed := strings.Trim(v, " \t")
		if trimmed != "" && strings.Trim(trimmed, "0123456789") == "" {
			n, _ := new(big.Int).SetString(trimmed, 10)
			want := holdfasthttp.MaxRetryAfter
			if n.Cmp(big.NewInt(int64(want/time.Second))) < 0 {
				want = time.Duration(n.Int64()) * time.Second
			}
			if got != want {
				t.Fatalf("ParseRetryAfter(%q) = %v; want %v", v, got, want)
			}
		}
		if got > 0 && got%time.Second != 0 {
			// Only a date can give a fraction, and dates have whole seconds,
			// as does now.
			t.Fatalf("ParseRetryAfter(%q) = %v; want whole seconds", v, got)
		}
	})
}

func response(status int, header ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(""))}
}

func TestOutcome(t *testing.T) {
	reset := errors.New("connection reset by peer")
	tests := []struct {
		name      string
		resp      *http.Response
		err       error
		wantErr   error // matched with errors.Is; nil: success
		status    int   // the *StatusError's, when wantErr is ErrStatus
		wait      time.Duration
		hasHint   bool
		wantError string
	}{
		{name: "200", resp: response(200)},
		{name: "404", resp: response(404)},
		{name: "304", resp: response(304, "Retry-After", "5")},
		{name: "499", resp: response(499)},
		{name: "600", resp: response(600)},
		{name: "500", resp: response(500), wantErr: holdfasthttp.ErrStatus, status: 500,
			wantError: "holdfasthttp: 500 Internal Server Error"},
		{name: "500 ignores Retry-After", resp: response(500, "Retry-After", "5"), wantErr: holdfasthttp.ErrStatus, status: 500},
		{name: "502", resp: response(502), wantErr: holdfasthttp.ErrStatus, status: 502},
		{name: "599", resp: response(599), wantErr: holdfasthttp.ErrStatus, status: 599, wantError: "holdfasthttp: 599"},
		{name: "503 without Retry-After", resp: response(503), wantErr: holdfasthttp.ErrStatus, status: 503},
		{name: "503 with garbage Retry-After", resp: response(503, "Retry-After", "later"), wantErr: holdfasthttp.ErrStatus, status: 503},
		{name: "503 with Retry-After 0", resp: response(503, "Retry-After", "0"), wantErr: holdfasthttp.ErrStatus, status: 503},
		{name: "503 with seconds", resp: response(503, "Retry-After", "2"), wantErr: holdfasthttp.ErrStatus, status: 503,
			wait: 2 * time.Second, hasHint: true, wantError: "holdfasthttp: 503 Service Unavailable, retry after 2s"},
		{name: "503 with a date", resp: response(503, "Retry-After", now.Add(time.Minute).Format(http.TimeFormat)),
			wantErr: holdfasthttp.ErrStatus, status: 503, wait: time.Minute, hasHint: true},
		{name: "429 with seconds", resp: response(429, "Retry-After", "3"), wantErr: holdfasthttp.ErrStatus, status: 429,
			wait: 3 * time.Second, hasHint: true},
		{name: "429 without", resp: response(429), wantErr: holdfasthttp.ErrStatus, status: 429},
		{name: "transport error", err: reset, wantErr: reset},
		{name: "cancelled", err: context.Canceled, wantErr: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := holdfasthttp.Outcome(tt.resp, tt.err, now)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Outcome = %v; want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Outcome = %v; want an error matching %v", err, tt.wantErr)
			}
			if tt.wantError != "" && err.Error() != tt.wantError {
				t.Errorf("Error() = %q; want %q", err.Error(), tt.wantError)
			}
			wait, ok := holdfast.RetryAfter(err)
			if ok != tt.hasHint || wait != tt.wait {
				t.Errorf("holdfast.RetryAfter = %v, %v; want %v, %v", wait, ok, tt.wait, tt.hasHint)
			}
			if tt.wantErr != holdfasthttp.ErrStatus {
				return
			}
			var se *holdfasthttp.StatusError
			if !errors.As(err, &se) {
				t.Fatalf("errors.As(%v, *StatusError) = false", err)
			}
			if se.StatusCode != tt.status || se.Wait != tt.wait {
				t.Errorf("StatusError = {%d, %v}; want {%d, %v}", se.StatusCode, se.Wait, tt.status, tt.wait)
			}
		})
	}
}

func TestIdempotent(t *testing.T) {
	tests := []struct {
		method string
		key    string
		want   bool
	}{
		{"", "", true}, // a client request's GET
		{"GET", "", true},
		{"HEAD", "", true},
		{"OPTIONS", "", true},
		{"PUT", "", true},
		{"DELETE", "", true},
		{"TRACE", "", true},
		{"POST", "", false},
		{"PATCH", "", false},
		{"CONNECT", "", false},
		{"get", "", false}, // methods are case-sensitive (RFC 9110 §9.1)
		{"POST", "order-42", true},
		{"PATCH", "k", true},
	}
	for _, tt := range tests {
		r := &http.Request{Method: tt.method, Header: http.Header{}}
		if tt.key != "" {
			r.Header.Set("Idempotency-Key", tt.key)
		}
		if got := holdfasthttp.Idempotent(r); got != tt.want {
			t.Errorf("Idempotent(%q, key %q) = %v; want %v", tt.method, tt.key, got, tt.want)
		}
	}
}

func TestIsFailureStatus(t *testing.T) {
	for code := 100; code < 700; code++ {
		want := code >= 500 && code < 600 || code == 429
		if got := holdfasthttp.IsFailureStatus(code); got != want {
			t.Errorf("IsFailureStatus(%d) = %v; want %v", code, got, want)
		}
	}
}
