package proxy

import (
	"net/http"
	"strings"
	"testing"
)

// TestFallbackAnswersCorrectnessFailures: a route's fallback answers a vote
// without a quorum and an answer that broke the checks, when fallback.on
// lists them (the default lists every failure), and the wrong answers
// never reach the client; a fallback set on other failures leaves them to
// their 502.
func TestFallbackAnswersCorrectnessFailures(t *testing.T) {
	const canned = `{"items":[]}`
	fb := func(on string) string {
		return "    fallback: {status: 200, body: '" + canned + "', headers: {content-type: application/json}" + on + "}\n"
	}
	tests := []struct {
		name     string
		cfg      func(t *testing.T, fallback string) string
		path     string
		on       string
		reason   string
		fallback bool
	}{
		{"no_quorum, default on", noQuorumRoute, "/quote/1", "", ReasonNoQuorum, true},
		{"no_quorum listed", noQuorumRoute, "/quote/1", ", on: [no_quorum]", ReasonNoQuorum, true},
		{"no_quorum not listed", noQuorumRoute, "/quote/1", ", on: [timeout]", ReasonNoQuorum, false},
		{"invariant_violation, default on", violatingRoute, "/accounts/1", "", ReasonInvariantViolation, true},
		{"invariant_violation listed", violatingRoute, "/accounts/1", ", on: [invariant_violation]", ReasonInvariantViolation, true},
		{"invariant_violation not listed", violatingRoute, "/accounts/1", ", on: [5xx]", ReasonInvariantViolation, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startProxy(t, tt.cfg(t, fb(tt.on)))
			got := e.get(tt.path)
			if got.err != nil {
				t.Fatal(got.err)
			}
			if strings.Contains(got.body, "-5") || strings.Contains(got.body, `"price"`) {
				t.Fatalf("body %q carries an upstream's wrong answer", got.body)
			}
			if r := got.header.Get(HeaderReason); r != tt.reason {
				t.Errorf("%s = %q; want %q", HeaderReason, r, tt.reason)
			}
			if tt.fallback {
				if got.status != 200 || got.body != canned || got.header.Get("X-Holdfast-Fallback") != "true" {
					t.Errorf("got %d %q fallback %q; want the fallback's 200 %q", got.status, got.body, got.header.Get("X-Holdfast-Fallback"), canned)
				}
			} else if got.status != http.StatusBadGateway || got.header.Get("X-Holdfast-Fallback") != "" {
				t.Errorf("got %d %q; want 502 and no fallback", got.status, got.body)
			}
		})
	}
}

// noQuorumRoute is a vote route /quote whose two voters disagree.
func noQuorumRoute(t *testing.T, fallback string) string {
	a := jsonVoter(t, fixed(`{"price":10}`))
	b := jsonVoter(t, fixed(`{"price":11}`))
	return voteConfig([]string{"a", "b"}, []string{a.URL, b.URL}, "      compare: json\n") + fallback
}

// violatingRoute is a checked route /accounts whose one endpoint always
// breaks the checks.
func violatingRoute(t *testing.T, fallback string) string {
	liar := accountsBackend(t, 200, "application/json", liarBody)
	return checksConfig(contractChecks+fallback, liar.URL)
}
