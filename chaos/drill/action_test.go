package drill

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/holdfast-dev/holdfast/chaos/toxic"
	"github.com/holdfast-dev/holdfast/internal/testkit"
)

// TestChaosActions runs every chaos action once against the chaos API and
// checks what each did to the proxy, as the API shows it.
func TestChaosActions(t *testing.T) {
	api, chaos := chaosAPI(t)
	backend := testkit.Start(t, testkit.Config{Name: "backend"})
	if _, err := chaos.CreateProxy(toxic.ProxySpec{Name: "db", Listen: "127.0.0.1:0", Upstream: backend.Addr(), Enabled: true}); err != nil {
		t.Fatal(err)
	}
	// A probe between the actions would race them; read the state from
	// the chaos server after each action instead, through an HTTP action.
	var (
		mu     sync.Mutex
		states []string
	)
	spy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := chaos.Proxy("db")
		state := "gone"
		if err == nil {
			state = "disabled"
			if p.Enabled {
				state = "enabled"
			}
			for _, x := range p.Toxics {
				state += " " + x.Name + "=" + strings.TrimSpace(string(x.Attributes))
			}
		}
		mu.Lock()
		states = append(states, state)
		mu.Unlock()
	}))
	defer spy.Close()

	j := run(t, context.Background(), `
title: every chaos action
chaos: {api: "%[1]s"}
method:
  - add_toxic: {proxy: db, name: lag, type: latency, toxicity: 0.5, attributes: {latency: 100}}
  - http: {url: "%[2]s"}
  - update_toxic: {proxy: db, name: lag, attributes: {latency: 300}}
  - http: {url: "%[2]s"}
  - disable_proxy: {proxy: db}
  - http: {url: "%[2]s"}
  - enable_proxy: {proxy: db}
  - remove_toxic: {proxy: db, name: lag}
  - http: {url: "%[2]s"}
`, api, spy.URL)
	if j.Status != StatusCompleted {
		t.Fatalf("status %s (%s); want completed", j.Status, j.AbortReason)
	}
	want := []string{
		`enabled lag={"latency":100,"jitter":0}`,
		`enabled lag={"latency":300,"jitter":0}`,
		`disabled lag={"latency":300,"jitter":0}`,
		`enabled`,
	}
	if strings.Join(states, "\n") != strings.Join(want, "\n") {
		t.Errorf("states after the actions:\n%s\nwant:\n%s", strings.Join(states, "\n"), strings.Join(want, "\n"))
	}
	if len(j.Faults) != 2 || j.Faults[0].Target != "db/lag" || j.Faults[0].EndedBy != "remove_toxic db/lag" ||
		j.Faults[1].Kind != "disable_proxy" || j.Faults[1].EndedBy != "enable_proxy db" {
		t.Errorf("faults = %+v; want the toxic and the disabled proxy, each ended", j.Faults)
	}
}

// TestFailedActionAborts: an action that fails stops the method unless it
// may be ignored.
func TestFailedActionFails(t *testing.T) {
	var got []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+string(b)+" "+r.Header.Get("X-Drill"))
		mu.Unlock()
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusConflict)
		}
	}))
	defer srv.Close()
	j := run(t, context.Background(), `
title: a failing action
method:
  - http: {url: "%[1]s/ok", body: hello, headers: {X-Drill: "1"}}
  - name: may fail
    http: {url: "%[1]s/fail"}
    ignore_failure: true
  - name: must not fail
    http: {url: "%[1]s/fail", method: PUT}
  - http: {url: "%[1]s/never"}
`, srv.URL)
	if j.Status != StatusFailed || j.ExitCode() != ExitAborted || j.AbortReason != `action "must not fail" failed: PUT `+srv.URL+`/fail: status 409, want 2xx` {
		t.Fatalf("status %s (exit %d), reason %q; want failed (exit 2) by the third action", j.Status, j.ExitCode(), j.AbortReason)
	}
	want := "POST /ok hello 1\nPOST /fail  \nPUT /fail  "
	if strings.Join(got, "\n") != want {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
	if len(j.Run) != 3 || j.Run[1].Status != "failed" || j.Run[2].Status != "failed" {
		t.Errorf("run = %+v; want three actions, the last two failed", j.Run)
	}
}

func TestProcessExpand(t *testing.T) {
	t.Setenv("DRILL_TEST_PORT", "8475")
	p := newProc(&Process{Env: map[string]string{"LOCAL": "x"}}, "/bin/holdfast")
	tests := []struct{ in, want string }{
		{"$HOLDFAST", "/bin/holdfast"},
		{"${HOLDFAST}-v", "/bin/holdfast-v"},
		{"-port=$DRILL_TEST_PORT", "-port=8475"},
		{"$LOCAL/${LOCAL}", "x/x"},
		{"$DRILL_TEST_UNSET", ""},
		{"plain", "plain"},
	}
	for _, tt := range tests {
		if got := p.expand(tt.in); got != tt.want {
			t.Errorf("expand(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
	t.Setenv("HOLDFAST", "/opt/hf")
	if got := p.expand("$HOLDFAST"); got != "/opt/hf" {
		t.Errorf("expand($HOLDFAST) with HOLDFAST set = %q; want /opt/hf", got)
	}
}

func TestTail(t *testing.T) {
	tl := &tail{max: 8}
	io.WriteString(tl, "abc")
	io.WriteString(tl, "defghij")
	if got := tl.String(); got != "cdefghij" {
		t.Errorf("tail = %q; want the last 8 bytes %q", got, "cdefghij")
	}
}

func TestChaosAPIError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"missing or wrong bearer token","status":401}`)
			return
		}
		w.WriteHeader(http.StatusConflict)
		io.WriteString(w, "plain text")
	}))
	defer srv.Close()
	c := &chaosClient{base: srv.URL, client: srv.Client()}
	remove, _ := (&Action{RemoveToxic: &ToxicRef{Proxy: "a b", Name: "x"}}).chaosCall()
	_, err := c.send(context.Background(), remove)
	var ae *ChaosAPIError
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Message != "missing or wrong bearer token" || ae.Path != "/proxies/a%20b/toxics/x" {
		t.Errorf("error %#v; want a 401 ChaosAPIError naming the escaped path", err)
	}
	if err.Error() != "drill: chaos API DELETE /proxies/a%20b/toxics/x: 401 missing or wrong bearer token" {
		t.Errorf("message %q", err)
	}
	c.token = "tok"
	enable, _ := (&Action{EnableProxy: &ProxyRef{Proxy: "a"}}).chaosCall()
	_, err = c.send(context.Background(), enable)
	if !errors.Is(err, ErrChaosAPI) || !strings.HasSuffix(err.Error(), ": 409 plain text") {
		t.Errorf("error %v; want ErrChaosAPI with the body as message", err)
	}
}
