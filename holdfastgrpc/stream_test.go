package holdfastgrpc_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/hedge"
	"github.com/holdfast-dev/holdfast/holdfastgrpc"
	"github.com/holdfast-dev/holdfast/retry"
)

// serverStream opens a StreamingOutputCall asking for n messages and
// returns the bodies received and the error that ended the stream (nil for
// io.EOF).
func (e *env) serverStream(ctx context.Context, n int, opts ...grpc.CallOption) ([]string, error) {
	req := &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte("request")}}
	for range n {
		req.ResponseParameters = append(req.ResponseParameters, &testpb.ResponseParameters{Size: 1})
	}
	stream, err := e.client.StreamingOutputCall(ctx, req, opts...)
	if err != nil {
		return nil, err
	}
	var got []string
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, string(m.GetPayload().GetBody()))
	}
}

// TestStreamEstablishment checks which failures of a server-streaming call
// are retried: those before the server's header, never those after a
// header or a message, nor answers.
func TestStreamEstablishment(t *testing.T) {
	tests := []struct {
		name      string
		steps     []step
		wantCalls int
		wantMsgs  string // bodies received, call/index
		wantCode  codes.Code
		wantBreak [2]int64 // breaker failures, successes
	}{
		{
			name:      "unavailable before the header is retried",
			steps:     []step{{code: codes.Unavailable}},
			wantCalls: 2, wantMsgs: "2/0,2/1,2/2", wantBreak: [2]int64{1, 1},
		},
		{
			name:      "resource exhausted with pushback before the header is retried",
			steps:     []step{{code: codes.ResourceExhausted, pushback: []string{"1"}}},
			wantCalls: 2, wantMsgs: "2/0,2/1,2/2", wantBreak: [2]int64{1, 1},
		},
		{
			name:      "unavailable after a message is not retried",
			steps:     []step{{code: codes.Unavailable, messages: 1}},
			wantCalls: 1, wantMsgs: "1/0", wantCode: codes.Unavailable, wantBreak: [2]int64{0, 1},
		},
		{
			name:      "unavailable after the header is not retried",
			steps:     []step{{code: codes.Unavailable, header: true}},
			wantCalls: 1, wantCode: codes.Unavailable, wantBreak: [2]int64{0, 1},
		},
		{
			name:      "internal before the header is a failure, not retried",
			steps:     []step{{code: codes.Internal}},
			wantCalls: 1, wantCode: codes.Internal, wantBreak: [2]int64{1, 0},
		},
		{
			name:      "not found before the header is an answer",
			steps:     []step{{code: codes.NotFound}},
			wantCalls: 1, wantCode: codes.NotFound, wantBreak: [2]int64{0, 1},
		},
		{
			name:      "no messages and OK is an answer",
			steps:     []step{{code: codes.OK}},
			wantCalls: 1, wantBreak: [2]int64{0, 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cb := countingBreaker()
			e := clientEnv(t, loopback, holdfastgrpc.ClientConfig{Policies: []holdfast.Policy{fastRetry(), cb}})
			e.svc.script(tt.steps...)
			n := 3
			if tt.name == "no messages and OK is an answer" {
				n = 0
			}
			got, err := e.serverStream(guarded(t), n)
			if codeOf(err) != tt.wantCode {
				t.Errorf("stream ended with %v; want %v", err, tt.wantCode)
			}
			if g := strings.Join(got, ","); g != tt.wantMsgs {
				t.Errorf("messages: got %q; want %q", g, tt.wantMsgs)
			}
			seen := e.svc.seen()
			if len(seen) != tt.wantCalls {
				t.Fatalf("server calls: got %d; want %d", len(seen), tt.wantCalls)
			}
			for i, c := range seen {
				if c.bytes != len("request") {
					t.Errorf("call %d got %d request bytes; want the request, replayed", i+1, c.bytes)
				}
			}
			c := cb.Counts()
			if got := [2]int64{c.Failures, c.Successes}; got != tt.wantBreak {
				t.Errorf("breaker counted [failures successes] %v; want %v", got, tt.wantBreak)
			}
		})
	}
}

// TestClientStreamReplay retries a client-streaming call that the server
// failed after reading every message but before its header: the second
// attempt receives every message again, and CloseSend.
func TestClientStreamReplay(t *testing.T) {
	e := clientEnv(t, loopback, holdfastgrpc.ClientConfig{Policies: []holdfast.Policy{fastRetry()}})
	e.svc.script(step{code: codes.Unavailable})
	stream, err := e.client.StreamingInputCall(guarded(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"a", "bb", "ccc"} {
		if err := stream.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: []byte(body)}}); err != nil {
			t.Fatalf("send %q: %v", body, err)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetAggregatedPayloadSize(); got != 6 {
		t.Errorf("server counted %d bytes; want 6", got)
	}
	seen := e.svc.seen()
	if len(seen) != 2 {
		t.Fatalf("server calls: got %d; want 2", len(seen))
	}
	for i, c := range seen {
		if c.received != 3 || c.bytes != 6 {
			t.Errorf("call %d received %d messages, %d bytes; want 3 and 6", i+1, c.received, c.bytes)
		}
	}
	if seen[1].previous != "1" {
		t.Errorf("second attempt's grpc-previous-rpc-attempts: got %q; want %q", seen[1].previous, "1")
	}
}

// TestStreamBufferLimit stops retrying a stream once its messages outgrow
// StreamBuffer: a new attempt could not be sent them all.
func TestStreamBufferLimit(t *testing.T) {
	tests := []struct {
		name      string
		buffer    int
		wantCalls int
		wantCode  codes.Code
	}{
		{"within the buffer", 100, 2, codes.OK},
		{"beyond the buffer", 10, 1, codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := clientEnv(t, loopback, holdfastgrpc.ClientConfig{Policies: []holdfast.Policy{fastRetry()}, StreamBuffer: tt.buffer})
			e.svc.script(step{code: codes.Unavailable})
			stream, err := e.client.StreamingInputCall(guarded(t))
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				// 12 bytes on the wire each: a payload of 8 and its framing.
				if err := stream.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: []byte("12345678")}}); err != nil {
					t.Fatal(err)
				}
			}
			_, err = stream.CloseAndRecv()
			if codeOf(err) != tt.wantCode {
				t.Errorf("got %v; want %v", err, tt.wantCode)
			}
			if got := len(e.svc.seen()); got != tt.wantCalls {
				t.Errorf("server calls: got %d; want %d", got, tt.wantCalls)
			}
		})
	}
}

// TestBidiStreamRetry retries a bidirectional stream the server failed
// after its first message, before any header, and goes on echoing.
func TestBidiStreamRetry(t *testing.T) {
	e := clientEnv(t, loopback, holdfastgrpc.ClientConfig{Policies: []holdfast.Policy{fastRetry()}})
	e.svc.script(step{code: codes.Unavailable})
	stream, err := e.client.FullDuplexCall(guarded(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"one", "two"} {
		if err := stream.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte(body)}}); err != nil {
			t.Fatal(err)
		}
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("echo of %q: %v", body, err)
		}
		if got := string(m.GetPayload().GetBody()); got != body {
			t.Errorf("echo: got %q; want %q", got, body)
		}
	}
	stream.CloseSend()
	if _, err := stream.Recv(); err != io.EOF {
		t.Errorf("end of stream: got %v; want io.EOF", err)
	}
	if seen := e.svc.seen(); len(seen) != 2 || seen[0].received != 1 || seen[1].received != 2 {
		t.Errorf("server saw %+v; want two calls, the first with one message, the second with both", seen)
	}
}

// TestStreamRefused returns an open breaker's refusal from NewStream itself.
func TestStreamRefused(t *testing.T) {
	cb := breaker.MustNew(breaker.Config{})
	cb.ForceOpen()
	e := clientEnv(t, loopback, holdfastgrpc.ClientConfig{Policies: []holdfast.Policy{cb}})
	_, err := e.client.StreamingOutputCall(guarded(t), &testpb.StreamingOutputCallRequest{})
	if codeOf(err) != codes.Unavailable || !errors.Is(err, breaker.ErrOpen) {
		t.Errorf("NewStream: got %v; want Unavailable matching breaker.ErrOpen", err)
	}
	if got := len(e.svc.seen()); got != 0 {
		t.Errorf("server calls: got %d; want 0", got)
	}
}

// TestStreamPerTryTimeout bounds only the establishment with the per-try
// timeout: an attempt whose header is late is retried, and the established
// stream then runs past the per-try timeout under the caller's deadline,
// which is the one the server sees.
func TestStreamPerTryTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := retry.MustNew(retry.Config{PerTryTimeout: time.Second, Backoff: retry.BackoffConfig{Base: 100 * time.Millisecond, Jitter: retry.JitterNone}})
		e := clientEnv(t, pipe, holdfastgrpc.ClientConfig{Policies: []holdfast.Policy{r}})
		e.svc.script(step{delay: 2 * time.Second}, step{header: true, gap: time.Second})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		start := time.Now()
		got, err := e.serverStream(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		if g := strings.Join(got, ","); g != "2/0,2/1,2/2" {
			t.Errorf("messages: got %q; want the second call's three", g)
		}
		// 1s until the first attempt's per-try timeout, 100ms of backoff,
		// then two 1s gaps between messages.
		if took := time.Since(start); took != 3100*time.Millisecond {
			t.Errorf("stream took %v; want 3.1s", took)
		}
		seen := e.svc.seen()
		if len(seen) != 2 {
			t.Fatalf("server calls: got %d; want 2", len(seen))
		}
		if seen[0].deadline != 10*time.Second || seen[1].deadline != 8900*time.Millisecond {
			t.Errorf("server saw deadlines %v and %v; want the caller's, 10s and 8.9s", seen[0].deadline, seen[1].deadline)
		}
		synctest.Wait()
		if seen := e.svc.seen(); !errors.Is(seen[0].ended, context.Canceled) {
			t.Errorf("first attempt ended with %v on the server; want cancelled at its per-try timeout", seen[0].ended)
		}
	})
}

// TestStreamHedge hedges a stream whose first attempt sends no header: the
// second attempt's stream is the caller's, and the first is cancelled.
func TestStreamHedge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := hedge.MustNew(hedge.Config{Delay: 200 * time.Millisecond})
		e := clientEnv(t, pipe, holdfastgrpc.ClientConfig{Policies: []holdfast.Policy{h}})
		e.svc.script(step{hang: true})
		var header metadata.MD
		start := time.Now()
		got, err := e.serverStream(t.Context(), 2, grpc.Header(&header))
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != 200*time.Millisecond {
			t.Errorf("stream took %v; want the hedge delay, 200ms", took)
		}
		if g := strings.Join(got, ","); g != "2/0,2/1" {
			t.Errorf("messages: got %q; want the second call's", g)
		}
		synctest.Wait()
		seen := e.svc.seen()
		if len(seen) != 2 || !errors.Is(seen[0].ended, context.Canceled) {
			t.Errorf("server saw %d calls, the first ending with %v; want 2, the first cancelled", len(seen), seen[0].ended)
		}
		if seen[1].bytes != len("request") {
			t.Errorf("hedged attempt got %d request bytes; want the request", seen[1].bytes)
		}
	})
}

// TestStreamCallerCancels ends a stream whose establishment is pending when
// the caller cancels, without retrying it.
func TestStreamCallerCancels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := clientEnv(t, pipe, holdfastgrpc.ClientConfig{Policies: []holdfast.Policy{fastRetry()}})
		e.svc.script(step{hang: true})
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(time.Second, cancel)
		_, err := e.serverStream(ctx, 1)
		if codeOf(err) != codes.Canceled {
			t.Errorf("got %v; want Canceled", err)
		}
		if got := len(e.svc.seen()); got != 1 {
			t.Errorf("server calls: got %d; want 1", got)
		}
	})
}

// TestStreamTrailerOfLastAttempt gives the caller the trailer of the
// attempt whose status it gets, through Trailer and grpc.Trailer alike.
func TestStreamTrailerOfLastAttempt(t *testing.T) {
	e := clientEnv(t, loopback, holdfastgrpc.ClientConfig{Policies: []holdfast.Policy{fastRetry()}})
	e.svc.script(step{code: codes.Unavailable, pushback: []string{"0"}}, step{code: codes.ResourceExhausted, pushback: []string{"-5"}})
	var opt metadata.MD
	stream, err := e.client.StreamingOutputCall(guarded(t), &testpb.StreamingOutputCallRequest{}, grpc.Trailer(&opt))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); codeOf(err) != codes.ResourceExhausted {
		t.Fatalf("got %v; want the second attempt's ResourceExhausted", err)
	}
	for name, md := range map[string]metadata.MD{"Trailer()": stream.Trailer(), "grpc.Trailer": opt} {
		if got := trailerValue(md, holdfastgrpc.PushbackKey); got != "-5" {
			t.Errorf("%s pushback: got %q; want the last attempt's %q", name, got, "-5")
		}
	}
	if got := len(e.svc.seen()); got != 2 {
		t.Errorf("server calls: got %d; want 2", got)
	}
}
