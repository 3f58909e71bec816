package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/holdfast-dev/holdfast/holdfasthttp"
	"github.com/holdfast-dev/holdfast/upstream"
)

// serveUpgrade forwards a protocol-switching request (WebSocket). It passes
// the upstream's breaker and concurrency limit like any request, goes
// through the upstream's transport, and is never retried: once the upstream
// switches protocols, bytes flow both ways. The route timeout bounds the
// wait for the upstream's answer; the session then lasts until a side
// closes it or it sits idle for limits.stream_idle_timeout. The session
// holds its concurrency slot throughout, and only the handshake's time is
// the endpoint's latency.
func (p *Proxy) serveUpgrade(ctx context.Context, headTimer *time.Timer, w http.ResponseWriter, r *http.Request, rt *route, cl *cluster, hdr http.Header, proto string, info *RequestInfo) {
	local := func(status int, reason, msg string, retryAfter time.Duration) {
		info.Status, info.Reason = status, reason
		holdfasthttp.LocalReply(w, status, reason, msg, retryAfter)
	}
	// An upgrade request has no body (RFC 6455 §4.1); one that declares
	// one is refused, since after a 101 its bytes would be the session's.
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		local(http.StatusBadRequest, ReasonInvalidRequest, "an upgrade request must not have a body", 0)
		return
	}
	body := &reqBody{replayable: true}
	x := &exchange{r: r, rt: rt, cl: cl, header: hdr, body: body}
	ep, err := cl.up.Pick(x.exclude)
	if err != nil {
		local(http.StatusServiceUnavailable, ReasonNoHealthyUpstream, "no healthy upstream endpoint", 0)
		return
	}
	tk, reason, err := cl.admit(ctx, rt.cfg.Priority, p.burning())
	if err != nil {
		o := &outcome{kind: outcomeLocal, reason: reason, err: err}
		if ctx.Err() != nil {
			o = ctxOutcome(ctx)
		}
		status, reason, msg, retryAfter := failure(ctx, o)
		local(status, reason, msg, retryAfter)
		return
	}
	out, err := x.outRequest(ctx, ep)
	if err != nil {
		tk.ignore()
		local(http.StatusBadRequest, ReasonInvalidRequest, "invalid request", 0)
		return
	}
	out.Header = hdr.Clone()
	out.Header.Set("Connection", "Upgrade")
	out.Header.Set("Upgrade", proto)
	info.Endpoint, info.Attempts = ep.Address().Host, 1
	ep.Start()
	begin := time.Now()
	resp, err := cl.rt.RoundTrip(out)
	took := time.Since(begin)
	if err == nil && !headTimer.Stop() {
		resp.Body.Close()
		err = context.DeadlineExceeded
	}
	if err != nil {
		o := &outcome{kind: outcomeReset, err: err}
		switch {
		case ctx.Err() != nil:
			o = ctxOutcome(ctx)
			ep.Done(took, upstream.ErrorOutcome(ctx, ctx.Err()))
			if o.kind == outcomeCanceled {
				tk.ignore()
				return // the client left
			}
			tk.done(err)
		default:
			o.kind = transportFailure(err)
			ep.Done(took, upstream.Failure)
			tk.done(err)
		}
		status, reason, msg, retryAfter := failure(ctx, o)
		local(status, reason, msg, retryAfter)
		return
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		// The upstream declined: an ordinary answer, relayed as one.
		ep.Done(took, upstream.StatusOutcome(resp.StatusCode))
		tk.done(holdfasthttp.Outcome(resp, nil, time.Now()))
		info.Status = resp.StatusCode
		p.relay(ctx, w, &outcome{kind: outcomeResponse, resp: resp, ep: ep}, 1, p.state.Load().cfg.Limits.StreamIdleTimeout)
		return
	}
	tk.record(nil)
	defer tk.ignore() // the session's slot; its length is no sample
	defer func() { ep.Done(took, upstream.Success) }()
	info.Status = http.StatusSwitchingProtocols
	uc, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		resp.Body.Close()
		local(http.StatusBadGateway, ReasonUpstreamReset, "upstream switched protocols on a transport that cannot", 0)
		return
	}
	defer uc.Close()
	cc, cbuf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		local(http.StatusBadGateway, ReasonUpstreamReset, "cannot take over the client connection for an upgrade", 0)
		return
	}
	defer cc.Close()
	removeHopHeaders(resp.Header)
	resp.Header.Del("Content-Length")
	cbuf.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ")
	cbuf.WriteString(proto)
	cbuf.WriteString("\r\n")
	resp.Header.Write(cbuf)
	cbuf.WriteString("\r\n")
	if err := cbuf.Flush(); err != nil {
		return
	}
	splice(cc, cbuf.Reader, uc, p.state.Load().cfg.Limits.StreamIdleTimeout)
}

// splice copies bytes both ways between the client connection (whose
// buffered reader may hold bytes it sent after its request) and the
// upstream session until both directions end, or until no byte has moved
// either way for idle, when both are closed.
func splice(cc net.Conn, cr io.Reader, uc io.ReadWriteCloser, idle time.Duration) {
	var guard *time.Timer
	if idle > 0 {
		guard = time.AfterFunc(idle, func() {
			cc.Close()
			uc.Close()
		})
		defer guard.Stop()
	}
	abort := func() {
		cc.Close()
		uc.Close()
	}
	pass := func(dst io.Writer, src io.Reader, closeWrite func()) {
		bp := copyBufs.Get().(*[]byte)
		defer copyBufs.Put(bp)
		buf := *bp
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					abort() // dst is gone: nothing more can reach it
					return
				}
				if guard != nil {
					guard.Reset(idle)
				}
			}
			if err == io.EOF {
				// Half-close so the other direction can finish what it
				// is sending.
				closeWrite()
				return
			}
			if err != nil {
				// Reset, or closed under it (a shutdown's time up): the
				// other direction would wait on a peer nobody answers.
				abort()
				return
			}
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		pass(uc, cr, func() {
			if cw, ok := uc.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			} else {
				uc.Close()
			}
		})
	})
	wg.Go(func() {
		pass(cc, uc, func() {
			if tc, ok := cc.(interface{ CloseWrite() error }); ok {
				tc.CloseWrite()
			} else {
				cc.Close()
			}
		})
	})
	wg.Wait()
}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		dst[k] = append(dst[k], vs...)
	}
}
