package holdfastgrpc

import (
	"context"
	"io"
	"slices"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/holdfast-dev/holdfast"
)

// StreamClientInterceptor returns an interceptor that runs the
// establishment of every stream through c's policies, or the errors of
// [ClientConfig.Validate]. Install it with grpc.WithChainStreamInterceptor.
//
// A stream is established when the server has sent its response header or
// ended the stream; until then it is the policies' call. The request
// messages sent so far are kept (up to [ClientConfig.StreamBuffer] bytes)
// and sent again on each new attempt, so an attempt the server refused
// (UNAVAILABLE, say) is retried or hedged as a unary call is. Once the header
// has come, the stream is the caller's and is never retried: its messages
// may have been acted on. A stream that ended before any header with an
// answer (OK, NOT_FOUND, ...) is established too, and delivers that status.
//
// The policies see only the establishment. A per-try timeout or a timeout
// policy bounds how long the server may take to send its header; the stream
// itself lives under the caller's context, whose deadline is the one sent
// as grpc-timeout. A breaker counts an establishment as a success, and a
// failure after it is not counted.
//
// NewStream returns once the first attempt's stream is open, or with the
// error when the policies refused the call or every attempt failed to open
// one. RecvMsg and Header wait for the establishment; SendMsg does not.
func StreamClientInterceptor(c ClientConfig) (grpc.StreamClientInterceptor, error) {
	cl, err := newClient(c)
	if err != nil {
		return nil, err
	}
	return cl.stream, nil
}

func (c *client) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if c.none {
		return streamer(ctx, desc, cc, method, opts...)
	}
	rest, sinks := splitOptions(opts)
	cs := &clientStream{
		c: c, ctx: ctx, desc: desc, cc: cc, method: method, streamer: streamer, opts: rest, sinks: sinks,
		opened:  make(chan struct{}),
		decided: make(chan struct{}),
	}
	go cs.run()
	select {
	case <-cs.opened:
	case <-cs.decided:
	}
	a, err := cs.outcome()
	switch {
	case err != nil:
		return nil, err
	case a != nil && a.s == nil:
		return nil, a.endErr // answered before a stream opened
	}
	return cs, nil
}

// clientStream is a stream under the client's policies. Until it is
// established it keeps what the caller sent and forwards it to every live
// attempt; afterwards it passes everything to the established one.
type clientStream struct {
	c        *client
	ctx      context.Context // the caller's
	desc     *grpc.StreamDesc
	cc       *grpc.ClientConn
	method   string
	streamer grpc.Streamer
	opts     []grpc.CallOption
	sinks    sinks

	opened  chan struct{} // closed when the first attempt's stream is open
	decided chan struct{} // closed when the policies have returned
	ended   sync.Once     // the caller saw the end of the stream

	// mu guards the fields below.
	mu         sync.Mutex
	attempts   int32
	openedDone bool
	done       bool  // the policies have returned: no attempt may commit
	sent       []any // copies of the messages sent before establishment
	size       int   // their size in bytes
	closed     bool  // CloseSend came before establishment
	full       bool  // a message was not kept: no new attempt can replay them all
	live       []*attempt
	committed  *attempt
	err        error      // the stream's error when none was established
	last       *attempt   // the last attempt that failed
	lastErr    *callError // its error
}

// attempt is one stream the policies opened.
type attempt struct {
	s      grpc.ClientStream // nil when it failed with an answer before it opened
	cancel context.CancelFunc
	endErr error // the status it ended with before any header, io.EOF for OK

	// mu orders sends on s: a replay and the caller's own sends.
	mu        sync.Mutex
	n         int  // messages of clientStream.sent sent on s
	closeSent bool // CloseSend sent
	broken    bool // a send failed: s has ended, and its status will tell
}

// run runs the policies and records their decision.
func (cs *clientStream) run() {
	_, err := cs.c.p.Get(cs.ctx, cs.attempt)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.done = true
	switch {
	case err != nil:
		if a := cs.committed; a != nil {
			// Established as the policies gave up (a timeout that fired as
			// the header came): their word is final.
			a.cancel()
			cs.committed, cs.last = nil, a
		}
		cs.err = clientError(cs.ctx, err)
	case cs.committed == nil:
		cs.err = status.Error(codes.Internal, "holdfastgrpc: the policies reported success without an established stream")
	}
	for _, a := range cs.live {
		a.cancel()
	}
	cs.live, cs.sent = nil, nil
	close(cs.decided)
}

// attempt is one attempt of the policies: open a stream, send it what the
// caller sent, and wait for its header or its end.
func (cs *clientStream) attempt(actx context.Context) (answer, error) {
	cs.mu.Lock()
	if cs.committed != nil || cs.done {
		cs.mu.Unlock()
		return answer{}, nil
	}
	if cs.full {
		return answer{}, cs.refuseLocked(actx)
	}
	cs.attempts++
	n := cs.attempts
	cs.mu.Unlock()

	// The stream outlives the attempt once established, so its context is
	// the caller's; the attempt's context ending first cancels it.
	sctx, cancel := context.WithCancel(attemptContext(cs.ctx, n))
	stop := context.AfterFunc(actx, cancel)
	s, err := cs.streamer(sctx, cs.desc, cs.cc, cs.method, cs.opts...)
	if err != nil {
		stop()
		cancel()
		perr := cs.c.classes.classify(actx, err, nil)
		cs.mu.Lock()
		defer cs.mu.Unlock()
		if perr == nil && cs.committed == nil && !cs.done {
			cs.committed = &attempt{cancel: func() {}, endErr: err}
		}
		cs.failedLocked(nil, perr)
		return answer{}, perr
	}
	a := &attempt{s: s, cancel: cancel}
	cs.mu.Lock()
	if cs.committed != nil || cs.done || cs.full {
		stop()
		cancel()
		if cs.full && cs.committed == nil && !cs.done {
			return answer{}, cs.refuseLocked(actx)
		}
		cs.mu.Unlock()
		return answer{}, nil
	}
	cs.live = append(cs.live, a)
	sent, closed := cs.sent, cs.closed
	if !cs.openedDone {
		cs.openedDone = true
		close(cs.opened)
	}
	cs.mu.Unlock()
	a.catchUp(sent, closed, nil)

	var endErr error
	if h, _ := s.Header(); h == nil {
		// The stream ended before any header; RecvMsg reads its status
		// without decoding anything.
		endErr = s.RecvMsg(nil)
	}
	var perr error
	if endErr != nil && endErr != io.EOF {
		perr = cs.c.classes.classify(actx, endErr, s.Trailer())
	}

	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.live = slices.DeleteFunc(cs.live, func(o *attempt) bool { return o == a })
	if cs.committed != nil || cs.done {
		stop()
		cancel()
		return answer{}, nil // another attempt was established first, or the policies are done
	}
	if perr == nil && !stop() {
		// The attempt's context ended just as the header came, and took
		// the stream with it.
		cerr := actx.Err()
		perr = &callError{err: status.FromContextError(cerr).Err(), st: status.FromContextError(cerr), ctxErr: cerr}
	}
	if perr != nil {
		cancel()
		cs.failedLocked(a, perr)
		return answer{}, perr
	}
	a.endErr = endErr
	cs.committed = a
	for _, o := range cs.live {
		o.cancel() // a hedge's other attempts: this one won
	}
	cs.live, cs.sent = nil, nil
	return answer{}, nil
}

// failedLocked records an attempt that failed with perr, the policies' view
// of its error.
func (cs *clientStream) failedLocked(a *attempt, perr error) {
	if ce := direct(perr); ce != nil {
		if a != nil {
			cs.last = a
		}
		cs.lastErr = ce
	}
}

// refuseLocked is an attempt that cannot start because some message sent
// was not kept, so a new stream could not be sent them all. With another
// attempt still running (a hedge's), it waits for the hedge to decide;
// otherwise the stream fails with the last attempt's error. It unlocks
// cs.mu.
func (cs *clientStream) refuseLocked(actx context.Context) error {
	others := len(cs.live) > 0
	last := cs.lastErr
	cs.mu.Unlock()
	if others {
		<-actx.Done()
		return actx.Err()
	}
	if last == nil {
		st := status.New(codes.Unavailable, "holdfastgrpc: the stream's messages outgrew stream_buffer before it was established")
		last = &callError{err: st.Err(), st: st}
	}
	return holdfast.Permanent(last)
}

// catchUp sends a's stream the messages in sent it has not had yet, then
// extra if not nil, then CloseSend if closed.
func (a *attempt) catchUp(sent []any, closed bool, extra any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for ; a.n < len(sent) && !a.broken; a.n++ {
		if a.s.SendMsg(sent[a.n]) != nil {
			a.broken = true
		}
	}
	if extra != nil && !a.broken && a.s.SendMsg(extra) != nil {
		a.broken = true
	}
	if closed && !a.closeSent && !a.broken {
		a.closeSent = true
		a.s.CloseSend()
	}
}

// outcome returns the established attempt, or the stream's error, once the
// policies have decided; both are nil before.
func (cs *clientStream) outcome() (*attempt, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.committed, cs.err
}

// end is the end of the stream for the caller: the caller's grpc.Header,
// grpc.Trailer and grpc.Peer options get a's values, and a's context is
// released.
func (cs *clientStream) end(a *attempt) {
	cs.ended.Do(func() {
		if a == nil || a.s == nil {
			return
		}
		var ans answer
		ans.header, _ = a.s.Header()
		ans.trailer = a.s.Trailer()
		if p, ok := peer.FromContext(a.s.Context()); ok {
			ans.peer = *p
		}
		cs.sinks.fill(ans)
		a.cancel()
	})
}

// SendMsg sends m on the established stream, or, before establishment, on
// every live attempt, keeping a copy for attempts to come. Before
// establishment it returns nil even when an attempt has failed, as grpc-go's
// own retries do; after a failed establishment it returns io.EOF, and
// RecvMsg the status.
func (cs *clientStream) SendMsg(m any) error {
	cs.mu.Lock()
	if a := cs.committed; a != nil {
		cs.mu.Unlock()
		if a.s == nil {
			return io.EOF
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.s.SendMsg(m)
	}
	if cs.done {
		cs.mu.Unlock()
		return io.EOF
	}
	var extra any
	if !cs.full {
		if c, n, ok := copyMessage(m); ok && cs.size+n <= cs.c.buffer {
			cs.sent = append(cs.sent, c)
			cs.size += n
		} else {
			cs.full = true
		}
	}
	if cs.full {
		extra = m
	}
	sent, closed, live := cs.sent, cs.closed, slices.Clone(cs.live)
	cs.mu.Unlock()
	for _, a := range live {
		a.catchUp(sent, closed, extra)
	}
	return nil
}

// CloseSend closes the sending side of the established stream, or of every
// live attempt and every attempt to come.
func (cs *clientStream) CloseSend() error {
	cs.mu.Lock()
	if a := cs.committed; a != nil {
		cs.mu.Unlock()
		if a.s == nil {
			return nil
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		a.closeSent = true
		return a.s.CloseSend()
	}
	cs.closed = true
	sent, live := cs.sent, slices.Clone(cs.live)
	cs.mu.Unlock()
	for _, a := range live {
		a.catchUp(sent, true, nil)
	}
	return nil
}

// RecvMsg waits for the establishment, then receives from the established
// stream; when none was established it returns the stream's error.
func (cs *clientStream) RecvMsg(m any) error {
	<-cs.decided
	a, err := cs.outcome()
	if a == nil {
		cs.mu.Lock()
		last := cs.last
		cs.mu.Unlock()
		cs.end(last)
		return err
	}
	if a.endErr != nil {
		cs.end(a)
		return a.endErr
	}
	if err := a.s.RecvMsg(m); err != nil {
		cs.end(a)
		return err
	}
	return nil
}

// Header waits for the establishment and returns the header of the
// established stream. It returns nil, nil for a stream that ended without
// one; RecvMsg then returns its status.
func (cs *clientStream) Header() (metadata.MD, error) {
	<-cs.decided
	a, _ := cs.outcome()
	if a == nil || a.s == nil || a.endErr != nil {
		return nil, nil
	}
	return a.s.Header()
}

// Trailer returns the trailer of the established stream, or of the last
// attempt when none was. Like grpc-go's, it is meant for after RecvMsg
// returned an error.
func (cs *clientStream) Trailer() metadata.MD {
	select {
	case <-cs.decided:
	default:
		return nil
	}
	cs.mu.Lock()
	a := cs.committed
	if a == nil {
		a = cs.last
	}
	cs.mu.Unlock()
	if a == nil || a.s == nil {
		return nil
	}
	return a.s.Trailer()
}

// Context returns the established stream's context, or the caller's before
// establishment.
func (cs *clientStream) Context() context.Context {
	select {
	case <-cs.decided:
		if a, _ := cs.outcome(); a != nil && a.s != nil {
			return a.s.Context()
		}
	default:
	}
	return cs.ctx
}

// copyMessage copies m for sending again later, with its size. ok is false
// for a message that is not a protocol buffer, which cannot be measured or
// copied.
func copyMessage(m any) (c any, size int, ok bool) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, 0, false
	}
	return proto.Clone(pm), proto.Size(pm), true
}
