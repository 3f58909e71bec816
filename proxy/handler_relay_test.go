package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// endThenCancel is a response body that ends the exchange's context as it
// reports its end: the deadline passing just after the last byte came.
type endThenCancel struct {
	r      io.Reader
	cancel context.CancelFunc
}

func (b *endThenCancel) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.cancel()
	}
	return n, err
}

func (b *endThenCancel) Close() error { return nil }

// TestRelayWholeBodyAsTheDeadlinePasses: a response whose body ended by
// its framing is relayed whole even when the exchange's context ends just
// after (a gRPC upstream answering DEADLINE_EXCEEDED at the deadline the
// proxy gave it, racing the proxy's own). Before, the relay broke it, and
// the client saw a reset (RST_STREAM INTERNAL_ERROR) instead of the
// upstream's status. A body that ends with the connection is still broken
// then: its end cannot be told from a cut.
func TestRelayWholeBodyAsTheDeadlinePasses(t *testing.T) {
	for _, tt := range []struct {
		name   string
		resp   http.Response
		broken bool
	}{
		{"HTTP/2", http.Response{ProtoMajor: 2, ContentLength: -1}, false},
		{"content-length", http.Response{ProtoMajor: 1, ContentLength: 4}, false},
		{"chunked", http.Response{ProtoMajor: 1, ContentLength: -1, TransferEncoding: []string{"chunked"}}, false},
		{"close-delimited", http.Response{ProtoMajor: 1, ContentLength: -1, Close: true}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			resp := tt.resp
			resp.StatusCode = http.StatusOK
			resp.Header = http.Header{"Content-Type": {"application/grpc"}}
			resp.Body = &endThenCancel{r: strings.NewReader("body"), cancel: cancel}
			rec := httptest.NewRecorder()
			broken := func() (broken bool) {
				defer func() {
					if v := recover(); v != nil {
						if v != http.ErrAbortHandler {
							panic(v)
						}
						broken = true
					}
				}()
				(&Proxy{}).relay(ctx, rec, &outcome{kind: outcomeResponse, resp: &resp}, 1, 0)
				return false
			}()
			if broken != tt.broken {
				t.Errorf("relay broke the response: %v; want %v", broken, tt.broken)
			}
			if got := rec.Body.String(); got != "body" {
				t.Errorf("relayed %q; want the whole body", got)
			}
		})
	}
}
