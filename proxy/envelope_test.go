package proxy

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// envelopeCases are envelopes whose strings need no escaping, need
// escaping, or are not UTF-8; they seed FuzzEnvelopeJSON.
var envelopeCases = []envelope{
	{ID: "0123456789abcdef0123456789abcdef", Route: "orders", Method: "POST", Path: "/orders", Host: "example.com",
		Header: http.Header{"Content-Type": {"application/json"}, "Idempotency-Key": {`"k1"`}}, Body: []byte(`{"n":1}`),
		AcceptedAt: time.Date(2026, 12, 2, 18, 30, 0, 123456789, time.UTC)},
	{ID: "x", Route: "r\\oute", Method: "PUT", Path: "/a b/ü", RawPath: "/a%20b/%C3%BC", Query: "q=<&>\"", Host: "h:1",
		Header: http.Header{"X-Ctl": {"a\tb\x01\n", "\u2028"}, "X-Empty": {}, "X-Nil": nil}, AcceptedAt: time.Unix(0, 0).UTC()},
	{ID: "y", Method: "POST", Path: "/\xff\xfe", Header: http.Header{"X-Bad": {"caf\xe9"}}, Body: []byte{0, 1, 2, 255},
		AcceptedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))},
	{ID: "z", Header: nil, AcceptedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
}

// decodeBoth decodes e as appendJSON and as json.Marshal write it.
func decodeBoth(t *testing.T, e *envelope) (got, want envelope) {
	t.Helper()
	std, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(std, &want); err != nil {
		t.Fatal(err)
	}
	ours := e.appendJSON(nil)
	if err := json.Unmarshal(ours, &got); err != nil {
		t.Fatalf("appendJSON wrote %q: %v", ours, err)
	}
	return got, want
}

func TestEnvelopeJSON(t *testing.T) {
	for i, e := range envelopeCases {
		got, want := decodeBoth(t, &e)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("case %d: appendJSON decodes differently from json.Marshal (-want +got):\n%s", i, diff)
		}
	}
}

func FuzzEnvelopeJSON(f *testing.F) {
	for _, e := range envelopeCases {
		f.Add(e.Route, e.Path, e.Query, e.Host, "X-A", e.Header.Get("X-Ctl"), e.Body, e.AcceptedAt.UnixNano())
	}
	f.Fuzz(func(t *testing.T, route, path, query, host, name, value string, body []byte, at int64) {
		e := envelope{ID: newMessageID(), Route: route, Method: "POST", Path: path, RawPath: path, Query: query, Host: host,
			Header: http.Header{name: {value, route}}, Body: body, AcceptedAt: time.Unix(0, at).UTC()}
		got, want := decodeBoth(t, &e)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("appendJSON decodes differently from json.Marshal (-want +got):\n%s", diff)
		}
	})
}
