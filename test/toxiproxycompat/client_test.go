package toxiproxycompat

import (
	"net"
	"strings"
	"testing"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
)

// The tests in this file follow the scenarios of Toxiproxy's own API tests
// (api_test.go in github.com/Shopify/toxiproxy), driven through its Go
// client against holdfast, on free ports instead of fixed ones.

// TestNoopToxic: Toxiproxy has a noop toxic, and its client tests add one.
func TestNoopToxic(t *testing.T) {
	client, _ := startChaos(t)
	p := newProxy(t, client, "noop")
	tx, err := p.AddToxic("foobar", "noop", "", 1, nil)
	if err != nil {
		t.Fatalf("AddToxic(noop): %v", err)
	}
	if tx.Name != "foobar" || tx.Type != "noop" || tx.Stream != "downstream" || tx.Toxicity != 1 {
		t.Fatalf("AddToxic(noop) = %+v; want foobar, noop, downstream, toxicity 1", tx)
	}
	ts, err := p.Toxics()
	if err != nil || len(ts) != 1 || ts[0].Name != "foobar" || ts[0].Type != "noop" {
		t.Fatalf("Toxics() = %+v, %v; want the noop toxic", ts, err)
	}
	if d := roundTrip(t, dial(t, p.Listen), "through noop"); d > slack {
		t.Fatalf("round trip through noop took %v", d)
	}
}

// TestPopulateExistingProxy: a proxy given to Populate as localhost:PORT
// while it runs on 127.0.0.1:PORT is unchanged and keeps its toxics; one
// given a new address is replaced.
func TestPopulateExistingProxy(t *testing.T) {
	client, _ := startChaos(t)
	up := echoServer(t)
	one, err := client.CreateProxy("one", "127.0.0.1:0", up)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateProxy("two", "127.0.0.1:0", up); err != nil {
		t.Fatal(err)
	}
	if _, err := one.AddToxic("", "latency", "downstream", 1, nil); err != nil {
		t.Fatal(err)
	}
	open := dial(t, one.Listen)
	roundTrip(t, open, "before")
	_, port, _ := net.SplitHostPort(one.Listen)
	ps, err := client.Populate([]toxiproxy.Proxy{
		{Name: "one", Listen: "localhost:" + port, Upstream: up, Enabled: true},
		{Name: "two", Listen: "127.0.0.1:0", Upstream: up, Enabled: true},
	})
	if err != nil || len(ps) != 2 || ps[0].Name != "one" || ps[1].Name != "two" {
		t.Fatalf("Populate = %v, %v; want one and two", ps, err)
	}
	if ps[0].Listen != one.Listen {
		t.Fatalf("one listens on %q after populate; want %q, its resolved address", ps[0].Listen, one.Listen)
	}
	ts, err := one.Toxics()
	if err != nil || len(ts) != 1 || ts[0].Type != "latency" {
		t.Fatalf("one's toxics after populate = %+v, %v; want its latency toxic kept", ts, err)
	}
	roundTrip(t, open, "after") // its open connection survived
	for _, p := range ps {
		roundTrip(t, dial(t, p.Listen), "hi "+p.Name)
	}
}

// TestUpdateOntoBusyPortChangesNothing: Toxiproxy answers a move onto a
// port in use with a 500 carrying net.Listen's message; holdfast answers
// the same and, unlike Toxiproxy, leaves the proxy running where it was.
func TestUpdateOntoBusyPortChangesNothing(t *testing.T) {
	client, _ := startChaos(t)
	p := newProxy(t, client, "mover")
	open := dial(t, p.Listen)
	roundTrip(t, open, "before")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, lerr := net.Listen("tcp", busy.Addr().String())
	if lerr == nil {
		t.Fatal("a second listener on a busy port succeeded")
	}

	old := p.Listen
	p.Listen = busy.Addr().String()
	err = p.Save()
	if want := "Save: HTTP 500: " + lerr.Error(); err == nil || err.Error() != want {
		t.Fatalf("Save onto a busy port = %v; want %s", err, want)
	}
	got, err := client.Proxy("mover")
	if err != nil || got.Listen != old || !got.Enabled || got.Upstream != p.Upstream {
		t.Fatalf("after the failed move: %+v, %v; want enabled on %s", got, err, old)
	}
	roundTrip(t, open, "after")
	roundTrip(t, dial(t, old), "new")
}

// TestSelfLoopRefused: a proxy whose upstream is its own listen address
// would dial itself for every connection; holdfast refuses it with a 400,
// the status of Toxiproxy's validation errors.
func TestSelfLoopRefused(t *testing.T) {
	client, _ := startChaos(t)
	p := newProxy(t, client, "p")
	_, port, _ := net.SplitHostPort(p.Listen)
	if _, err := client.CreateProxy("loop", "127.0.0.1:47011", "localhost:47011"); err == nil || !strings.HasPrefix(err.Error(), "Create: HTTP 400: upstream: ") {
		t.Fatalf("CreateProxy onto itself err = %v; want HTTP 400 naming upstream", err)
	}
	p.Upstream = "localhost:" + port
	if err := p.Save(); err == nil || !strings.HasPrefix(err.Error(), "Save: HTTP 400: upstream: ") {
		t.Fatalf("Save with upstream %s on %s err = %v; want HTTP 400 naming upstream", p.Upstream, p.Listen, err)
	}
	if all, _ := client.Proxies(); len(all) != 1 || all["p"].Upstream == p.Upstream {
		t.Fatalf("after the refusals: %v; want p alone, unchanged", all)
	}
}

// TestAddConflictingToxic: a taken name is a 409 whatever the new toxic's
// type and attributes, as Toxiproxy checks the name before reading them.
func TestAddConflictingToxic(t *testing.T) {
	client, _ := startChaos(t)
	p := newProxy(t, client, "p")
	if _, err := p.AddToxic("foobar", "latency", "downstream", 1, nil); err != nil {
		t.Fatal(err)
	}
	for _, tx := range []toxiproxy.Toxic{
		{Name: "foobar", Type: "slow_close", Stream: "downstream"},
		{Name: "foobar", Type: "slicer", Stream: "upstream"},
		{Name: "foobar", Type: "latency", Stream: "upstream", Attributes: toxiproxy.Attributes{"latency": -1}},
	} {
		_, err := p.AddToxic(tx.Name, tx.Type, tx.Stream, 1, tx.Attributes)
		if want := "AddToxic: HTTP 409: toxic already exists"; err == nil || err.Error() != want {
			t.Errorf("AddToxic(%+v) err = %v; want %s", tx, err, want)
		}
	}
	ts, err := p.Toxics()
	if err != nil || len(ts) != 1 || ts[0].Type != "latency" || ts[0].Stream != "downstream" {
		t.Fatalf("Toxics() = %+v, %v; want the first foobar alone", ts, err)
	}
}

// TestCreateProxyNameConflict: a taken name is a 409 even when the rest of
// the new proxy is invalid, as Toxiproxy checks the name first.
func TestCreateProxyNameConflict(t *testing.T) {
	client, _ := startChaos(t)
	p := newProxy(t, client, "mysql_master")
	for _, listen := range []string{"127.0.0.1:0", "nope", p.Listen} {
		_, err := client.CreateProxy("mysql_master", listen, p.Upstream)
		if want := "Create: HTTP 409: proxy already exists"; err == nil || err.Error() != want {
			t.Errorf("CreateProxy(mysql_master, %s) err = %v; want %s", listen, err, want)
		}
	}
	if err := p.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateProxy("mysql_master", "127.0.0.1:0", p.Upstream); err != nil {
		t.Fatalf("CreateProxy after Delete: %v", err)
	}
}

// TestCreateDisabledProxyAndEnable: a disabled proxy shows its listen
// address as given; enabling it through Save binds it (and shows the
// resolved address), disabling it closes the listener.
func TestCreateDisabledProxyAndEnable(t *testing.T) {
	client, _ := startChaos(t)
	up := echoServer(t)
	p := client.NewProxy()
	p.Name, p.Listen, p.Upstream = "mysql_master", "localhost:0", up
	if err := p.Save(); err != nil {
		t.Fatalf("Save (create disabled): %v", err)
	}
	got, err := client.Proxy("mysql_master")
	if err != nil || got.Listen != "localhost:0" || got.Upstream != up || got.Enabled {
		t.Fatalf("Proxy = %+v, %v; want disabled on localhost:0", got, err)
	}
	got.Enabled = true
	if err := got.Save(); err != nil {
		t.Fatalf("Save (enable): %v", err)
	}
	if host, _, _ := net.SplitHostPort(got.Listen); host != "127.0.0.1" || !got.Enabled {
		t.Fatalf("after enabling: %+v; want enabled on 127.0.0.1", got)
	}
	roundTrip(t, dial(t, got.Listen), "up")
	got.Enabled = false
	if err := got.Save(); err != nil {
		t.Fatalf("Save (disable): %v", err)
	}
	if c, err := net.DialTimeout("tcp", got.Listen, slack); err == nil {
		c.Close()
		t.Fatalf("dial of the disabled proxy on %s succeeded", got.Listen)
	}
	if again, _ := client.Proxy("mysql_master"); again.Listen != got.Listen || again.Enabled {
		t.Fatalf("after disabling: %+v; want disabled on %s", again, got.Listen)
	}
}
