package proxy

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"time"

	"golang.org/x/net/http2/hpack"
)

// h2Guard stands between an h2c client and Go's HTTP/2 server, and holds
// the client to the parts of RFC 9113 that server lets pass or answers
// otherwise than the RFC asks:
//
//   - A request with a connection-specific field (Connection, Keep-Alive,
//     Proxy-Connection, Transfer-Encoding, Upgrade) or a TE other than
//     "trailers" is malformed (§8.2.2): Go's server answers it 400, where
//     the RFC asks for a PROTOCOL_ERROR. The guard ends the connection with
//     GOAWAY PROTOCOL_ERROR before the server sees the request (§5.4.1 lets
//     a stream error be treated as a connection error; golang/go#26321).
//   - A SETTINGS frame that names one setting twice must be processed in
//     order (§6.5.3); Go's server hangs up on it. The guard hands the
//     server the same frame with each setting once, at its last value,
//     which leaves every setting as processing them in order would.
//   - Each SETTINGS frame must be acknowledged (§6.5.3); Go's server
//     sends one ACK for all it processed before it wrote. The guard hands
//     the server a SETTINGS frame only once the one before is
//     acknowledged, holding back what follows it.
//
// The guard reads the client's frames as they pass, keeping an HPACK
// decoder in step with the server's to see the header fields. It buffers
// only SETTINGS, HEADERS and CONTINUATION frames, each at most
// h2MaxFrame; every other frame's payload passes through as it comes. It
// watches the server's writes only for frame boundaries, so that its
// GOAWAY lands between two of the server's frames. Whatever it cannot
// make sense of (a frame over the size limit, a header block that does
// not decode) it stops inspecting and passes on, for the server to reject
// as it does.
type h2Guard struct {
	net.Conn

	// Reading: Read's alone.
	store   []byte // buf's backing array
	buf     []byte // read from the connection, not yet handed on
	out     []byte // inspected bytes to hand on
	skip    int    // preface bytes still to hand on uninspected
	pass    int    // payload bytes of an uninspected frame still to hand on
	off     bool   // stopped inspecting
	dec     *hpack.Decoder
	bad     bool   // the header block being decoded has a forbidden field
	inBlock bool   // a header block is open (CONTINUATION frames follow)
	last    uint32 // the highest stream the server was handed a HEADERS of
	err     error  // errH2Malformed once the guard ended the connection
	rewrote bool   // a SETTINGS frame was handed on rewritten

	// Writing, under wmu.
	wmu   sync.Mutex
	whead [9]byte // a frame header being written, so far
	whn   int     // its bytes so far
	wleft int     // payload bytes of the current frame still to come

	// SETTINGS frames handed to the server, and ACKs it wrote, under
	// ackMu (taken inside wmu, never around it: Close must not wait for a
	// write it is to unblock); acked signals an ACK or the end.
	ackMu          sync.Mutex
	settings, acks int
	acked          *sync.Cond
	closed         bool
}

// h2MaxFrame is SETTINGS_MAX_FRAME_SIZE for the data plane's HTTP/2 server
// (the protocol's default, RFC 9113 §6.5.2); a larger frame is the
// server's to refuse.
const h2MaxFrame = 1 << 14

// Frame types and flags the guard reads (RFC 9113 §6).
const (
	h2FrameHeaders      = 0x1
	h2FrameSettings     = 0x4
	h2FrameContinuation = 0x9
	h2FlagEndHeaders    = 0x4
	h2FlagPadded        = 0x8
	h2FlagPriority      = 0x20
	h2FlagAck           = 0x1
	h2ErrProtocol       = 0x1
)

// errH2Malformed ends a connection the guard closed.
var errH2Malformed = errors.New("h2c: malformed request")

// newH2Guard guards nc, whose stream starts with the client's preface;
// maxString bounds a header string the guard's decoder holds.
func newH2Guard(nc net.Conn, maxString int) *h2Guard {
	g := &h2Guard{Conn: nc, skip: len(h2Preface)}
	g.acked = sync.NewCond(&g.ackMu)
	// In step with the server's decoder: the default table size, which
	// the server never raises. A decoder error only stops the
	// inspection; the server's decoder fails on the same bytes.
	g.dec = hpack.NewDecoder(4096, g.field)
	g.dec.SetMaxStringLength(maxString)
	return g
}

// field sees each header field the client sends.
func (g *h2Guard) field(f hpack.HeaderField) {
	if connectionSpecific(f.Name, f.Value) {
		g.bad = true
	}
}

// connectionSpecific reports whether a field is one a request over HTTP/2
// must not carry (RFC 9113 §8.2.2). Field names arrive lower case; one
// that is not is the server's to refuse.
func connectionSpecific(name, value string) bool {
	switch name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		return true
	case "te":
		return value != "trailers"
	}
	return false
}

func (g *h2Guard) Read(p []byte) (int, error) {
	for {
		if len(g.out) > 0 {
			n := copy(p, g.out)
			g.out = g.out[n:]
			return n, nil
		}
		if g.err != nil {
			return 0, g.err
		}
		if n := g.through(); n > 0 || g.off {
			// The preface, an uninspected payload, or everything once
			// inspection stopped: straight on.
			if g.off {
				n = len(p)
			}
			var m int
			var err error
			if len(g.buf) > 0 {
				m = copy(p[:min(len(p), n)], g.buf)
				g.buf = g.buf[m:]
			} else {
				m, err = g.Conn.Read(p[:min(len(p), n)])
			}
			if !g.off {
				g.consumed(m)
			}
			return m, err
		}
		if err := g.frame(); err != nil {
			if !isTimeout(err) {
				// The stream ended inside a frame: what came of it goes
				// on, then the error, for the server to judge.
				g.off = true
				continue
			}
			// A deadline keeps what was read, for the next read.
			return 0, err
		}
	}
}

// through is how many bytes may go on without inspection now.
func (g *h2Guard) through() int {
	if g.skip > 0 {
		return g.skip
	}
	return g.pass
}

func (g *h2Guard) consumed(n int) {
	if g.skip > 0 {
		g.skip -= n
	} else {
		g.pass -= n
	}
}

// fill makes the next n bytes of the client's stream available in g.buf.
// Nothing of g.buf may be waiting in g.out: the bytes move.
func (g *h2Guard) fill(n int) error {
	for len(g.buf) < n {
		if cap(g.buf) < n {
			if len(g.store) < n {
				g.store = make([]byte, max(n, 4096))
			}
			g.buf = g.store[:copy(g.store, g.buf)]
		}
		m, err := g.Conn.Read(g.buf[len(g.buf):cap(g.buf)])
		g.buf = g.buf[:len(g.buf)+m]
		if err != nil && len(g.buf) < n {
			return err
		}
	}
	return nil
}

// frame reads the next frame's header and decides what becomes of it.
func (g *h2Guard) frame() error {
	if err := g.fill(9); err != nil {
		return err
	}
	length := int(g.buf[0])<<16 | int(g.buf[1])<<8 | int(g.buf[2])
	typ, flags := g.buf[3], g.buf[4]
	stream := binary.BigEndian.Uint32(g.buf[5:9]) & (1<<31 - 1)
	inspect := typ == h2FrameSettings || typ == h2FrameHeaders || typ == h2FrameContinuation
	if !inspect && !g.inBlock {
		g.out, g.buf = g.buf[:9:9], g.buf[9:]
		g.pass = length
		return nil
	}
	if length > h2MaxFrame || (g.inBlock && typ != h2FrameContinuation) {
		g.off = true // the server refuses it
		return nil
	}
	if err := g.fill(9 + length); err != nil {
		return err
	}
	f := g.buf[: 9+length : 9+length]
	g.buf = g.buf[9+length:]
	switch typ {
	case h2FrameSettings:
		g.out = dedupeSettings(f, flags, stream)
		g.rewrote = g.rewrote || len(g.out) != len(f)
		if flags&h2FlagAck == 0 {
			g.awaitAck()
		}
		return nil
	case h2FrameHeaders:
		if stream == 0 {
			g.off = true
			g.out = f
			return nil
		}
		frag, ok := headerFragment(f[9:], flags)
		if !ok {
			g.off = true
			g.out = f
			return nil
		}
		g.bad = false
		g.inBlock = true
		if err := g.decode(frag, flags); err != nil {
			return err
		}
		if !g.off {
			g.last = max(g.last, stream)
		}
	case h2FrameContinuation:
		if !g.inBlock {
			g.off = true
			g.out = f
			return nil
		}
		if err := g.decode(f[9:], flags); err != nil {
			return err
		}
	}
	g.out = f
	return nil
}

// decode feeds one fragment of a header block to the decoder; at the
// block's end, a forbidden field ends the connection.
func (g *h2Guard) decode(frag []byte, flags byte) error {
	if _, err := g.dec.Write(frag); err != nil {
		g.off = true // the server's decoder fails on it as well
		return nil
	}
	if flags&h2FlagEndHeaders == 0 {
		if g.bad {
			return g.refuse()
		}
		return nil
	}
	g.inBlock = false
	if err := g.dec.Close(); err != nil {
		g.off = true
		return nil
	}
	if g.bad {
		return g.refuse()
	}
	return nil
}

// refuse ends the connection with GOAWAY PROTOCOL_ERROR, between two of
// the server's frames (without the GOAWAY if the server is inside one).
func (g *h2Guard) refuse() error {
	// A write of the server's that the client does not read fails by
	// this deadline, and the GOAWAY gets as long.
	g.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	g.wmu.Lock()
	if g.whn == 0 && g.wleft == 0 {
		var b [17]byte
		b[2] = 8   // length
		b[3] = 0x7 // GOAWAY
		binary.BigEndian.PutUint32(b[9:], g.last)
		binary.BigEndian.PutUint32(b[13:], h2ErrProtocol)
		g.Conn.Write(b[:])
	}
	g.wleft = -1 // nothing more of the server's goes out
	g.wmu.Unlock()
	g.Close()
	g.err = errH2Malformed
	return g.err
}

// awaitAck waits until the server acknowledged every SETTINGS frame it
// was handed, and counts one more.
func (g *h2Guard) awaitAck() {
	g.ackMu.Lock()
	for g.acks < g.settings && !g.closed {
		g.acked.Wait()
	}
	g.settings++
	g.ackMu.Unlock()
}

func (g *h2Guard) Close() error {
	g.ackMu.Lock()
	g.closed = true
	g.acked.Broadcast()
	g.ackMu.Unlock()
	return g.Conn.Close()
}

func (g *h2Guard) Write(p []byte) (int, error) {
	g.wmu.Lock()
	defer g.wmu.Unlock()
	if g.wleft < 0 {
		return 0, net.ErrClosed
	}
	n, err := g.Conn.Write(p)
	g.track(p[:n])
	return n, err
}

// track follows the frame boundaries in what the server wrote.
func (g *h2Guard) track(p []byte) {
	for len(p) > 0 {
		if g.wleft > 0 {
			k := min(g.wleft, len(p))
			g.wleft -= k
			p = p[k:]
			continue
		}
		k := copy(g.whead[g.whn:], p)
		g.whn += k
		p = p[k:]
		if g.whn == 9 {
			g.whn = 0
			g.wleft = int(g.whead[0])<<16 | int(g.whead[1])<<8 | int(g.whead[2])
			if g.whead[3] == h2FrameSettings && g.whead[4]&h2FlagAck != 0 {
				g.ackMu.Lock()
				g.acks++
				g.acked.Broadcast()
				g.ackMu.Unlock()
			}
		}
	}
}

// headerFragment returns a HEADERS frame's header block fragment, without
// its padding and priority fields.
func headerFragment(payload []byte, flags byte) ([]byte, bool) {
	pad := 0
	if flags&h2FlagPadded != 0 {
		if len(payload) < 1 {
			return nil, false
		}
		pad = int(payload[0])
		payload = payload[1:]
	}
	if flags&h2FlagPriority != 0 {
		if len(payload) < 5 {
			return nil, false
		}
		payload = payload[5:]
	}
	if pad > len(payload) {
		return nil, false
	}
	return payload[:len(payload)-pad], true
}

// dedupeSettings returns a SETTINGS frame f with each setting once, at its
// last value and in the order of the last values, when it names a setting
// more than once and every value is valid; otherwise f as it is, for the
// server to judge.
func dedupeSettings(f []byte, flags byte, stream uint32) []byte {
	payload := f[9:]
	n := len(payload) / 6
	if flags&h2FlagAck != 0 || stream != 0 || len(payload)%6 != 0 || n < 2 || n > 100 {
		return f
	}
	dup := false
	for i := 0; i < n && !dup; i++ {
		id := binary.BigEndian.Uint16(payload[6*i:])
		if !validSetting(id, binary.BigEndian.Uint32(payload[6*i+2:])) {
			return f
		}
		for j := i + 1; j < n; j++ {
			if binary.BigEndian.Uint16(payload[6*j:]) == id {
				dup = true
				break
			}
		}
	}
	if !dup {
		return f
	}
	for i := 0; i < n; i++ {
		if !validSetting(binary.BigEndian.Uint16(payload[6*i:]), binary.BigEndian.Uint32(payload[6*i+2:])) {
			return f
		}
	}
	out := make([]byte, 9, len(f))
	copy(out, f[:9])
next:
	for i := 0; i < n; i++ {
		id := binary.BigEndian.Uint16(payload[6*i:])
		for j := i + 1; j < n; j++ {
			if binary.BigEndian.Uint16(payload[6*j:]) == id {
				continue next // a later value replaces it
			}
		}
		out = append(out, payload[6*i:6*i+6]...)
	}
	l := len(out) - 9
	out[0], out[1], out[2] = byte(l>>16), byte(l>>8), byte(l)
	return out
}

// validSetting reports whether a setting's value is one the RFC allows
// (§6.5.2); an unknown setting is ignored, so any value is.
func validSetting(id uint16, v uint32) bool {
	switch id {
	case 0x2: // ENABLE_PUSH
		return v <= 1
	case 0x4: // INITIAL_WINDOW_SIZE
		return v <= 1<<31-1
	case 0x5: // MAX_FRAME_SIZE
		return v >= 1<<14 && v <= 1<<24-1
	}
	return true
}
