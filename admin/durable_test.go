package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// durableRoute is a durable route to ledger, whose one endpoint answers
// 500: each message is dead after its one attempt.
const durableRoute = `  - name: orders
    match: {path_prefix: /orders}
    upstream: ledger
    retry: {attempts: 1}
    durable: {attempts: 1}
`

func durableEnv(t *testing.T) *env {
	return startEnv(t, envOptions{top: "store: {data_dir: " + t.TempDir() + "}", extra: durableRoute})
}

func adminDo(t *testing.T, method, url string, into any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if into != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("%s %s: %q: %v", method, url, b, err)
		}
	}
	return resp.StatusCode
}

// TestDeadLetterAPI: list, show, redrive one and all, purge; unknown
// routes and ids are 404.
func TestDeadLetterAPI(t *testing.T) {
	e := durableEnv(t)
	for range 3 {
		resp, err := http.Post(e.data+"/orders", "text/plain", strings.NewReader("o"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST /orders: %d; want 202", resp.StatusCode)
		}
	}
	type list struct {
		DeadLetters []struct {
			ID, Route, Method, Path string
			Attempts                int
			LastStatus              int `json:"last_status"`
		} `json:"dead_letters"`
	}
	waitDead := func(n int) list {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			var l list
			adminDo(t, "GET", e.base+"/durable/orders/dead", &l)
			if len(l.DeadLetters) == n {
				return l
			}
			if time.Now().After(deadline) {
				t.Fatalf("dead letters %+v; want %d", l.DeadLetters, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	dead := waitDead(3)
	dl := dead.DeadLetters[0]
	if dl.Route != "orders" || dl.Method != "POST" || dl.Path != "/orders" || dl.Attempts != 1 || dl.LastStatus != 500 {
		t.Errorf("dead letter %+v; want orders POST /orders, 1 attempt, last status 500", dl)
	}
	var one struct{ ID string }
	if got := adminDo(t, "GET", e.base+"/durable/orders/dead/"+dl.ID, &one); got != 200 || one.ID != dl.ID {
		t.Errorf("GET dead/%s: %d %+v", dl.ID, got, one)
	}
	for _, u := range []string{"/durable/nope/dead", "/durable/orders/dead/0123456789abcdef0123456789abcdef", "/durable/orders/dead/x"} {
		if got := adminDo(t, "GET", e.base+u, nil); got != http.StatusNotFound {
			t.Errorf("GET %s: %d; want 404", u, got)
		}
	}
	fams := families(t, e.metrics)
	if got, ok := sample(fams, "holdfast_route_durable_dead_letters", l0("orders")); !ok || got != 3 {
		t.Errorf("holdfast_route_durable_dead_letters = %v (%v); want 3", got, ok)
	}
	if got, ok := sample(fams, "holdfast_route_durable_messages_total", l{"route": "orders", "event": "accepted"}); !ok || got != 3 {
		t.Errorf("accepted = %v (%v); want 3", got, ok)
	}

	// Redriven, the upstream still failing: dead again after one attempt.
	var rd struct{ Redriven int }
	if got := adminDo(t, "POST", e.base+"/durable/orders/redrive?id="+dl.ID, &rd); got != 200 || rd.Redriven != 1 {
		t.Fatalf("redrive one: %d %+v; want 1", got, rd)
	}
	waitDead(3)
	if got := adminDo(t, "POST", e.base+"/durable/orders/redrive", &rd); got != 200 || rd.Redriven != 3 {
		t.Fatalf("redrive all: %d %+v; want 3", got, rd)
	}
	waitDead(3)
	var pg struct{ Purged int }
	if got := adminDo(t, "POST", e.base+"/durable/orders/purge", &pg); got != 200 || pg.Purged != 3 {
		t.Fatalf("purge: %d %+v; want 3", got, pg)
	}
	waitDead(0)
}

func l0(route string) l { return l{"route": route} }
