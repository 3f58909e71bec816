package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/holdfast-dev/holdfast/vote"
)

// shadowBase has two upstreams and a route whose keys start on line 7.
const shadowBase = `upstreams:
  accounts: {endpoints: [{address: http://127.0.0.1:1}]}
  accounts-v2: {endpoints: [{address: http://127.0.0.1:2}]}
routes:
  - name: accounts
    upstream: accounts
    timeout: 2s
`

func TestShadowParse(t *testing.T) {
	tests := []struct {
		name, src string
		want      Shadow
	}{
		{"the contract", "    shadow: {upstream: accounts-v2, secondary: accounts, percent: 10}\n",
			Shadow{Upstream: "accounts-v2", Secondary: "accounts", Percent: 10, MaxConcurrent: DefaultShadowMaxConcurrent,
				Timeout: 2e9, MaxBodyBytes: DefaultShadowMaxBodyBytes}},
		{"defaults", "    shadow: {upstream: accounts-v2}\n",
			Shadow{Upstream: "accounts-v2", Secondary: "accounts", Percent: DefaultShadowPercent, MaxConcurrent: DefaultShadowMaxConcurrent,
				Timeout: 2e9, MaxBodyBytes: DefaultShadowMaxBodyBytes}},
		{"every key", "    shadow:\n      upstream: accounts-v2\n      percent: 100\n      max_concurrent: 2\n      timeout: 1s\n      max_body_bytes: 100\n      ignore: [/generated_at]\n      unordered: [/items]\n",
			Shadow{Upstream: "accounts-v2", Secondary: "accounts", Percent: 100, MaxConcurrent: 2, Timeout: 1e9, MaxBodyBytes: 100,
				JSONOptions: vote.JSONOptions{Ignore: []string{"/generated_at"}, Unordered: []string{"/items"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(shadowBase + tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tt.want, c.Routes[0].Shadow, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("shadow (-want +got):\n%s", diff)
			}
		})
	}
}

var badShadowConfigs = []struct {
	name, src string
	want      []string
}{
	{"no candidate", shadowBase + "    shadow: {percent: 5}\n",
		[]string{"routes[0].shadow.upstream (line 8): is required: the candidate upstream"}},
	{"unknown candidate", shadowBase + "    shadow: {upstream: accounts-v3}\n",
		[]string{`routes[0].shadow.upstream (line 8): unknown upstream "accounts-v3" (have accounts, accounts-v2)`}},
	{"the primary as candidate", shadowBase + "    shadow: {upstream: accounts}\n",
		[]string{`routes[0].shadow.upstream (line 8): "accounts" is the route's own upstream`}},
	{"unknown secondary", shadowBase + "    shadow:\n      upstream: accounts-v2\n      secondary: acounts\n",
		[]string{`routes[0].shadow.secondary (line 10): unknown upstream "acounts" (have accounts, accounts-v2)`}},
	{"the candidate as secondary", shadowBase + "    shadow: {upstream: accounts-v2, secondary: accounts-v2}\n",
		[]string{`routes[0].shadow.secondary (line 8): "accounts-v2" is the candidate`}},
	{"percent above 100", shadowBase + "    shadow:\n      upstream: accounts-v2\n      percent: 150\n",
		[]string{"routes[0].shadow.percent (line 10): must be in (0, 100], got 150"}},
	{"negative percent", shadowBase + "    shadow: {upstream: accounts-v2, percent: -1}\n",
		[]string{"routes[0].shadow.percent (line 8): must be in (0, 100], got -1"}},
	{"NaN percent", shadowBase + "    shadow: {upstream: accounts-v2, percent: .nan}\n",
		[]string{"routes[0].shadow.percent (line 8): "}},
	{"bounds", shadowBase + "    shadow:\n      upstream: accounts-v2\n      max_concurrent: 5000\n      timeout: -1s\n      max_body_bytes: 1073741824\n",
		[]string{"routes[0].shadow.max_concurrent (line 10): must be in [1, 1024], got 5000",
			"routes[0].shadow.timeout (line 11): must not be negative, got -1s",
			"routes[0].shadow.max_body_bytes (line 12): must be in [1, 16777216] (16 MiB), got 1073741824"}},
	{"invalid pointers", shadowBase + "    shadow:\n      upstream: accounts-v2\n      ignore: [generated_at]\n      unordered: ['/a~2']\n",
		[]string{`routes[0].shadow.ignore[0] (line 10): `, `routes[0].shadow.unordered[0] (line 11): `}},
	{"on a split", `upstreams:
  a: {endpoints: [{address: http://127.0.0.1:1}]}
  b: {endpoints: [{address: http://127.0.0.1:2}]}
routes:
  - name: r
    split: [{upstream: a, weight: 1}, {upstream: b, weight: 1}]
    shadow: {upstream: b}
`, []string{"routes[0].shadow (line 7): a split route has no one primary to shadow"}},
	{"unknown key", shadowBase + "    shadow: {upstream: accounts-v2, percentage: 5}\n",
		[]string{`routes[0].shadow.percentage (line 8): unknown key`}},
}

func TestShadowErrorsNameKeyAndLine(t *testing.T) {
	for _, tt := range badShadowConfigs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src))
			checkErrors(t, err, tt.want, true)
		})
	}
}

// FuzzParseShadow: whatever parses is a shadow block the proxy can run: a
// known candidate other than the primary, a known secondary, a percent in
// (0, 100], bounds kept and pointers that parse.
func FuzzParseShadow(f *testing.F) {
	for _, tt := range badShadowConfigs {
		f.Add([]byte(tt.src))
	}
	f.Add([]byte(shadowBase + "    shadow: {upstream: accounts-v2, secondary: accounts, percent: 10, ignore: [/generated_at, '/items/*/ts'], unordered: [/items]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		for _, rt := range c.Routes {
			s := rt.Shadow
			if s == nil {
				continue
			}
			_, okU := c.Upstreams[s.Upstream]
			_, okS := c.Upstreams[s.Secondary]
			if !okU || !okS || s.Upstream == rt.Upstream || rt.Vote != nil || len(rt.Split) > 0 {
				t.Errorf("parsed shadow %+v on route %+v", s, rt)
			}
			if !(s.Percent > 0 && s.Percent <= 100) || s.MaxConcurrent < 1 || s.MaxConcurrent > MaxShadowMaxConcurrent ||
				s.Timeout <= 0 || s.MaxBodyBytes < 1 || s.MaxBodyBytes > MaxShadowMaxBodyBytes {
				t.Errorf("parsed shadow out of bounds: %+v", s)
			}
			if _, err := vote.DiffJSON([]byte(`{}`), []byte(`{}`), s.JSONOptions); err != nil {
				t.Errorf("parsed shadow's pointers do not compile: %v", err)
			}
		}
	})
}
