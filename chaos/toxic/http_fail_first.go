package toxic

import (
	"net/http"
	"sync/atomic"
)

// httpFailFirst fails the first count requests it hits with status (default
// 503) and passes every later one through, as a service that is warming up
// or a dependency that recovers would. The count starts again when the toxic
// is updated. Attributes: count (>= 1), status, body, headers, match.
type httpFailFirst struct {
	Count   int64             `json:"count"`
	Status  int               `json:"status"`
	Body    string            `json:"body,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Match   *match            `json:"match,omitempty"`

	seen atomic.Int64 // requests hit so far
}

func parseHTTPFailFirst(a *attrs) any {
	t := &httpFailFirst{
		Count:   a.integer("count", 0, 0, 1<<53),
		Status:  parseStatus(a),
		Body:    a.str("body", ""),
		Headers: parseHeaders(a),
		Match:   parseMatch(a),
	}
	if t.Count < 1 {
		a.fail("count", "must be >= 1, got %d", t.Count)
	}
	return t
}

func (t *httpFailFirst) matcher() *match { return t.Match }

func (t *httpFailFirst) apply(*http.Request) *reply {
	if t.seen.Add(1) > t.Count {
		return nil
	}
	return localReply(t.Status, t.Body, t.Headers, "http_fail_first")
}
