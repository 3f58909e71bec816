package toxiproxycompat

import (
	"testing"
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
