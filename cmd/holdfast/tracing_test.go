package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/config"
)

// otlpSink returns the path of the OTLP receiver the tracing test sends to
// (test/otlpsink: the OpenTelemetry Collector's own OTLP receiver), which
// `make tools` builds and names in HOLDFAST_OTLPSINK.
func otlpSink(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HOLDFAST_OTLPSINK"); p != "" {
		return p
	}
	if p, err := exec.LookPath("holdfast-otlpsink"); err == nil {
		return p
	}
	t.Fatal("no OTLP receiver: run `make tools` (it builds test/otlpsink), or set HOLDFAST_OTLPSINK to its binary")
	return ""
}

// otlpSpan is what the test reads of a span in the receiver's OTLP JSON.
type otlpSpan struct {
	TraceID      string `json:"traceId"`
	SpanID       string `json:"spanId"`
	ParentSpanID string `json:"parentSpanId"`
	Name         string `json:"name"`
	Kind         int    `json:"kind"`
	Attributes   []struct {
		Key   string         `json:"key"`
		Value map[string]any `json:"value"`
	} `json:"attributes"`
}

func (s otlpSpan) attr(key string) any {
	for _, a := range s.Attributes {
		if a.Key == key {
			for _, v := range a.Value {
				return v
			}
		}
	}
	return nil
}

// TestServeTracesToOTLPReceiver: `holdfast serve` with tracing on sends a
// request's trace to a real OTLP receiver: the server span continues the
// client's traceparent, and each attempt (a 503, then the retry's 200) is a
// client span under it, named by number and outcome, whose context reached
// the upstream.
func TestServeTracesToOTLPReceiver(t *testing.T) {
	sinkBin := otlpSink(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sinkAddr := ln.Addr().String()
	ln.Close()
	sink := exec.Command(sinkBin, "-http", sinkAddr)
	out, err := sink.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	sink.Stderr = io.Discard
	if err := sink.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Process.Kill(); sink.Wait() })
	spans := make(chan otlpSpan, 64)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var batch struct {
				ResourceSpans []struct {
					Resource struct {
						Attributes []struct {
							Key   string         `json:"key"`
							Value map[string]any `json:"value"`
						} `json:"attributes"`
					} `json:"resource"`
					ScopeSpans []struct {
						Spans []otlpSpan `json:"spans"`
					} `json:"scopeSpans"`
				} `json:"resourceSpans"`
			}
			if json.Unmarshal(sc.Bytes(), &batch) != nil {
				continue
			}
			for _, rs := range batch.ResourceSpans {
				for _, ss := range rs.ScopeSpans {
					for _, s := range ss.Spans {
						spans <- s
					}
				}
			}
		}
	}()

	var mu sync.Mutex
	var seen []string
	var n atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Traceparent"))
		mu.Unlock()
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer backend.Close()

	dir := t.TempDir()
	file := filepath.Join(dir, "holdfast.yaml")
	body := fmt.Sprintf(`listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0}
tracing: {otlp_endpoint: "http://%s", service_name: traced-edge}
upstreams:
  api:
    endpoints: [{address: %s}]
routes:
  - name: api
    upstream: api
    retry: {attempts: 3, backoff: {base: 10ms, jitter: none}}
`, sinkAddr, backend.URL)
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	// The receiver listens before holdfast sends: its batches would
	// otherwise be refused and dropped.
	waitListening(t, sinkAddr)
	inst, err := startInstance(cfg, file, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatalf("startInstance: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- inst.server.Serve() }()
	closed := false
	closeInst := func() {
		if !closed {
			closed = true
			inst.server.Shutdown(context.Background())
			<-served
			inst.close() // flushes the spans still queued
		}
	}
	t.Cleanup(closeInst)

	const traceID, clientSpan = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	req, _ := http.NewRequest("GET", "http://"+inst.server.Addrs()[0].String()+"/items", nil)
	req.Header.Set("Traceparent", "00-"+traceID+"-"+clientSpan+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("got status %d; want 200 after a retry", resp.StatusCode)
	}
	closeInst()

	got := map[string]otlpSpan{}
	var server *otlpSpan
	var attempts []otlpSpan
	deadline := time.After(20 * time.Second)
	for server == nil || len(attempts) < 2 {
		select {
		case s := <-spans:
			if s.TraceID != traceID {
				continue
			}
			got[s.SpanID] = s
			switch s.Kind {
			case 2:
				server = &s
			case 3:
				attempts = append(attempts, s)
			}
		case <-deadline:
			t.Fatalf("the receiver got %d spans of the trace in 20s; want the request's and two attempts'", len(got))
		}
	}
	if server.ParentSpanID != clientSpan || server.Name != "GET api" {
		t.Errorf("request span: parent %s name %q; want the client's span, \"GET api\"", server.ParentSpanID, server.Name)
	}
	if v := server.attr("holdfast.attempts"); v != "2" {
		t.Errorf("request span holdfast.attempts = %v; want 2", v)
	}
	status := map[any]any{}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range attempts {
		if a.ParentSpanID != server.SpanID {
			t.Errorf("attempt span %s has parent %s; want the request's %s", a.SpanID, a.ParentSpanID, server.SpanID)
		}
		status[a.attr("holdfast.attempt")] = a.attr("http.response.status_code")
		want := "00-" + traceID + "-" + a.SpanID + "-01"
		found := false
		for _, tp := range seen {
			found = found || tp == want
		}
		if !found {
			t.Errorf("the upstream never got traceparent %s (got %q)", want, seen)
		}
	}
	if status["1"] != "503" || status["2"] != "200" {
		t.Errorf("attempts' statuses %v; want 1: 503, 2: 200", status)
	}
}

// waitListening waits until something accepts connections on addr.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s after 20s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
