package upstream

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestRoundTripUntil: a call bounded by RoundTripUntil fails with
// ErrTryTimeout exactly at its deadline, before the head or in the body,
// and the deadline leaves with the call: the pooled connection it used
// carries the next, unbounded call past that time. The same holds for a
// RoundTripper that is not a *Transport (net/http's), bounded by a context.
func TestRoundTripUntil(t *testing.T) {
	const ms = time.Millisecond
	// The backend answers /h?head=D&body=E after D, with half the body
	// then and the rest E later.
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		head, _ := time.ParseDuration(r.URL.Query().Get("head"))
		rest, _ := time.ParseDuration(r.URL.Query().Get("body"))
		select {
		case <-time.After(head):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Length", "4")
		io.WriteString(w, "ab")
		http.NewResponseController(w).Flush()
		select {
		case <-time.After(rest):
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "cd")
	})
	for _, kind := range []string{"Transport", "net/http"} {
		t.Run(kind, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ln := newPipeListener()
				srv := &http.Server{Handler: handler}
				go srv.Serve(ln)
				t.Cleanup(func() { srv.Close() })
				var dials atomic.Int32
				dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
					dials.Add(1)
					return ln.dial(ctx)
				}
				var rt http.RoundTripper
				if kind == "Transport" {
					rt = newTestTransport(t, Config{Dial: dial})
				} else {
					tr := &http.Transport{DialContext: dial}
					t.Cleanup(tr.CloseIdleConnections)
					rt = tr
				}
				call := func(head, body, limit time.Duration) (took time.Duration, got string, err error) {
					t.Helper()
					req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet,
						"http://svc.test/h?head="+head.String()+"&body="+body.String(), nil)
					var until time.Time
					begin := time.Now()
					if limit > 0 {
						until = begin.Add(limit)
					}
					resp, err := RoundTripUntil(rt, req, until)
					if err != nil {
						return time.Since(begin), "", err
					}
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					return time.Since(begin), string(b), err
				}

				// In time: the answer, whole.
				if took, got, err := call(20*ms, 10*ms, 100*ms); err != nil || got != "abcd" || took != 30*ms {
					t.Fatalf("in time: %v %q after %v; want abcd after 30ms", err, got, took)
				}
				synctest.Wait()
				// Past the first call's deadline, on its pooled connection,
				// with no deadline of its own: answered.
				time.Sleep(200 * ms)
				if took, got, err := call(150*ms, 0, 0); err != nil || got != "abcd" || took != 150*ms {
					t.Fatalf("after a bounded call: %v %q after %v; want abcd after 150ms", err, got, took)
				}
				if n := dials.Load(); n != 1 {
					t.Errorf("dialed %d times; want 1 (the connection pooled)", n)
				}
				// No head by the deadline: ErrTryTimeout at it.
				took, _, err := call(time.Second, 0, 100*ms)
				if !errors.Is(err, ErrTryTimeout) || !errors.Is(err, context.DeadlineExceeded) || took != 100*ms {
					t.Errorf("no head: %v after %v; want ErrTryTimeout after 100ms", err, took)
				}
				// The head in time, the body not: its read fails at the
				// deadline.
				took, got, err := call(20*ms, time.Second, 100*ms)
				if err == nil || got != "ab" || took != 100*ms {
					t.Errorf("slow body: %v %q after %v; want a failed read of \"ab\" after 100ms", err, got, took)
				}
				// Afterwards the transport still serves unbounded calls.
				if _, got, err := call(0, 0, 0); err != nil || got != "abcd" {
					t.Errorf("last call: %v %q; want abcd", err, got)
				}
			})
		})
	}
}
