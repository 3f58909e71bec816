package admin

import (
	"net/http"
	"strings"
	"testing"
)

// TestDurableOnStatusPageInChromium: the status page shows a durable
// route's queue under the route: its depth against max_queued, dead
// letters and the workers.
func TestDurableOnStatusPageInChromium(t *testing.T) {
	e := durableEnv(t)
	resp, err := http.Post(e.data+"/orders", "application/json", strings.NewReader(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /orders: %d; want 202", resp.StatusCode)
	}
	dom := chromium(t, e.base+"/", "--dump-dom")
	noScriptErrors(t, dom)
	if tags, _ := tagsWith(dom, "span", `data-durable="ok"`); len(tags) != 1 {
		t.Errorf("got %d durable chips; want 1", len(tags))
	}
	_, row := startTag(t, dom, "tr", "data-route-durable", "orders")
	txt := text(row)
	for _, want := range []string{"durable queue", "queued of", "accepted", "workers"} {
		if !strings.Contains(txt, want) {
			t.Errorf("durable row reads %q; want %q in it", txt, want)
		}
	}
}
