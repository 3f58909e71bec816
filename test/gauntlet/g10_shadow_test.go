//go:build !race

package gauntlet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/chaos/loadgen"
)

// jsonServer starts a loopback server whose every answer is body().
func jsonServer(t *testing.T, delay time.Duration, header func(http.Header), body func() string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if header != nil {
			header(w.Header())
		}
		io.WriteString(w, body())
	}))
	t.Cleanup(s.Close)
	return s
}

// adminJSON GETs path from the proxy's admin server into v.
func adminJSON(t *testing.T, p *proc, path string, v any) {
	t.Helper()
	resp, err := http.Get(p.Admin + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
}

const shadowConfig = `
listen: {{.Listen}}
admin: {listen: {{.Admin}}}
upstreams:
  accounts: {endpoints: [{address: PRIMARY}]}
  accounts-v2: {endpoints: [{address: CANDIDATE}]}
routes:
  - name: plain
    match: {path_prefix: /plain}
    upstream: accounts
  - name: accounts
    match: {path_prefix: /accounts}
    upstream: accounts
    shadow: {upstream: accounts-v2, secondary: accounts, percent: 100, max_concurrent: 128}
`

// G10: a candidate that differs from the primary in one field and answers
// 300ms late, behind a shadow of every request; the primary's answers
// carry a random generated_at. The report names exactly the one real field,
// never generated_at, and the shadowed route's p99 is the unshadowed one's
// within noise, far below the candidate's 300ms.
func TestG10Shadow(t *testing.T) {
	answer := func(balance string) func() string {
		return func() string {
			return `{"id":"a1","balance":` + balance + `,"currency":"EUR","generated_at":` + strconv.FormatInt(rand.Int64(), 10) + `}`
		}
	}
	primary := jsonServer(t, 0, nil, answer("10"))
	cand := jsonServer(t, 300*time.Millisecond, nil, answer("11"))
	cfg := strings.NewReplacer("PRIMARY", primary.URL, "CANDIDATE", cand.URL).Replace(shadowConfig)
	p := startProxy(t, cfg)

	var plain, shadowed *loadgen.Result
	var wg sync.WaitGroup
	wg.Go(func() { plain = drive(t, context.Background(), 100, 8*time.Second, get(p.URL+"/plain/a1")) })
	wg.Go(func() { shadowed = drive(t, context.Background(), 100, 8*time.Second, get(p.URL+"/accounts/a1")) })
	wg.Wait()

	var diffs struct {
		Routes []struct {
			Compared    uint64 `json:"compared"`
			Dropped     uint64 `json:"dropped"`
			Differences []struct {
				Field string `json:"field"`
				Count uint64 `json:"count"`
			} `json:"differences"`
			Noise []struct {
				Field string `json:"field"`
			} `json:"noise"`
		} `json:"routes"`
	}
	// The last comparisons end 300ms after their requests.
	deadline := time.Now().Add(5 * time.Second)
	for {
		adminJSON(t, p, "/shadow/differences", &diffs)
		if len(diffs.Routes) != 1 {
			t.Fatalf("shadow routes %+v; want one", diffs.Routes)
		}
		if r := diffs.Routes[0]; int(r.Compared+r.Dropped) >= shadowed.Sent || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	r := diffs.Routes[0]
	var fields, noise []string
	for _, d := range r.Differences {
		fields = append(fields, d.Field)
	}
	for _, n := range r.Noise {
		noise = append(noise, n.Field)
	}
	p99Plain, p99Shadowed := plain.SuccessLatency.Quantile(0.99), shadowed.SuccessLatency.Quantile(0.99)
	// Within noise: the unshadowed route's p99 and half again, or 10ms,
	// whichever is more, on a shared machine.
	bound := max(p99Plain*3/2, p99Plain+10*time.Millisecond)
	ok := slices.Equal(fields, []string{"/balance"}) && slices.Contains(noise, "/generated_at") && r.Compared > 0 &&
		shadowed.SuccessRate() >= 0.999 && p99Shadowed <= bound && p99Shadowed < 300*time.Millisecond
	report("G10", "shadow: candidate differs in 1 field, +300ms", fmt.Sprintf("real fields %v (noise %v) over %d compared; p99 %s vs %s unshadowed", fields, noise, r.Compared, ms(p99Shadowed), ms(p99Plain)), ok)
	if !ok {
		t.Errorf("differences %v, noise %v, compared %d, dropped %d; success %.4f; p99 %s shadowed, %s plain (bound %s); want exactly [/balance], /generated_at as noise, p99 within the bound and under 300ms",
			fields, noise, r.Compared, r.Dropped, shadowed.SuccessRate(), p99Shadowed, p99Plain, bound)
	}
}

const quiesceConfig = `
listen: {{.Listen}}
admin: {listen: {{.Admin}}}
upstreams:
  accounts:
    outlier_detection: {disabled: true}
    endpoints: [{address: ENDPOINT_A}, {address: ENDPOINT_B}]
routes:
  - name: accounts
    upstream: accounts
    timeout: 2s
    retry: {attempts: 2, backoff: {base: 1ms, max: 5ms}}
    checks:
      - json: {pointer: /balance, min: 0}
    quiesce: {after: 1s, min_requests: 5, probe_interval: 200ms, recovery_probes: 3, webhook: 'WEBHOOK_URL'}
`

// G11: every endpoint starts answering negative balances at 2s and
// recovers at 6s. No wrong answer reaches a client; the route quiesces
// (503 quiesced), the webhook's report names the invariant, and the route
// resumes once the endpoints recover.
func TestG11Quiesce(t *testing.T) {
	var bad atomic.Bool
	body := func() string {
		if bad.Load() {
			return `{"balance":-5}`
		}
		return `{"balance":10}`
	}
	wrong := func(h http.Header) {
		if bad.Load() {
			h.Set("X-Wrong", "1")
		}
	}
	a, b := jsonServer(t, 0, wrong, body), jsonServer(t, 0, wrong, body)
	var hooksMu sync.Mutex
	var hooks []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var h struct {
			Event  string `json:"event"`
			Report struct {
				Invariant string `json:"invariant"`
			} `json:"report"`
		}
		json.NewDecoder(r.Body).Decode(&h)
		hooksMu.Lock()
		hooks = append(hooks, h.Event+" "+h.Report.Invariant)
		hooksMu.Unlock()
	}))
	t.Cleanup(hook.Close)
	cfg := strings.NewReplacer("ENDPOINT_A", a.URL, "ENDPOINT_B", b.URL, "WEBHOOK_URL", hook.URL).Replace(quiesceConfig)
	p := startProxy(t, cfg)

	var relayedWrong atomic.Int64
	time.AfterFunc(2*time.Second, func() { bad.Store(true) })
	time.AfterFunc(6*time.Second, func() { bad.Store(false) })
	res, err := loadgen.Run(context.Background(), loadgen.Config{Rate: 100, Duration: 10 * time.Second, Timeout: 5 * time.Second,
		NewRequest: get(p.URL + "/accounts/1"),
		IsSuccess: func(resp *http.Response, err error) bool {
			if err == nil && resp.Header.Get("X-Wrong") != "" {
				relayedWrong.Add(1)
			}
			return err == nil && resp.StatusCode < 500
		}})
	if err != nil {
		t.Fatal(err)
	}
	var lastFailed int
	for _, pt := range res.Timeline {
		if pt.Offset >= 8*time.Second {
			lastFailed += pt.Failed
		}
	}
	hooksMu.Lock()
	got := slices.Clone(hooks)
	hooksMu.Unlock()
	want := []string{"quiesced checks[0] (json /balance min 0)", "resumed checks[0] (json /balance min 0)"}
	ok := relayedWrong.Load() == 0 && res.Statuses[503] > 0 && slices.Equal(got, want) && lastFailed == 0
	report("G11", "every endpoint wrong from 2s to 6s, quiesce", fmt.Sprintf("%d wrong relayed, %d quiesced 503s, webhooks %q, %d failed after 8s", relayedWrong.Load(), res.Statuses[503], got, lastFailed), ok)
	if !ok {
		t.Errorf("wrong answers relayed %d, statuses %v, webhooks %q, failures after 8s %d; want 0, some 503, %q, 0",
			relayedWrong.Load(), res.Statuses, got, lastFailed, want)
	}
}
