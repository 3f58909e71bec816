package grpc_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
)

// headerAttempts is the proxy's response header, lower-cased as gRPC
// metadata; its presence proves a call went through holdfast.
const headerAttempts = "x-holdfast-attempts"

func TestUnary(t *testing.T) {
	e := newEnv(t, "")
	client := testpb.NewTestServiceClient(e.conn)
	tests := []struct {
		name string
		body []byte
	}{
		{"empty", nil},
		{"small", []byte("hello, holdfast")},
		{"binary", []byte{0, 0xff, '\r', '\n', 0}},
		// Larger than the proxy's 32 KiB copy buffer and HTTP/2's default
		// 64 KiB flow-control window, so it crosses both in pieces.
		{"1MiB", bytes.Repeat([]byte("0123456789abcdef"), 1<<16)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := metadata.AppendToOutgoingContext(guarded(t), mdEcho, tt.name)
			var header, trailer metadata.MD
			resp, err := client.UnaryCall(ctx,
				&testpb.SimpleRequest{Payload: &testpb.Payload{Body: tt.body}},
				grpc.Header(&header), grpc.Trailer(&trailer))
			if err != nil {
				t.Fatalf("UnaryCall: got error %v; want none", err)
			}
			if got := resp.GetPayload().GetBody(); !bytes.Equal(got, tt.body) {
				t.Errorf("echoed payload: got %d bytes; want the %d bytes sent", len(got), len(tt.body))
			}
			checkMD(t, "header", header, mdEcho, tt.name)
			checkMD(t, "header", header, headerAttempts, "1")
			checkMD(t, "trailer", trailer, "x-trailer", "unary")
			checkMD(t, "trailer", trailer, "x-trailer-bin", binaryTrailer)
		})
	}
	if got, want := e.svc.unaryCalls.Load(), int32(len(tests)); got != want {
		t.Errorf("server saw %d calls; want %d", got, want)
	}
}

// TestStatusAndTrailers checks that the status code, its message and
// details, and custom trailer metadata reach the client in both shapes an
// error takes on the wire: "trailers-only" (a single HEADERS frame that ends
// the stream, which the proxy relays as response headers) and real trailers
// after response messages (relayed with http.TrailerPrefix).
func TestStatusAndTrailers(t *testing.T) {
	e := newEnv(t, "")
	client := testpb.NewTestServiceClient(e.conn)
	statuses := []struct {
		name string
		code codes.Code
		msg  string
	}{
		{"not found", codes.NotFound, "no such item"},
		{"permission denied", codes.PermissionDenied, "café: 100% denied, see\nnext line"},
		{"resource exhausted", codes.ResourceExhausted, "quota exceeded"},
		{"unavailable", codes.Unavailable, "try elsewhere"},
		{"internal", codes.Internal, ""},
	}
	for _, st := range statuses {
		want := &testpb.EchoStatus{Code: int32(st.code), Message: st.msg}
		t.Run(st.name+"/unary", func(t *testing.T) {
			var trailer metadata.MD
			_, err := client.UnaryCall(guarded(t), &testpb.SimpleRequest{ResponseStatus: want}, grpc.Trailer(&trailer))
			checkStatus(t, err, want)
			checkMD(t, "trailer", trailer, "x-trailer", "unary")
			checkMD(t, "trailer", trailer, "x-trailer-bin", binaryTrailer)
		})
		for _, n := range []int{0, 3} {
			t.Run(st.name+"/stream after "+strconv.Itoa(n), func(t *testing.T) {
				stream, err := client.StreamingOutputCall(guarded(t), &testpb.StreamingOutputCallRequest{
					ResponseParameters: sizes(n, 16),
					ResponseStatus:     want,
				})
				if err != nil {
					t.Fatalf("StreamingOutputCall: %v", err)
				}
				got, err := recvAll(stream)
				if got != n {
					t.Errorf("received %d messages before the status; want %d", got, n)
				}
				checkStatus(t, err, want)
				checkMD(t, "trailer", stream.Trailer(), "x-trailer", "stream")
				checkMD(t, "trailer", stream.Trailer(), "x-sent", strconv.Itoa(n))
			})
		}
	}
}

// TestServerStreaming checks that a server stream arrives whole and in
// order, with messages of many sizes, some far larger than the proxy's
// copy buffer and HTTP/2's flow-control windows.
func TestServerStreaming(t *testing.T) {
	e := newEnv(t, "")
	client := testpb.NewTestServiceClient(e.conn)
	var params []*testpb.ResponseParameters
	for i := range 120 {
		size := 4 + i*7919%40000
		if i%20 == 19 {
			size = 256 << 10
		}
		params = append(params, &testpb.ResponseParameters{Size: int32(size)})
	}
	var header metadata.MD
	stream, err := client.StreamingOutputCall(guarded(t), &testpb.StreamingOutputCallRequest{ResponseParameters: params}, grpc.Header(&header))
	if err != nil {
		t.Fatalf("StreamingOutputCall: %v", err)
	}
	for i, p := range params {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("message %d: got error %v; want a message", i, err)
		}
		body := resp.GetPayload().GetBody()
		if !bytes.Equal(body, streamBody(i, int(p.GetSize()))) {
			t.Fatalf("message %d: got %d bytes starting with index %d; want %d bytes of message %d",
				i, len(body), indexOf(body), p.GetSize(), i)
		}
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("after the last message: got %v; want io.EOF", err)
	}
	checkMD(t, "header", header, headerAttempts, "1")
	checkMD(t, "trailer", stream.Trailer(), "x-sent", strconv.Itoa(len(params)))
}

// TestStreamingFlushesEachMessage has the server send one small message and
// then wait until the client has received it before sending the next. A
// proxy that buffered a response body (waiting to fill a buffer, or for
// the end) would hold a message back and the stream would stall.
func TestStreamingFlushesEachMessage(t *testing.T) {
	e := newEnv(t, "")
	client := testpb.NewTestServiceClient(e.conn)
	const n = 5
	ctx := metadata.AppendToOutgoingContext(guarded(t), mdLockstep, "1")
	stream, err := client.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{ResponseParameters: sizes(n, 8)})
	if err != nil {
		t.Fatalf("StreamingOutputCall: %v", err)
	}
	for i := range n {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("message %d: got error %v; want the message the server flushed", i, err)
		}
		if got := indexOf(resp.GetPayload().GetBody()); got != i {
			t.Fatalf("message %d: got index %d; want %d", i, got, i)
		}
		select {
		case e.svc.step <- struct{}{}:
		case <-ctx.Done():
			t.Fatalf("server did not wait for step %d: %v", i, ctx.Err())
		}
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("after the last message: got %v; want io.EOF", err)
	}
}

// TestBidiPingPong sends each message only after the answer to the one
// before has arrived, which works only if the proxy streams the request
// body upstream while it relays the response: a non-idempotent POST is
// never buffered for replay.
func TestBidiPingPong(t *testing.T) {
	e := newEnv(t, "")
	client := testpb.NewTestServiceClient(e.conn)
	stream, err := client.FullDuplexCall(guarded(t))
	if err != nil {
		t.Fatalf("FullDuplexCall: %v", err)
	}
	for i := range 20 {
		body := []byte("ping " + strconv.Itoa(i))
		if err := stream.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: body}}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("answer %d: got error %v; want %q", i, err, body)
		}
		if got := resp.GetPayload().GetBody(); !bytes.Equal(got, body) {
			t.Fatalf("answer %d: got %q; want %q", i, got, body)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("after CloseSend: got %v; want io.EOF", err)
	}
}

// TestDeadlinePropagates calls a server that answers only when its call
// ends, with a client deadline far shorter than the route timeout: the
// client gets DeadlineExceeded, and the server saw the deadline (the
// grpc-timeout header crossed the proxy) and its call ended too, instead of
// running on for a client that is gone.
func TestDeadlinePropagates(t *testing.T) {
	e := newEnv(t, "    timeout: 60s\n")
	client := testpb.NewTestServiceClient(e.conn)
	// Connect first, so the deadline below is spent on the call itself.
	if _, err := client.UnaryCall(guarded(t), &testpb.SimpleRequest{}); err != nil {
		t.Fatalf("warm-up call: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, mdSlow, "1")
	_, err := client.UnaryCall(ctx, &testpb.SimpleRequest{})
	if got := status.Code(err); got != codes.DeadlineExceeded {
		t.Fatalf("slow call: got %v (%v); want %v", got, err, codes.DeadlineExceeded)
	}
	select {
	case sc := <-e.svc.slowEnded:
		if !sc.hadDeadline {
			t.Errorf("server call had no deadline; want the client's, sent as grpc-timeout")
		}
		if sc.err == nil {
			t.Errorf("server call context error: got nil; want it ended")
		}
	case <-time.After(hangGuard):
		t.Fatalf("the server's call did not end within %v of the client's deadline", hangGuard)
	}
}

// TestRouteTimeoutEndsCall has the proxy's own route timeout end a call
// the client would wait longer for: the client gets DEADLINE_EXCEEDED (not
// a bare HTTP 504, which grpc-go would report as UNAVAILABLE, nor a reset),
// and the server's call ends then. The proxy sends the server its route
// deadline as grpc-timeout, never later than its own, so either answers
// first: usually the proxy, with its Trailers-Only local reply; at times
// the server, whose DEADLINE_EXCEEDED the proxy relays whole. (It broke
// that relay once, and the client got RST_STREAM INTERNAL_ERROR.)
func TestRouteTimeoutEndsCall(t *testing.T) {
	e := newEnv(t, "    timeout: 300ms\n")
	client := testpb.NewTestServiceClient(e.conn)
	ctx := metadata.AppendToOutgoingContext(guarded(t), mdSlow, "1")
	var trailer metadata.MD
	_, err := client.UnaryCall(ctx, &testpb.SimpleRequest{}, grpc.Trailer(&trailer))
	st, _ := status.FromError(err)
	if st.Code() != codes.DeadlineExceeded {
		t.Fatalf("call past the route timeout: got %v; want %v", err, codes.DeadlineExceeded)
	}
	if st.Message() == "upstream did not answer in time" {
		checkMD(t, "trailer", trailer, "x-holdfast-reason", "timeout")
	} else {
		t.Logf("the server's own deadline answered first: %v", err)
	}
	select {
	case sc := <-e.svc.slowEnded:
		// The proxy resets the stream at its route timeout, and it also
		// sent the server that deadline as grpc-timeout: whichever the
		// server sees first ends its call, at the route timeout either
		// way, never at the client's far later deadline.
		if !errors.Is(sc.err, context.Canceled) && !errors.Is(sc.err, context.DeadlineExceeded) {
			t.Errorf("server call ended with %v; want it cancelled by the proxy's reset or its grpc-timeout", sc.err)
		}
	case <-time.After(hangGuard):
		t.Fatalf("the server's call did not end within %v of the route timeout", hangGuard)
	}
}

// sizes is n response parameters of size bytes each.
func sizes(n, size int) []*testpb.ResponseParameters {
	out := make([]*testpb.ResponseParameters, n)
	for i := range out {
		out[i] = &testpb.ResponseParameters{Size: int32(size)}
	}
	return out
}

// recvAll reads a stream to its end and returns how many messages came and
// the final error (nil for a clean end).
func recvAll(s grpc.ServerStreamingClient[testpb.StreamingOutputCallResponse]) (int, error) {
	n := 0
	for {
		_, err := s.Recv()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

// indexOf reads the message index streamBody wrote, or -1.
func indexOf(b []byte) int {
	if len(b) < 4 {
		return -1
	}
	return int(binary.BigEndian.Uint32(b))
}

func checkMD(t *testing.T, what string, md metadata.MD, key, want string) {
	t.Helper()
	if got := md.Get(key); len(got) != 1 || got[0] != want {
		t.Errorf("%s %s: got %q; want [%q]", what, key, got, want)
	}
}

// checkStatus checks err's code, message and EchoStatus detail.
func checkStatus(t *testing.T, err error, want *testpb.EchoStatus) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || err == nil {
		t.Fatalf("got error %v; want status %v", err, codes.Code(want.GetCode()))
	}
	if got := st.Code(); got != codes.Code(want.GetCode()) {
		t.Errorf("status code: got %v; want %v (%v)", got, codes.Code(want.GetCode()), err)
	}
	if got := st.Message(); got != want.GetMessage() {
		t.Errorf("status message: got %q; want %q", got, want.GetMessage())
	}
	details := st.Details()
	if len(details) != 1 {
		t.Fatalf("status details: got %d; want 1 (grpc-status-details-bin)", len(details))
	}
	if diff := cmp.Diff(want, details[0], protocmp.Transform()); diff != "" {
		t.Errorf("status detail (-want +got):\n%s", diff)
	}
}
