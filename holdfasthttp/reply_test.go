package holdfasthttp_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/holdfast-dev/holdfast/holdfasthttp"
)

func TestLocalReply(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		reason     string
		msg        string
		retryAfter time.Duration
		wantRA     string // "" for no Retry-After
		wantBody   string
	}{
		{"429 rounds up", 429, holdfasthttp.ReasonRateLimited, "rate limit exceeded", 1500 * time.Millisecond, "2",
			`{"error":"rate limit exceeded","reason":"rate_limited"}` + "\n"},
		{"503 whole second", 503, holdfasthttp.ReasonBreakerOpen, "circuit breaker is open", time.Second, "1",
			`{"error":"circuit breaker is open","reason":"breaker_open"}` + "\n"},
		{"503 a nanosecond", 503, holdfasthttp.ReasonOverloaded, "full", time.Nanosecond, "1",
			`{"error":"full","reason":"overloaded"}` + "\n"},
		{"503 the longest duration", 503, holdfasthttp.ReasonOverloaded, "full", time.Duration(1<<63 - 1), "9223372037",
			`{"error":"full","reason":"overloaded"}` + "\n"},
		{"503 without a wait", 503, holdfasthttp.ReasonOverloaded, "full", 0, "",
			`{"error":"full","reason":"overloaded"}` + "\n"},
		{"504 never has Retry-After", 504, holdfasthttp.ReasonTimeout, "late", 5 * time.Second, "",
			`{"error":"late","reason":"timeout"}` + "\n"},
		{"negative wait", 429, holdfasthttp.ReasonRateLimited, "x", -time.Second, "",
			`{"error":"x","reason":"rate_limited"}` + "\n"},
		{"message is escaped", 400, holdfasthttp.ReasonInvalidRequest, `bad "path" <a>`, 0, "",
			`{"error":"bad \"path\" \u003ca\u003e","reason":"invalid_request"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			w.Header().Set("X-Request-Id", "abc") // kept
			holdfasthttp.LocalReply(w, tt.status, tt.reason, tt.msg, tt.retryAfter)
			if w.Code != tt.status {
				t.Errorf("status = %d; want %d", w.Code, tt.status)
			}
			want := http.Header{
				"Content-Type":      {"application/json"},
				"Cache-Control":     {"no-store"},
				"X-Holdfast-Reason": {tt.reason},
				"X-Request-Id":      {"abc"},
				"Content-Length":    {strconv.Itoa(len(tt.wantBody))},
			}
			if tt.wantRA != "" {
				want["Retry-After"] = []string{tt.wantRA}
			}
			if diff := cmp.Diff(want, w.Header()); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
			if got := w.Body.String(); got != tt.wantBody {
				t.Errorf("body = %q; want %q", got, tt.wantBody)
			}
		})
	}
}
