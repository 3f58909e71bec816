package toxic

import (
	"net/http"
	"strconv"
)

// httpToxic is a fault applied to one HTTP request. apply may wait (and
// must give up when r's context ends); a non-nil reply is sent to the client
// instead of the upstream's answer. A toxic is shared by every request, so
// apply is safe for concurrent use.
type httpToxic interface {
	apply(r *http.Request) *reply
	// matcher returns the toxic's match condition (nil: every request).
	matcher() *match
}

// reply is a response written by the proxy itself.
type reply struct {
	status  int
	headers map[string]string
	body    string
}

// localReply builds the reply of a failing toxic: body, or by default the
// holdfast local-reply JSON naming the toxic type as the reason.
func localReply(status int, body string, headers map[string]string, reason string) *reply {
	if body == "" {
		body = `{"error":` + strconv.Quote(http.StatusText(status)) + `,"reason":` + strconv.Quote(reason) + "}\n"
		if headers == nil {
			headers = map[string]string{"Content-Type": "application/json"}
		}
	}
	return &reply{status: status, headers: headers, body: body}
}

func (rep *reply) write(w http.ResponseWriter, toxicName string) {
	h := w.Header()
	for k, v := range rep.headers {
		h.Set(k, v)
	}
	h.Set("X-Holdfast-Chaos", toxicName)
	h.Set("Content-Length", strconv.Itoa(len(rep.body)))
	w.WriteHeader(rep.status)
	_, _ = w.Write([]byte(rep.body))
}

// parseStatus reads an HTTP status attribute (default 503). It must be a
// final status, 200-599: a 1xx is informational, and net/http would send it
// as an interim response followed by a 200 nobody asked for.
func parseStatus(a *attrs) int {
	return int(a.integer("status", http.StatusServiceUnavailable, 200, 599))
}

// parseHeaders reads the "headers" attribute of a local reply.
func parseHeaders(a *attrs) map[string]string {
	h := a.strMap("headers")
	for k := range h {
		if !isToken(k) {
			a.fail("headers", "bad header name %q", k)
		}
	}
	return h
}
