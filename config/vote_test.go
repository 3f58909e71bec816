package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// voteBase has three upstreams; withVote puts a vote route's vote block on
// line 10.
const voteBase = `upstreams:
  pricing-a: {endpoints: [{address: http://127.0.0.1:1}]}
  pricing-b: {endpoints: [{address: http://127.0.0.1:2}]}
  pricing-c: {endpoints: [{address: http://127.0.0.1:3}]}
routes:
  - name: quote
    match: {path_prefix: /quote}
    timeout: 2s
`

func withVote(vote string) string { return voteBase + "\n    vote: " + vote + "\n" }

func TestVoteParses(t *testing.T) {
	c, err := Parse([]byte(voteBase + `    vote:
      upstreams: [pricing-a, pricing-b, pricing-c]
      quorum: 2
      timeout: 300ms
      compare: json
      ignore: [/generated_at, /trace_id]
      unordered: [/items]
      methods: [POST]
      max_body_bytes: 4096
      quarantine: {disagreements: 5, window: 1m, readmit_after: 20}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := *c.Routes[0].Vote
	want := Vote{
		Upstreams: []string{"pricing-a", "pricing-b", "pricing-c"}, Quorum: 2, Timeout: 300 * time.Millisecond,
		Compare: VoteCompareJSON, Methods: []string{"POST"}, MaxBodyBytes: 4096,
		Quarantine: &Quarantine{Disagreements: 5, Window: time.Minute, ReadmitAfter: 20},
	}
	want.Ignore = []string{"/generated_at", "/trace_id"}
	want.Unordered = []string{"/items"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("vote (-want +got):\n%s", diff)
	}
	if u := c.Routes[0].Upgrades; u == nil || len(u) != 0 {
		t.Errorf("upgrades = %#v; want none on a vote route", u)
	}
}

func TestVoteDefaults(t *testing.T) {
	tests := []struct {
		name, src   string
		wantTimeout time.Duration
	}{
		{"route timeout longer", withVote("{upstreams: [pricing-a, pricing-b]}"), DefaultVoteTimeout},
		{"route timeout shorter", voteBase[:len(voteBase)-len("    timeout: 2s\n")] + "    timeout: 200ms\n    vote: {upstreams: [pricing-a, pricing-b]}\n", 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			v := c.Routes[0].Vote
			want := Vote{
				Upstreams: []string{"pricing-a", "pricing-b"}, Timeout: tt.wantTimeout, Compare: VoteCompareExact,
				MaxBodyBytes: DefaultVoteMaxBodyBytes,
				Quarantine:   &Quarantine{Disagreements: DefaultQuarantineDisagreements, Window: DefaultQuarantineWindow, ReadmitAfter: DefaultQuarantineReadmitAfter},
			}
			if diff := cmp.Diff(want, *v); diff != "" {
				t.Errorf("vote (-want +got):\n%s", diff)
			}
		})
	}
}

// badVoteConfigs are refused with these errors, key and line. They seed
// FuzzParseVote.
var badVoteConfigs = []struct {
	name string
	src  string
	want []string
}{
	{"unknown upstream", withVote("{upstreams: [pricing-a, pricing-x]}"),
		[]string{`routes[0].vote.upstreams[1] (line 10): unknown upstream "pricing-x" (have pricing-a, pricing-b, pricing-c)`}},
	{"one voter", withVote("{upstreams: [pricing-a]}"),
		[]string{"routes[0].vote.upstreams (line 10): must list 2 to 16 upstreams, got 1"}},
	{"duplicate voter", withVote("{upstreams: [pricing-a, pricing-a]}"),
		[]string{`routes[0].vote.upstreams[1] (line 10): duplicate upstream "pricing-a" (also upstreams[0])`}},
	{"quorum larger than the voters", withVote("{upstreams: [pricing-a, pricing-b], quorum: 3}"),
		[]string{"routes[0].vote.quorum (line 10): must be in [0, 2] (0 is a majority), the number of upstreams; got 3"}},
	{"vote and upstream", voteBase + "    upstream: pricing-a\n    vote: {upstreams: [pricing-a, pricing-b]}\n",
		[]string{"routes[0].vote (line 10): a vote route sends to vote.upstreams; set upstream, split or vote, not two"}},
	{"timeout past the route's", withVote("{upstreams: [pricing-a, pricing-b], timeout: 3s}"),
		[]string{"routes[0].vote.timeout (line 10): 3s is longer than the route timeout 2s"}},
	{"negative timeout", withVote("{upstreams: [pricing-a, pricing-b], timeout: -1s}"),
		[]string{"routes[0].vote.timeout (line 10): must not be negative, got -1s"}},
	{"unknown compare", withVote("{upstreams: [pricing-a, pricing-b], compare: yaml}"),
		[]string{`routes[0].vote.compare (line 10): must be exact or json, got "yaml"`}},
	{"ignore without json", withVote("{upstreams: [pricing-a, pricing-b], ignore: [/ts]}"),
		[]string{"routes[0].vote.ignore (line 10): needs compare: json"}},
	{"invalid JSON pointer", withVote("{upstreams: [pricing-a, pricing-b], compare: json, ignore: [/ok, ts], unordered: ['/a~2']}"),
		[]string{`routes[0].vote.ignore[1] (line 10): invalid JSON pointer "ts"`, `routes[0].vote.unordered[0] (line 10): invalid JSON pointer "/a~2"`}},
	{"bad method", withVote("{upstreams: [pricing-a, pricing-b], methods: ['PO ST']}"),
		[]string{`routes[0].vote.methods[0] (line 10): not an HTTP method: "PO ST"`}},
	{"body cap too large", withVote("{upstreams: [pricing-a, pricing-b], max_body_bytes: 1073741824}"),
		[]string{"routes[0].vote.max_body_bytes (line 10): must be in [1, 67108864] (64 MiB), got 1073741824"}},
	{"quarantine bounds", withVote("{upstreams: [pricing-a, pricing-b], quarantine: {disagreements: -1, window: -1s, readmit_after: 10001}}"),
		[]string{"routes[0].vote.quarantine.window (line 10): must not be negative, got -1s",
			"routes[0].vote.quarantine.disagreements (line 10): must be in [1, 10000], got -1",
			"routes[0].vote.quarantine.readmit_after (line 10): must be in [1, 10000], got 10001"}},
	{"unknown key", withVote("{upstreams: [pricing-a, pricing-b], qourum: 2}"),
		[]string{"routes[0].vote.qourum (line 10): unknown key"}},
	{"upgrades", voteBase + "    upgrades: [websocket]\n    vote: {upstreams: [pricing-a, pricing-b]}\n",
		[]string{"routes[0].upgrades[0] (line 9): a vote route cannot upgrade"}},
}

func TestVoteErrorsNameKeyAndLine(t *testing.T) {
	for _, tt := range badVoteConfigs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src))
			checkErrors(t, err, tt.want, true)
		})
	}
}

func FuzzParseVote(f *testing.F) {
	for _, tt := range badVoteConfigs {
		f.Add([]byte(tt.src))
	}
	f.Add([]byte(withVote("{upstreams: [pricing-a, pricing-b, pricing-c], quorum: 2, compare: json, ignore: [/ts]}")))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		// Whatever parses keeps the contract the proxy relies on.
		for _, rt := range c.Routes {
			v := rt.Vote
			if v == nil {
				continue
			}
			if n := len(v.Upstreams); n < 2 || n > MaxVoters || v.Quorum < 0 || v.Quorum > n {
				t.Errorf("parsed vote with %d upstreams, quorum %d", n, v.Quorum)
			}
			if v.Timeout <= 0 || v.Timeout > rt.Timeout || v.MaxBodyBytes < 1 || v.Quarantine == nil {
				t.Errorf("parsed vote %+v", v)
			}
			if err := v.JSONOptions.Validate(); err != nil {
				t.Errorf("parsed vote with invalid pointers: %v", err)
			}
			if rt.Upstream != "" || len(rt.Split) > 0 || len(rt.Upgrades) > 0 {
				t.Errorf("parsed vote route with upstream %q, split %v, upgrades %v", rt.Upstream, rt.Split, rt.Upgrades)
			}
		}
	})
}
