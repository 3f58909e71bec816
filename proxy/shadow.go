package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/holdfasthttp"
	"github.com/holdfast-dev/holdfast/retry"
	"github.com/holdfast-dev/holdfast/vote"
)

// MaxShadowFields bounds the fields a shadow route keeps counts of, real
// differences and noise together: the pointers come from the answers, and
// two unrelated documents would otherwise name every leaf. Fields past it
// are counted in [ShadowStatus].Untracked.
const MaxShadowFields = 256

// The fields of a comparison that are not JSON Pointers, which always start
// with "/" or are "" (the whole document).
const (
	// ShadowFieldStatus is the response status.
	ShadowFieldStatus = "status"
	// ShadowFieldBody is a body that is not JSON on some side, compared
	// byte for byte.
	ShadowFieldBody = "body"
)

// shadowRoute is the live state of a route's shadow block: the candidate
// and the secondary, the slots that bound the comparisons in flight, and
// what the comparisons found, by field.
type shadowRoute struct {
	cfg       *config.Shadow
	rt        *route // the calls' route: the route's name and timeouts, no retry, hedge or checks
	candidate target
	secondary target
	slots     chan struct{}
	json      vote.JSONOptions

	shadowed, dropped, compared, differing, oversize atomic.Uint64
	candidateFailed, secondaryFailed                 atomic.Uint64
	realDiffs, noiseDiffs                            atomic.Uint64

	// mu guards fields and untracked.
	mu        sync.Mutex
	fields    map[string]*shadowField
	untracked uint64
}

// shadowField is one field's counts: how often it differed between the
// primary and the candidate while the two primary answers agreed on it
// (real), and how often the primary answers differed on it (noise).
type shadowField struct {
	real, noise uint64
	sample      *ShadowSample // the first real difference
}

func newShadowRoute(rt *route, clusters map[string]*cluster) (*shadowRoute, error) {
	sc := rt.cfg.Shadow
	s := &shadowRoute{cfg: sc, slots: make(chan struct{}, sc.MaxConcurrent), json: sc.JSONOptions, fields: map[string]*shadowField{}}
	if _, err := vote.DiffJSON([]byte("{}"), []byte("{}"), s.json); err != nil {
		return nil, err
	}
	// One attempt each, no hedge, no checks: the shadow asks for the
	// answers as they are, and adds no retries to the upstreams' load.
	s.rt = &route{name: rt.name, cfg: rt.cfg, retryCfg: retry.Config{Attempts: 1}}
	for _, t := range []struct {
		dst  *target
		name string
	}{{&s.candidate, sc.Upstream}, {&s.secondary, sc.Secondary}} {
		cl := clusters[t.name]
		r, err := retry.New(retry.Config{Name: cl.name, Attempts: 1})
		if err != nil {
			return nil, err
		}
		*t.dst = target{cluster: cl, weight: 1, retry: r}
	}
	return s, nil
}

// shadowTap is one shadowed request: what the shadow calls need once the
// client's exchange is over, and the primary's answer as it is relayed.
type shadowTap struct {
	s      *shadowRoute
	r      *http.Request // a copy, as the shadow calls send it
	header http.Header
	body   *reqBody
	status int
	cap    *capture
}

// tap decides whether the request whose primary answer is o is shadowed:
// idempotent, a body that can be sent again, in the route's percent, and a
// free slot (else it is dropped). When it is, o's body is captured as it
// is relayed, and the caller must finish the tap with [Proxy.shadowAfter].
func (s *shadowRoute) tap(r *http.Request, hdr http.Header, body *reqBody, o *outcome) *shadowTap {
	if !holdfasthttp.Idempotent(r) || !body.replayable || rand.Float64()*100 >= s.cfg.Percent {
		return nil
	}
	select {
	case s.slots <- struct{}{}:
	default:
		s.dropped.Add(1)
		return nil
	}
	s.shadowed.Add(1)
	c := &capture{r: o.resp.Body, max: s.cfg.MaxBodyBytes}
	o.resp.Body = c
	return &shadowTap{s: s, r: r.Clone(context.Background()), header: hdr.Clone(), body: body, status: o.resp.StatusCode, cap: c}
}

// capture is a response body that keeps a copy of what is read from it, up
// to max bytes; over reports more, done a body read to its end.
type capture struct {
	r    io.ReadCloser
	max  int64
	buf  bytes.Buffer
	over bool
	done bool
}

func (c *capture) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 && !c.over {
		if int64(c.buf.Len()+n) > c.max {
			c.over = true
			c.buf = bytes.Buffer{}
		} else {
			c.buf.Write(p[:n])
		}
	}
	if err == io.EOF {
		c.done = true
	}
	return n, err
}

func (c *capture) Close() error { return c.r.Close() }

// shadowAfter finishes a tap once the client's answer is relayed: when the
// primary's body was read whole and is within the cap, the shadow calls
// run in the background, owned by the proxy; otherwise the slot is freed.
// It never waits for the calls.
func (p *Proxy) shadowAfter(t *shadowTap) {
	s := t.s
	switch {
	case !t.cap.done:
		// The relay broke, or the body was not read to its end: there is
		// no whole answer to compare.
		<-s.slots
		return
	case t.cap.over:
		s.oversize.Add(1)
		<-s.slots
		return
	}
	primary := shadowAnswer{status: t.status, body: t.cap.buf.Bytes()}
	if !p.bg.goOwned(func(ctx context.Context) {
		defer func() { <-s.slots }()
		ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		defer cancel()
		s.compare(primary, p.shadowCalls(ctx, t))
	}) {
		<-s.slots // the proxy is closing
	}
}

// shadowAnswer is one answer of a shadow comparison; err is set for a call
// that failed (no response, or a body over the cap).
type shadowAnswer struct {
	status int
	body   []byte
	err    error
}

var errShadowBody = errors.New("proxy: shadow answer over shadow.max_body_bytes")

// shadowCalls sends the request to the candidate and the secondary at
// once, and returns their answers in that order.
func (p *Proxy) shadowCalls(ctx context.Context, t *shadowTap) [2]shadowAnswer {
	var out [2]shadowAnswer
	var wg sync.WaitGroup
	for i, tg := range []*target{&t.s.candidate, &t.s.secondary} {
		wg.Go(func() {
			x := &exchange{r: t.r, rt: t.s.rt, cl: tg.cluster, retry: tg.retry, header: t.header, body: t.body}
			out[i] = t.s.ask(ctx, p, x)
		})
	}
	wg.Wait()
	return out
}

// ask makes one shadow call and reads its answer, up to the cap.
func (s *shadowRoute) ask(ctx context.Context, p *Proxy, x *exchange) shadowAnswer {
	o := p.forward(ctx, x)
	defer o.discard()
	if o.kind != outcomeResponse {
		if o.err != nil {
			return shadowAnswer{err: o.err}
		}
		return shadowAnswer{err: errors.New("proxy: shadow call failed: " + o.reason)}
	}
	body, err := io.ReadAll(io.LimitReader(o.resp.Body, s.cfg.MaxBodyBytes+1))
	if err != nil {
		return shadowAnswer{err: err}
	}
	if int64(len(body)) > s.cfg.MaxBodyBytes {
		return shadowAnswer{err: errShadowBody}
	}
	return shadowAnswer{status: o.resp.StatusCode, body: body}
}

// compare judges one comparison, Diffy's way: a field that differs between
// the primary and the candidate but not between the primary and the
// secondary is a real difference; one that differs between the primary
// and the secondary is noise.
func (s *shadowRoute) compare(primary shadowAnswer, got [2]shadowAnswer) {
	cand, sec := got[0], got[1]
	switch {
	case cand.err != nil:
		s.candidateFailed.Add(1)
		return
	case sec.err != nil:
		s.secondaryFailed.Add(1)
		return
	}
	s.compared.Add(1)
	real, noise := shadowDiff(primary, cand, sec, s.json)
	s.record(time.Now(), real, noise)
}

// shadowDiff returns the real differences between the primary and the
// candidate, and the noise: the fields where the primary and the
// secondary differ. Bodies that are JSON on all three sides are compared
// field by field under o; others byte for byte, as one field "body".
func shadowDiff(primary, cand, sec shadowAnswer, o vote.JSONOptions) (real []vote.Difference, noise []string) {
	if primary.status != sec.status {
		noise = append(noise, ShadowFieldStatus)
	} else if primary.status != cand.status {
		real = append(real, vote.Difference{Pointer: ShadowFieldStatus, A: strconv.Itoa(primary.status), B: strconv.Itoa(cand.status)})
	}
	dc, errC := vote.DiffJSON(primary.body, cand.body, o)
	ds, errS := vote.DiffJSON(primary.body, sec.body, o)
	if errC != nil || errS != nil {
		switch {
		case !bytes.Equal(primary.body, sec.body):
			noise = append(noise, ShadowFieldBody)
		case !bytes.Equal(primary.body, cand.body):
			real = append(real, vote.Difference{Pointer: ShadowFieldBody, A: clip(primary.body), B: clip(cand.body)})
		}
		return real, noise
	}
	for _, d := range ds {
		noise = append(noise, d.Pointer)
	}
	for _, d := range dc {
		if !slices.ContainsFunc(noise, func(n string) bool { return related(n, d.Pointer) }) {
			real = append(real, d)
		}
	}
	return real, noise
}

// related reports whether JSON Pointers a and b are the same value or one
// holds the other: noise at /items also covers /items/0/price, and noise
// at /items/0/ts makes a difference reported at /items (an array whose
// length changed) uncertain.
func related(a, b string) bool {
	if a == ShadowFieldStatus || b == ShadowFieldStatus {
		return a == b
	}
	return a == b || strings.HasPrefix(b, a+"/") || strings.HasPrefix(a, b+"/") || a == "" || b == ""
}

// clip bounds a non-JSON body quoted in a sample.
func clip(b []byte) string {
	if len(b) > 256 {
		return string(b[:256]) + "..."
	}
	return string(b)
}

// record adds one comparison's fields to the counts. A field once seen as
// noise is noise from then on: its real differences are counted as noise,
// since a field that differs between two answers of the primary says
// nothing when it differs in the candidate's.
func (s *shadowRoute) record(now time.Time, real []vote.Difference, noise []string) {
	var nReal, nNoise uint64
	s.mu.Lock()
	for _, ptr := range noise {
		if f := s.fieldLocked(ptr); f != nil {
			f.noise++
		}
		nNoise++
	}
	for _, d := range real {
		f := s.fieldLocked(d.Pointer)
		switch {
		case f == nil:
			nReal++
		case f.noise > 0:
			nNoise++
		default:
			f.real++
			nReal++
			if f.sample == nil {
				f.sample = &ShadowSample{At: now, Primary: d.A, Candidate: d.B}
			}
		}
	}
	s.mu.Unlock()
	if nReal > 0 {
		s.differing.Add(1)
	}
	s.realDiffs.Add(nReal)
	s.noiseDiffs.Add(nNoise)
}

// fieldLocked returns ptr's counts, made on first sight while there is
// room; nil (counted as untracked) past MaxShadowFields. s.mu must be held.
func (s *shadowRoute) fieldLocked(ptr string) *shadowField {
	f, ok := s.fields[ptr]
	if !ok {
		if len(s.fields) >= MaxShadowFields {
			s.untracked++
			return nil
		}
		f = &shadowField{}
		s.fields[ptr] = f
	}
	return f
}

// ShadowStatus is a shadow route's comparisons and what they found, in
// [RouteStatus] and GET /shadow/differences.
type ShadowStatus struct {
	Route     string  `json:"route"`
	Candidate string  `json:"candidate"`
	Secondary string  `json:"secondary"`
	Percent   float64 `json:"percent"`
	// Shadowed are the requests picked for a comparison; Dropped those
	// picked while max_concurrent comparisons were in flight, not
	// shadowed. Of the shadowed, Compared had three answers to compare,
	// Oversize a primary answer over the cap, and CandidateFailed and
	// SecondaryFailed a shadow call that failed (or whose answer was over
	// the cap). Differing is how many compared requests had at least one
	// real difference.
	Shadowed        uint64 `json:"shadowed"`
	Dropped         uint64 `json:"dropped"`
	Compared        uint64 `json:"compared"`
	Differing       uint64 `json:"differing"`
	Oversize        uint64 `json:"oversize"`
	CandidateFailed uint64 `json:"candidate_failed"`
	SecondaryFailed uint64 `json:"secondary_failed"`
	// RealDifferences and NoiseDifferences count fields, over every
	// comparison.
	RealDifferences  uint64 `json:"real_differences"`
	NoiseDifferences uint64 `json:"noise_differences"`
	// Differences are the fields with real differences that were never
	// noise, most frequent first; Noise the fields seen to differ between
	// two answers of the primary.
	Differences []ShadowDifference `json:"differences"`
	Noise       []ShadowNoise      `json:"noise"`
	// Untracked counts field differences past MaxShadowFields fields.
	Untracked uint64 `json:"untracked"`
}

// ShadowDifference is one field where the candidate differs from the
// primary: a JSON Pointer, or "status", or "body" for bodies that are not
// JSON.
type ShadowDifference struct {
	Field  string       `json:"field"`
	Count  uint64       `json:"count"`
	Sample ShadowSample `json:"sample"`
}

// ShadowSample is the first real difference seen at a field: the two
// values, as compact JSON text cut to 256 bytes.
type ShadowSample struct {
	At        time.Time `json:"at"`
	Primary   string    `json:"primary"`
	Candidate string    `json:"candidate"`
}

// ShadowNoise is a field that differed between two answers of the
// primary, and how often.
type ShadowNoise struct {
	Field string `json:"field"`
	Count uint64 `json:"count"`
}

func (s *shadowRoute) status(route string) *ShadowStatus {
	st := &ShadowStatus{
		Route: route, Candidate: s.cfg.Upstream, Secondary: s.cfg.Secondary, Percent: s.cfg.Percent,
		Shadowed: s.shadowed.Load(), Dropped: s.dropped.Load(), Compared: s.compared.Load(), Differing: s.differing.Load(),
		Oversize: s.oversize.Load(), CandidateFailed: s.candidateFailed.Load(), SecondaryFailed: s.secondaryFailed.Load(),
		RealDifferences: s.realDiffs.Load(), NoiseDifferences: s.noiseDiffs.Load(),
		Differences: []ShadowDifference{}, Noise: []ShadowNoise{},
	}
	s.mu.Lock()
	st.Untracked = s.untracked
	for ptr, f := range s.fields {
		if f.noise > 0 {
			st.Noise = append(st.Noise, ShadowNoise{Field: ptr, Count: f.noise})
		} else if f.real > 0 {
			st.Differences = append(st.Differences, ShadowDifference{Field: ptr, Count: f.real, Sample: *f.sample})
		}
	}
	s.mu.Unlock()
	slices.SortFunc(st.Differences, func(a, b ShadowDifference) int {
		if a.Count != b.Count {
			return cmpDesc(a.Count, b.Count)
		}
		return strings.Compare(a.Field, b.Field)
	})
	slices.SortFunc(st.Noise, func(a, b ShadowNoise) int {
		if a.Count != b.Count {
			return cmpDesc(a.Count, b.Count)
		}
		return strings.Compare(a.Field, b.Field)
	})
	return st
}

func cmpDesc(a, b uint64) int {
	if a > b {
		return -1
	}
	return 1
}

// ShadowDifferences returns every shadow route of the running config with
// what its comparisons found, in the config's order.
func (p *Proxy) ShadowDifferences() []ShadowStatus {
	out := []ShadowStatus{}
	for _, r := range p.state.Load().routes {
		if r.shadow != nil {
			out = append(out, *r.shadow.status(r.name))
		}
	}
	return out
}
