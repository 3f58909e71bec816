package toxic

import "net/http"

// httpStatus answers the requests it hits itself, with status (default 503)
// and body (default a JSON error), without reaching the upstream. With a
// toxicity of 0.1, about 10% of requests fail. Attributes: status, body,
// headers, match.
type httpStatus struct {
	Status  int               `json:"status"`
	Body    string            `json:"body,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Match   *match            `json:"match,omitempty"`
}

func parseHTTPStatus(a *attrs) any {
	return &httpStatus{
		Status:  parseStatus(a),
		Body:    a.str("body", ""),
		Headers: parseHeaders(a),
		Match:   parseMatch(a),
	}
}

func (t *httpStatus) matcher() *match { return t.Match }

func (t *httpStatus) apply(*http.Request) *reply {
	return localReply(t.Status, t.Body, t.Headers, "http_status")
}
