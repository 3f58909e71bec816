package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2cClient speaks HTTP/2 frames by hand to the proxy, as h2spec does.
type h2cClient struct {
	t    *testing.T
	nc   net.Conn
	fr   *http2.Framer
	enc  *hpack.Encoder
	hbuf bytes.Buffer
}

// h2cStart opens an h2c connection with the preface and an empty SETTINGS
// frame, and returns the frames' reader and writer.
func h2cStart(t *testing.T, e *env) *h2cClient {
	t.Helper()
	c := &h2cClient{t: t, nc: e.rawConn()}
	c.enc = hpack.NewEncoder(&c.hbuf)
	if _, err := c.nc.Write(h2Preface); err != nil {
		t.Fatal(err)
	}
	c.fr = http2.NewFramer(c.nc, c.nc)
	c.fr.SetMaxReadFrameSize(1 << 24)
	if err := c.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return c
}

// block encodes a request's header block: GET path, then the fields in kv.
func (c *h2cClient) block(path string, kv ...string) []byte {
	c.hbuf.Reset()
	fields := []string{":method", "GET", ":scheme", "http", ":authority", "h", ":path", path}
	fields = append(fields, kv...)
	for i := 0; i < len(fields); i += 2 {
		c.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return bytes.Clone(c.hbuf.Bytes())
}

func (c *h2cClient) get(stream uint32, path string, kv ...string) {
	c.t.Helper()
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: c.block(path, kv...),
		EndStream: true, EndHeaders: true}); err != nil {
		c.t.Fatal(err)
	}
}

// until reads frames until one matches, and returns it; a connection that
// ends first fails the test, naming what came.
func (c *h2cClient) until(what string, match func(http2.Frame) bool) http2.Frame {
	c.t.Helper()
	var seen []string
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v after %v", what, err, seen)
		}
		if match(f) {
			return f
		}
		seen = append(seen, f.Header().String())
	}
}

// closed reads what is left and fails unless the connection ends.
func (c *h2cClient) closed() {
	c.t.Helper()
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
				c.t.Fatalf("after GOAWAY: %v; want the connection closed", err)
			}
			return
		}
		if _, ok := f.(*http2.DataFrame); ok {
			c.t.Fatalf("after GOAWAY: %v; want no answer", f.Header())
		}
	}
}

func goaway(code http2.ErrCode) func(http2.Frame) bool {
	return func(f http2.Frame) bool {
		g, ok := f.(*http2.GoAwayFrame)
		return ok && g.ErrCode == code
	}
}

func answered(stream uint32) func(http2.Frame) bool {
	return func(f http2.Frame) bool {
		h, ok := f.(*http2.HeadersFrame)
		return ok && h.StreamID == stream
	}
}

func TestH2CConnectionSpecificFieldIsAProtocolError(t *testing.T) {
	// RFC 9113 §8.2.2: such a request is malformed, a PROTOCOL_ERROR;
	// Go's HTTP/2 server alone would answer it 400.
	b := startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {})
	e := startProxy(t, yamlf("upstreams:\n  api: {endpoints: [{address: %s}]}\nroutes:\n  - {name: r, match: {path_prefix: /}, upstream: api}\n", b.URL))
	for _, kv := range [][]string{
		{"connection", "keep-alive"},
		{"keep-alive", "timeout=5"},
		{"proxy-connection", "keep-alive"},
		{"transfer-encoding", "chunked"},
		{"upgrade", "websocket"},
		{"te", "gzip"},
		{"te", "trailers, deflate"},
	} {
		t.Run(kv[0]+": "+kv[1], func(t *testing.T) {
			before := b.requests.Load()
			c := h2cStart(t, e)
			c.get(1, "/ok")
			c.until("the first stream's answer", answered(1))
			c.get(3, "/bad", kv...)
			f := c.until("GOAWAY PROTOCOL_ERROR", goaway(http2.ErrCodeProtocol))
			if last := f.(*http2.GoAwayFrame).LastStreamID; last != 1 {
				t.Errorf("GOAWAY's last stream is %d; want 1, the last one served", last)
			}
			c.closed()
			if got := b.requests.Load() - before; got != 1 {
				t.Errorf("the upstream got %d requests; want only the first", got)
			}
		})
	}
	t.Run("te: trailers", func(t *testing.T) {
		c := h2cStart(t, e)
		c.get(1, "/ok", "te", "trailers")
		f := c.until("the answer", answered(1))
		if st := f.(*http2.HeadersFrame); !st.StreamEnded() && st.Header().Length == 0 {
			t.Fatal("an empty answer")
		}
	})
	t.Run("in a CONTINUATION frame, from the dynamic table", func(t *testing.T) {
		c := h2cStart(t, e)
		blk := c.block("/bad", "x-a", "1", "connection", "close")
		if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk[:len(blk)-3], EndStream: true}); err != nil {
			t.Fatal(err)
		}
		if err := c.fr.WriteContinuation(1, true, blk[len(blk)-3:]); err != nil {
			t.Fatal(err)
		}
		c.until("GOAWAY PROTOCOL_ERROR", goaway(http2.ErrCodeProtocol))
		c.closed()
	})
}

func TestH2CSettingsNamedTwiceAreProcessedInOrder(t *testing.T) {
	// RFC 9113 §6.5.3; Go's HTTP/2 server alone hangs up on such a frame.
	b := startHandler(t, false, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	e := startProxy(t, yamlf("upstreams:\n  api: {endpoints: [{address: %s}]}\nroutes:\n  - {name: r, match: {path_prefix: /}, upstream: api}\n", b.URL))
	c := h2cStart(t, e)
	ack := func(f http2.Frame) bool {
		s, ok := f.(*http2.SettingsFrame)
		return ok && s.IsAck()
	}
	// Straight after h2cStart's: each SETTINGS frame gets its own ACK, even
	// when two arrive together (Go's server alone would ACK them once).
	if err := c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1}); err != nil {
		t.Fatal(err)
	}
	c.until("the ACK of the first SETTINGS", ack)
	c.until("the ACK of the SETTINGS naming one twice", ack)
	c.get(1, "/")
	f := c.until("DATA", func(f http2.Frame) bool { _, ok := f.(*http2.DataFrame); return ok })
	if n := len(f.(*http2.DataFrame).Data()); n != 1 {
		t.Fatalf("DATA of %d bytes; want 1, the window the last value set", n)
	}
}

func TestH2CFrameOverTheLimitIsAFrameSizeError(t *testing.T) {
	e := startProxy(t, "upstreams:\n  api: {endpoints: [{address: http://127.0.0.1:1}]}\nroutes:\n  - {name: r, match: {path_prefix: /}, upstream: api}\n")
	c := h2cStart(t, e)
	f := c.until("the server's SETTINGS", func(f http2.Frame) bool {
		s, ok := f.(*http2.SettingsFrame)
		return ok && !s.IsAck()
	})
	if v, ok := f.(*http2.SettingsFrame).Value(http2.SettingMaxFrameSize); !ok || v != h2MaxFrame {
		t.Errorf("SETTINGS_MAX_FRAME_SIZE %d (sent: %v); want %d", v, ok, h2MaxFrame)
	}
	// '~' is longer in Huffman code than raw: the frame is over 17,000 bytes.
	c.get(1, "/", "x-big", strings.Repeat("~", 17000))
	c.until("GOAWAY FRAME_SIZE_ERROR", goaway(http2.ErrCodeFrameSize))
	c.closed()
}

func TestH1NotHTTPClosesWithoutAnswer(t *testing.T) {
	// An HTTP/2 client's broken preface, or anything else that is not
	// HTTP/1.x, gets no HTTP/1.1 answer that it would misread as frames;
	// a malformed HTTP/1.x request still gets its 400.
	e := startProxy(t, "upstreams:\n  api: {endpoints: [{address: http://127.0.0.1:1}]}\nroutes:\n  - {name: r, match: {path_prefix: /}, upstream: api}\n")
	for _, tt := range []struct{ send, want string }{
		{"INVALID CONNECTION PREFACE\r\n\r\n", ""},
		{"GET / SPDY/3\r\nHost: h\r\n\r\n", ""},
		{"GET / http/1.1\r\nHost: h\r\n\r\n", "HTTP/1.1 400 "},
		{"GET / HTTP/1.x\r\nHost: h\r\n\r\n", "HTTP/1.1 400 "},
	} {
		c := e.rawConn()
		io.WriteString(c, tt.send)
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("%q: %v", tt.send, err)
		}
		if (tt.want == "" && len(got) != 0) || !bytes.HasPrefix(got, []byte(tt.want)) {
			t.Errorf("%q: got %q; want %q", tt.send, short(string(got)), tt.want)
		}
	}
}

// feedConn is a connection whose client sends in and whose writes vanish.
type feedConn struct {
	net.Conn
	in    []byte
	sizes []byte // the size of each read, in turn
}

func (c *feedConn) Read(p []byte) (int, error) {
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	n := len(c.in)
	if len(c.sizes) > 0 {
		n = int(c.sizes[0]) + 1
		c.sizes = c.sizes[1:]
	}
	n = copy(p[:min(len(p), n)], c.in)
	c.in = c.in[n:]
	return n, nil
}

func (c *feedConn) Write(p []byte) (int, error)        { return len(p), nil }
func (c *feedConn) Close() error                       { return nil }
func (c *feedConn) SetWriteDeadline(t time.Time) error { return nil }

func FuzzH2Guard(f *testing.F) {
	frame := func(typ, flags byte, stream uint32, payload []byte) []byte {
		h := []byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typ, flags, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(h[5:], stream)
		return append(h, payload...)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, kv := range [][2]string{{":method", "GET"}, {":path", "/"}, {"x", "y"}} {
		enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	good := hb.Bytes()
	settings := []byte{0, 4, 0, 0, 0, 100, 0, 4, 0, 0, 0, 1}
	f.Add(append(frame(4, 0, 0, settings), frame(1, 5, 1, good)...), []byte{3, 200, 7})
	f.Add(append(frame(1, 0, 1, good[:3]), frame(9, 4, 1, good[3:])...), []byte{0})
	f.Add(append(frame(0, 1, 1, []byte("hello")), frame(1, 0x2d, 3, append([]byte{2, 0, 0, 0, 0, 9}, append(good, 0, 0)...))...), []byte{})
	f.Fuzz(func(t *testing.T, in, sizes []byte) {
		src := append(bytes.Clone(h2Preface), in...)
		g := newH2Guard(&feedConn{in: bytes.Clone(src), sizes: sizes}, 1<<16)
		g.acks = 1 << 30 // no server here to acknowledge SETTINGS
		var out []byte
		p := make([]byte, 7)
		for i := 0; ; i++ {
			if i > 10*len(src)+100 {
				t.Fatal("the guard reads on without end")
			}
			n, err := g.Read(p[:1+i%len(p)])
			out = append(out, p[:n]...)
			if err != nil {
				break
			}
		}
		// Unless it refused the client or rewrote a SETTINGS frame, the
		// guard hands on exactly what came.
		if g.err == nil && !g.rewrote && !bytes.Equal(out, src) {
			t.Fatalf("handed on %x; want %x", out, src)
		}
		if !bytes.HasPrefix(out, h2Preface) && len(src) > 0 {
			t.Fatalf("the preface did not pass: %x", out)
		}
	})
}

// BenchmarkH2GuardRequest: what the guard costs one h2c request as a
// client sends it after the first (its fields from the dynamic table) and
// Go's server reads it (each frame's header, then its payload).
func BenchmarkH2GuardRequest(b *testing.B) {
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	fields := [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "127.0.0.1:8080"},
		{":path", "/items?id=7"}, {"user-agent", "h2load nghttp2/1.52.0"}}
	block := func() []byte {
		hb.Reset()
		for _, f := range fields {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		return bytes.Clone(hb.Bytes())
	}
	first := block() // the first request fills the dynamic table
	req := block()
	frames := func(blk []byte) []byte {
		var out bytes.Buffer
		fr := http2.NewFramer(&out, nil)
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk, EndStream: true, EndHeaders: true})
		fr.WriteWindowUpdate(0, 1<<16)
		return out.Bytes()
	}
	const per = 1000
	stream := append(bytes.Clone(h2Preface), frames(first)...)
	for range per - 1 {
		stream = append(stream, frames(req)...)
	}
	var g *h2Guard
	head := make([]byte, 9)
	payload := make([]byte, 1<<14)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%per == 0 {
			if g != nil && g.off {
				b.Fatal("the guard stopped inspecting")
			}
			g = newH2Guard(&feedConn{in: stream}, 1<<16)
			io.ReadFull(g, payload[:len(h2Preface)])
		}
		for range 2 { // HEADERS, WINDOW_UPDATE
			if _, err := io.ReadFull(g, head); err != nil {
				b.Fatal(err)
			}
			n := int(head[0])<<16 | int(head[1])<<8 | int(head[2])
			if _, err := io.ReadFull(g, payload[:n]); err != nil {
				b.Fatal(err)
			}
		}
	}
}
