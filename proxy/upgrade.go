package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// proxyUpgrade forwards a protocol-switching request (WebSocket) on a fresh
// connection and, when the upstream answers 101, splices the client and
// upstream connections until either side closes. It returns the upstream
// status, or an error when no response came back.
func proxyUpgrade(ctx context.Context, w http.ResponseWriter, out *http.Request, proto string, dialer *net.Dialer) (int, error) {
	uc, err := dialer.DialContext(ctx, "tcp", out.URL.Host)
	if err != nil {
		return 0, &ConnectError{Err: err}
	}
	out.Header.Set("Connection", "Upgrade")
	out.Header.Set("Upgrade", proto)
	br := bufio.NewReader(uc)
	bw := bufio.NewWriter(uc)
	stop := context.AfterFunc(ctx, func() { uc.SetDeadline(time.Unix(1, 0)) })
	if err := writeRequest(bw, out); err != nil {
		stop()
		uc.Close()
		return 0, &ResetError{Err: err}
	}
	resp, err := http.ReadResponse(br, out)
	stop()
	if err != nil {
		uc.Close()
		return 0, &ResetError{Err: err}
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer uc.Close()
		defer resp.Body.Close()
		removeHopHeaders(resp.Header)
		copyHeader(w.Header(), resp.Header)
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		return resp.StatusCode, nil
	}
	rc := http.NewResponseController(w)
	cc, cbuf, err := rc.Hijack()
	if err != nil {
		uc.Close()
		return 0, errors.New("proxy: cannot take over the client connection for an upgrade: " + err.Error())
	}
	defer cc.Close()
	defer uc.Close()
	resp.Header.Del("Content-Length")
	cbuf.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	resp.Header.Write(cbuf)
	cbuf.WriteString("\r\n")
	if err := cbuf.Flush(); err != nil {
		return http.StatusSwitchingProtocols, nil
	}
	var wg sync.WaitGroup
	splice := func(dst net.Conn, src io.Reader) {
		defer wg.Done()
		io.Copy(dst, src)
		// Half-close so the other direction can finish what it is sending.
		if tc, ok := dst.(interface{ CloseWrite() error }); ok {
			tc.CloseWrite()
		} else {
			dst.Close()
		}
	}
	wg.Add(2)
	go splice(uc, cbuf.Reader) // cbuf holds bytes the client sent after its request
	go splice(cc, br)          // br holds bytes the upstream sent after its 101
	wg.Wait()
	return http.StatusSwitchingProtocols, nil
}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		dst[k] = append(dst[k], vs...)
	}
}
