package upstream

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// seeded returns a deterministic random source that is safe for concurrent
// use.
func seeded(seed uint64) func() uint64 {
	var mu sync.Mutex
	r := rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)
	return func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		return r.Uint64()
	}
}

// constRand returns a source that always yields v.
func constRand(v uint64) func() uint64 { return func() uint64 { return v } }

// addrs returns n endpoint configs with distinct loopback addresses.
func addrs(n int) []EndpointConfig {
	eps := make([]EndpointConfig, n)
	for i := range eps {
		eps[i].Address = fmt.Sprintf("http://10.0.0.%d:80", i+1)
	}
	return eps
}

// newTest builds an upstream with a seeded random source and closes it when
// the test ends. Outside health-check tests it gets a transport that fails
// every request, so nothing touches the network.
func newTest(t testing.TB, c Config, rnd func() uint64) *Upstream {
	t.Helper()
	if c.Transport == nil {
		c.Transport = &fakeTransport{}
	}
	u, err := newUpstream(c, rnd)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// changeLog collects the changes an upstream reports.
type changeLog struct {
	mu      sync.Mutex
	changes []Change
}

func (l *changeLog) add(c Change) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.changes = append(l.changes, c)
}

// kinds returns "kind endpoint reason" for each change and forgets them.
func (l *changeLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, c := range l.changes {
		s := c.Kind.String()
		if c.Endpoint != nil {
			s += " " + c.Endpoint.String()
		}
		out = append(out, s+" "+c.Reason)
	}
	l.changes = nil
	return out
}

// fakeTransport answers requests in memory, so health checks can run inside
// a synctest bubble. Each host answers with status[host] (default 200), or
// fails with err[host], or, when hang[host] is set, waits until the request
// is canceled.
type fakeTransport struct {
	mu     sync.Mutex
	status map[string]int
	err    map[string]error
	hang   map[string]bool
	calls  []fakeCall
}

type fakeCall struct {
	at   time.Duration // since the bubble's epoch, see fakeTransport.epoch
	url  string
	host string
	ua   string
}

// epoch is the start time of every synctest bubble.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func (f *fakeTransport) set(host string, status int, err error, hang bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status == nil {
		f.status, f.err, f.hang = map[string]int{}, map[string]error{}, map[string]bool{}
	}
	f.status[host], f.err[host], f.hang[host] = status, err, hang
}

func (f *fakeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.calls = append(f.calls, fakeCall{at: time.Since(epoch), url: req.URL.String(), host: req.Host, ua: req.Header.Get("User-Agent")})
	status, err, hang := f.status[req.URL.Host], f.err[req.URL.Host], f.hang[req.URL.Host]
	f.mu.Unlock()
	if hang {
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	if err != nil {
		return nil, err
	}
	if status == 0 {
		status = http.StatusOK
	}
	return &http.Response{
		StatusCode: status,
		Body:       io.NopCloser(strings.NewReader("ok")),
		Header:     http.Header{},
		Request:    req,
	}, nil
}

// takeCalls returns the calls so far and forgets them.
func (f *fakeTransport) takeCalls() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// fail records n failures of d on e.
func fail(e *Endpoint, n int) {
	for range n {
		e.Start()
		e.Done(time.Millisecond, Failure)
	}
}

// succeed records n successes of d on e.
func succeed(e *Endpoint, n int, d time.Duration) {
	for range n {
		e.Start()
		e.Done(d, Success)
	}
}
