package upstream

import (
	"bufio"
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

// TestWithDeadlineBehavesAsContextWithDeadline: whether or not anything
// arms it, the context answers Err, Cause, Deadline and Done as
// context.WithDeadline's would, at the deadline, on cancel and when the
// parent ends.
func TestWithDeadlineBehavesAsContextWithDeadline(t *testing.T) {
	for _, tc := range []struct {
		name    string
		arm     bool // call Done before anything happens
		end     string
		wantErr error
	}{
		{"deadline passes, unarmed", false, "deadline", context.DeadlineExceeded},
		{"deadline passes, armed", true, "deadline", context.DeadlineExceeded},
		{"canceled, unarmed", false, "cancel", context.Canceled},
		{"canceled, armed", true, "cancel", context.Canceled},
		{"parent canceled, unarmed", false, "parent", context.Canceled},
		{"parent canceled, armed", true, "parent", context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				parent, cancelParent := context.WithCancel(context.Background())
				defer cancelParent()
				d := time.Now().Add(time.Second)
				ctx, cancel := WithDeadline(parent, d)
				defer cancel()
				if got, ok := ctx.Deadline(); !ok || !got.Equal(d) {
					t.Fatalf("Deadline() = %v, %v; want %v, true", got, ok, d)
				}
				if tc.arm {
					_ = ctx.Done()
				}
				if err := ctx.Err(); err != nil {
					t.Fatalf("Err() before the end = %v; want nil", err)
				}
				switch tc.end {
				case "deadline":
					time.Sleep(time.Second)
				case "cancel":
					cancel()
				case "parent":
					cancelParent()
				}
				synctest.Wait() // the timer's or the parent's cancel has run
				if err := ctx.Err(); !errors.Is(err, tc.wantErr) {
					t.Errorf("Err() = %v; want %v", err, tc.wantErr)
				}
				if err := context.Cause(ctx); !errors.Is(err, tc.wantErr) {
					t.Errorf("Cause() = %v; want %v", err, tc.wantErr)
				}
				select {
				case <-ctx.Done():
				default:
					t.Error("Done() is not closed after the end")
				}
			})
		})
	}
}

// TestWithDeadlineArmedDoneCloses: a goroutine waiting on Done wakes at the
// deadline, as with context.WithDeadline.
func TestWithDeadlineArmedDoneCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		ctx, cancel := WithDeadline(context.Background(), start.Add(300*time.Millisecond))
		defer cancel()
		<-ctx.Done()
		if got := time.Since(start); got != 300*time.Millisecond {
			t.Errorf("Done closed after %v; want 300ms", got)
		}
	})
}

// TestUnarmed: the transport may keep the deadline itself only while
// nothing else watches the context, and not once it has ended.
func TestUnarmed(t *testing.T) {
	parent := context.Background()
	d := time.Now().Add(time.Hour)
	ctx, cancel := WithDeadline(parent, d)
	if p, got, ok := unarmed(ctx); !ok || p != parent || !got.Equal(d) {
		t.Fatalf("unarmed(fresh) = %v, %v, %v; want the parent, %v, true", p, got, ok, d)
	}
	child, cancelChild := context.WithCancel(ctx) // arms it: the child must hear of its end
	defer cancelChild()
	if _, _, ok := unarmed(ctx); ok {
		t.Error("unarmed after a child was derived = true; want false")
	}
	cancel()
	if child.Err() == nil {
		t.Error("the derived context is live after cancel; want it canceled")
	}

	ended, cancel2 := WithDeadline(parent, d)
	cancel2()
	if _, _, ok := unarmed(ended); ok {
		t.Error("unarmed after cancel = true; want false")
	}
	if _, _, ok := unarmed(context.Background()); ok {
		t.Error("unarmed(Background) = true; want false")
	}
}

// TestTransportKeepsAnUnarmedDeadline: over HTTP/1.1, a request under
// WithDeadline whose endpoint never answers fails at the deadline with
// DeadlineExceeded, the body read of a slow response too, and one whose
// parent ends (the client left) is cut then, all without the context
// being armed. Real time on loopback, with generous bounds.
func TestTransportKeepsAnUnarmedDeadline(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	b := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		var path string
		for path == "" || path == "/ok" {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if path = req.URL.Path; path == "/ok" {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		}
		if path == "/slow-body" {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
		}
		<-hang
	})
	tr := newTestTransport(t, Config{})
	for _, tc := range []struct {
		path, end string
		want      error
	}{
		{"/hang", "deadline", context.DeadlineExceeded},
		{"/slow-body", "deadline", context.DeadlineExceeded},
		{"/hang", "parent", context.Canceled},
	} {
		// A pooled connection first: a dial watches its context, as it
		// must, and arms it.
		if _, body, err := get(t, tr, "GET", b.url()+"/ok", nil); err != nil || body != "ok" {
			t.Fatalf("GET /ok: %q, %v", body, err)
		}
		parent, cancelParent := context.WithCancel(context.Background())
		ctx, cancel := WithDeadline(parent, time.Now().Add(200*time.Millisecond))
		if tc.end == "parent" {
			time.AfterFunc(100*time.Millisecond, cancelParent)
		}
		// Midway, the call must be under way with the context unarmed.
		var armed atomic.Bool
		time.AfterFunc(50*time.Millisecond, func() {
			_, _, ok := unarmed(ctx)
			armed.Store(!ok)
		})
		req, _ := http.NewRequestWithContext(ctx, "GET", b.url()+tc.path, nil)
		start := time.Now()
		resp, err := tr.RoundTrip(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		took := time.Since(start)
		if armed.Load() {
			t.Errorf("%s, %s: the call armed the context; want its deadline kept on the connection", tc.path, tc.end)
		}
		if err == nil {
			t.Errorf("%s, %s: got a whole answer; want the call cut", tc.path, tc.end)
		}
		if cerr := ctx.Err(); !errors.Is(cerr, tc.want) {
			t.Errorf("%s, %s: ctx.Err() = %v; want %v", tc.path, tc.end, cerr, tc.want)
		}
		if took > 5*time.Second {
			t.Errorf("%s, %s: cut after %v; want about 200ms", tc.path, tc.end, took)
		}
		cancel()
		cancelParent()
	}
}
