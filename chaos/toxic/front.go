package toxic

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// front is the data plane of an HTTP proxy: a reverse proxy on the listen
// address that runs the proxy's HTTP toxics on every request. Toxicity is
// rolled per request.
type front struct {
	p   *proxy
	srv *http.Server
	rp  *httputil.ReverseProxy
	tr  *http.Transport

	closeOnce sync.Once
}

// lateKey carries the downstream toxics of a request to ModifyResponse.
type lateKey struct{}

func newFront(p *proxy, upstreamAddr string) *front {
	target := upstreamURL(upstreamAddr)
	dialer := &net.Dialer{Timeout: p.s.cfg.DialTimeout, KeepAlive: 30 * time.Second}
	f := &front{
		p: p,
		tr: &http.Transport{
			Proxy:                 nil, // a chaos proxy talks to its upstream directly
			DialContext:           p.pc.countingDial(dialer.DialContext),
			MaxIdleConns:          1024,
			MaxIdleConnsPerHost:   1024,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
	}
	f.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			// Transparent, like the TCP proxy: keep the client's Host and
			// add no X-Forwarded headers.
			pr.Out.Host = pr.In.Host
		},
		Transport:      f.tr,
		ModifyResponse: f.late,
		ErrorHandler:   f.upstreamError,
		ErrorLog:       log.New(io.Discard, "", 0),
	}
	f.srv = &http.Server{
		Handler:           f,
		ReadHeaderTimeout: time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	return f
}

// upstreamURL turns "host:port" or "http(s)://host:port" into a URL.
func upstreamURL(addr string) *url.URL {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil { // validated before; keep a usable value regardless
		return &url.URL{Scheme: "http", Host: addr}
	}
	u.Path = ""
	return u
}

// serve serves ln, counting its connections and their bytes.
func (f *front) serve(ln net.Listener) {
	_ = f.srv.Serve(countingListener{Listener: ln, pc: f.p.pc})
}

// close stops the server and cuts every open connection.
func (f *front) close() {
	f.closeOnce.Do(func() {
		_ = f.srv.Close()
		f.tr.CloseIdleConnections()
	})
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	set := f.p.snap.Load()
	var late []*entry
	for _, e := range set.http {
		if !e.http.matcher().matches(r) || !roll(e.toxicity) {
			continue
		}
		if !e.kind.early && e.stream == downstream {
			late = append(late, e)
			continue
		}
		e.countApplied()
		if rep := e.http.apply(r); rep != nil {
			rep.write(w, e.name)
			return
		}
		if r.Context().Err() != nil {
			return // the client gave up while a toxic held the request
		}
	}
	if len(late) > 0 {
		r = r.WithContext(context.WithValue(r.Context(), lateKey{}, late))
	}
	f.rp.ServeHTTP(w, r)
}

// late runs the downstream toxics once the upstream has answered, before
// the answer is relayed.
func (f *front) late(resp *http.Response) error {
	late, _ := resp.Request.Context().Value(lateKey{}).([]*entry)
	for _, e := range late {
		e.countApplied()
		rep := e.http.apply(resp.Request)
		if err := resp.Request.Context().Err(); err != nil {
			return err
		}
		if rep != nil {
			_ = resp.Body.Close()
			resp.StatusCode = rep.status
			resp.Status = strconv.Itoa(rep.status) + " " + http.StatusText(rep.status)
			resp.Header = http.Header{}
			for k, v := range rep.headers {
				resp.Header.Set(k, v)
			}
			resp.Header.Set("X-Holdfast-Chaos", e.name)
			resp.Body = io.NopCloser(strings.NewReader(rep.body))
			resp.ContentLength = int64(len(rep.body))
			resp.Header.Set("Content-Length", strconv.Itoa(len(rep.body)))
			return nil
		}
	}
	return nil
}

// upstreamError answers 502 when the upstream cannot be reached, in the
// holdfast local-reply shape.
func (f *front) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil || errors.Is(err, context.Canceled) {
		return // the client is gone; nobody reads an answer
	}
	body := `{"error":"Bad Gateway","reason":"upstream_unreachable"}` + "\n"
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Holdfast-Reason", "upstream_unreachable")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusBadGateway)
	_, _ = io.WriteString(w, body)
}
