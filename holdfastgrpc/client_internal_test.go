package holdfastgrpc

import (
	"testing"

	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// TestReplyCopies checks the replies hedged attempts decode into: a fresh
// one of the caller's type, copied into the caller's when it wins.
func TestReplyCopies(t *testing.T) {
	t.Run("protocol buffer", func(t *testing.T) {
		caller := &testpb.SimpleResponse{Username: "stale"}
		fresh := newReply(caller).(*testpb.SimpleResponse)
		if fresh == caller || fresh.GetUsername() != "" {
			t.Fatalf("newReply: got %v; want a new empty message", fresh)
		}
		fresh.Username, fresh.Payload = "winner", &testpb.Payload{Body: []byte("b")}
		copyReply(caller, fresh)
		if !proto.Equal(caller, fresh) {
			t.Errorf("copyReply: got %v; want %v", caller, fresh)
		}
	})
	t.Run("struct", func(t *testing.T) {
		type reply struct{ N int }
		caller := &reply{N: 1}
		if err := checkCopyable(caller); err != nil {
			t.Fatal(err)
		}
		fresh := newReply(caller).(*reply)
		if fresh == caller || fresh.N != 0 {
			t.Fatalf("newReply: got %+v; want a new zero struct", fresh)
		}
		fresh.N = 7
		copyReply(caller, fresh)
		if caller.N != 7 {
			t.Errorf("copyReply: got %+v; want N 7", caller)
		}
	})
	t.Run("not copyable", func(t *testing.T) {
		for _, r := range []any{3, (*int)(nil), nil} {
			if err := checkCopyable(r); status.Code(err) != codes.Internal {
				t.Errorf("checkCopyable(%#v) = %v; want Internal", r, err)
			}
		}
	})
}
