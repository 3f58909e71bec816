package grpc_test

import (
	"context"
	"encoding/binary"
	"io"
	"strconv"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Metadata keys the test service understands.
const (
	mdEcho     = "x-echo"     // copied into the response header metadata
	mdSlow     = "x-slow"     // UnaryCall waits for the call's context to end
	mdLockstep = "x-lockstep" // StreamingOutputCall waits for a step after each message
)

// binaryTrailer is sent as the "x-trailer-bin" trailer: bytes that are not
// valid in a header value, so they must survive base64 both ways.
var binaryTrailer = string([]byte{0, 1, 2, 0xfe, 0xff})

// testService implements grpc.testing.TestService with hooks the tests
// drive through request fields and metadata. It is safe for concurrent use.
type testService struct {
	testpb.UnimplementedTestServiceServer

	unaryCalls atomic.Int32
	// step lets a lockstep stream send its next message.
	step chan struct{}
	// slowEnded receives what a slow call saw when its context ended.
	slowEnded chan slowCall
}

// slowCall is what a slow UnaryCall observed.
type slowCall struct {
	hadDeadline bool  // the call carried a deadline (grpc-timeout)
	err         error // its context's error when it ended
}

func newTestService() *testService {
	return &testService{step: make(chan struct{}), slowEnded: make(chan slowCall, 1)}
}

func (s *testService) register(srv *grpc.Server) { testpb.RegisterTestServiceServer(srv, s) }

// UnaryCall echoes the request payload. It echoes x-echo metadata as a
// header, always sets trailers, and fails with the requested status.
func (s *testService) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	s.unaryCalls.Add(1)
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(mdEcho); len(v) > 0 {
		grpc.SetHeader(ctx, metadata.Pairs(mdEcho, v[0]))
	}
	if len(md.Get(mdSlow)) > 0 {
		_, ok := ctx.Deadline()
		<-ctx.Done()
		s.slowEnded <- slowCall{hadDeadline: ok, err: ctx.Err()}
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", "unary", "x-trailer-bin", binaryTrailer))
	if err := echoStatus(req.GetResponseStatus()); err != nil {
		return nil, err
	}
	return &testpb.SimpleResponse{Payload: &testpb.Payload{Body: req.GetPayload().GetBody()}}, nil
}

// StreamingOutputCall sends one message per response parameter, of the
// requested size, with its index in the first four bytes and the low byte
// of the index in the rest. Then it sets trailers and ends with the
// requested status.
func (s *testService) StreamingOutputCall(req *testpb.StreamingOutputCallRequest, stream testpb.TestService_StreamingOutputCallServer) error {
	ctx := stream.Context()
	md, _ := metadata.FromIncomingContext(ctx)
	lockstep := len(md.Get(mdLockstep)) > 0
	params := req.GetResponseParameters()
	for i, p := range params {
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: streamBody(i, int(p.GetSize()))}}); err != nil {
			return err
		}
		if lockstep {
			select {
			case <-s.step:
			case <-ctx.Done():
				return status.FromContextError(ctx.Err()).Err()
			}
		}
	}
	stream.SetTrailer(metadata.Pairs("x-trailer", "stream", "x-sent", strconv.Itoa(len(params))))
	return echoStatus(req.GetResponseStatus())
}

// FullDuplexCall answers each request message with its payload, before
// reading the next one.
func (s *testService) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: req.GetPayload()}); err != nil {
			return err
		}
	}
}

// echoStatus is the error for a requested status, with the request's
// status attached as a detail (the grpc-status-details-bin trailer).
func echoStatus(es *testpb.EchoStatus) error {
	if es == nil || es.GetCode() == 0 {
		return nil
	}
	st, err := status.New(codes.Code(es.GetCode()), es.GetMessage()).WithDetails(es)
	if err != nil {
		return status.Errorf(codes.Internal, "attaching details: %v", err)
	}
	return st.Err()
}

// streamBody is message i of a stream, size bytes long.
func streamBody(i, size int) []byte {
	b := make([]byte, size)
	for j := range b {
		b[j] = byte(i)
	}
	if size >= 4 {
		binary.BigEndian.PutUint32(b, uint32(i))
	}
	return b
}
