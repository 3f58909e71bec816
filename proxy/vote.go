package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/guard"
	"github.com/holdfast-dev/holdfast/holdfasthttp"
	"github.com/holdfast-dev/holdfast/vote"
)

// MaxDisagreements is how many of a vote route's last disagreements the
// proxy keeps for the admin API ([Proxy.VoteDisagreements]).
const MaxDisagreements = 32

// voteRoute is the live state of a route's vote block: the library's voter,
// which decides, and one guard per voter, which quarantines. The route's
// targets are its voters, in the order of vote.upstreams; voters[i] is
// targets[i]'s.
type voteRoute struct {
	cfg     *config.Vote
	voter   *vote.Voter[ballot]
	voters  []*voterState
	quorum  int
	methods []string
	json    *vote.JSONOptions // compare json's, for the disagreements' diffs

	agreed   atomic.Uint64
	noQuorum atomic.Uint64

	// mu guards recent, the last MaxDisagreements disagreements, oldest
	// first.
	mu     sync.Mutex
	recent []VoteDisagreement
}

// voterState is one voter's quarantine and counts.
type voterState struct {
	name  string
	guard *guard.Guard[ballot] // no Check, no Probe: fed by RecordAt

	agreed, dissented, missing, failed atomic.Uint64
}

// ballot is one voter's answer: what the vote compares and the client gets.
type ballot struct {
	status   int
	header   http.Header
	body     []byte
	endpoint string // the endpoint that answered (host:port), for RequestInfo
}

// errVoterFailed and errVoterBody are a voter that did not answer: a
// transport failure or a 5xx, or a body over vote.max_body_bytes.
var (
	errVoterFailed = errors.New("proxy: voter failed")
	errVoterBody   = errors.New("proxy: voter's body is over vote.max_body_bytes")
	errDissent     = errors.New("proxy: voter dissented")
)

func newVoteRoute(rc *config.Route, targets []target, l holdfast.Listener) (*voteRoute, error) {
	vc := rc.Vote
	v := &voteRoute{cfg: vc, methods: vc.Methods, quorum: vc.Quorum}
	if v.quorum == 0 {
		// A majority of every voter, quarantined or not: quarantine takes
		// voters away, never lowers the bar.
		v.quorum = len(vc.Upstreams)/2 + 1
	}
	bodyEqual := bytes.Equal
	if vc.Compare == config.VoteCompareJSON {
		eq, err := vote.JSON[[]byte](vc.JSONOptions)
		if err != nil {
			return nil, err
		}
		bodyEqual = eq
		v.json = &vc.JSONOptions
	}
	voter, err := vote.New(vote.Config[ballot]{
		Name:     rc.Name,
		Timeout:  vc.Timeout,
		Quorum:   v.quorum,
		Compare:  func(a, b ballot) bool { return a.status == b.status && bodyEqual(a.body, b.body) },
		Listener: l,
	})
	if err != nil {
		return nil, err
	}
	v.voter = voter
	q := vc.Quarantine
	for _, t := range targets {
		g, err := guard.New(guard.Config[ballot]{
			Name:           rc.Name + "/" + t.cluster.name,
			Violations:     q.Disagreements,
			Window:         q.Window,
			RecoveryProbes: q.ReadmitAfter,
			Listener:       l,
		})
		if err != nil {
			return nil, err
		}
		v.voters = append(v.voters, &voterState{name: t.cluster.name, guard: g})
	}
	return v, nil
}

// votes reports whether r may vote: an idempotent request, one with an
// Idempotency-Key, or a method vote.methods lists.
func (v *voteRoute) votes(r *http.Request) bool {
	return holdfasthttp.Idempotent(r) || slices.Contains(v.methods, r.Method)
}

// serveVote answers a request of a vote route: every counting voter is
// asked at once and the library's voter decides, returning as soon as a
// quorum agrees; quarantined voters are asked beside the vote, as probes.
// The answer is written (and flushed) before serveVote waits for the
// cancelled voters and the probes to end, so that no goroutine it started
// outlives the request and the slow ones do not delay the client.
func (p *Proxy) serveVote(ctx context.Context, w http.ResponseWriter, r *http.Request, rt *route, hdr http.Header, body *reqBody, info *RequestInfo, local func(status int, reason, msg string, retryAfter time.Duration)) {
	v := rt.vote
	// The upstream is the voter whose answer is relayed, set below; none
	// when no answer is.
	info.Upstream = ""
	if !v.votes(r) {
		local(http.StatusMethodNotAllowed, ReasonInvalidRequest,
			r.Method+" requests do not vote on route "+rt.name+" without an Idempotency-Key (see vote.methods)", 0)
		return
	}
	if !body.replayable {
		local(http.StatusRequestEntityTooLarge, ReasonBodyTooLarge, bodyTooLarge(rt.maxReplay), 0)
		return
	}

	// What the request did, for RequestInfo: filled in once every voter
	// has ended (this defer runs after wg.Wait's), from the attempts each
	// voter made and the answers the route's checks withheld.
	attempts := make([]atomic.Int32, len(v.voters))
	var (
		mu       sync.Mutex // guards withheld
		withheld []Withheld
		verdict  *VoteVerdict
	)
	defer func() {
		var va []VoterAttempts
		info.Attempts = 0
		for i := range attempts {
			n := int(attempts[i].Load())
			info.Attempts += n
			va = append(va, VoterAttempts{Upstream: v.voters[i].name, Attempts: n})
		}
		info.Withheld = withheld
		if verdict != nil {
			verdict.Attempts = va
			info.Vote = verdict
		}
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	call := func(ctx context.Context, i int) (ballot, error) {
		tg := &rt.targets[i]
		x := &exchange{r: r, rt: rt, cl: tg.cluster, retry: tg.retry, header: hdr, body: body, traced: p.opts.Tracer != nil}
		defer func() {
			attempts[i].Add(x.attempts.Load())
			if w := x.takeWithheld(); len(w) > 0 {
				mu.Lock()
				withheld = append(withheld, w...)
				mu.Unlock()
			}
		}()
		return v.ask(ctx, p, x)
	}

	// Quarantined voters are still asked, under the vote's timeout but not
	// cancelled by its decision: their answers are what re-admits them.
	pctx, stopProbes := context.WithTimeout(ctx, v.cfg.Timeout)
	defer stopProbes()
	var impls []vote.Impl[ballot]
	var counted []int
	probes := make([]chan probeAnswer, len(v.voters))
	for i, vs := range v.voters {
		if vs.guard.State() == guard.StateSilenced {
			ch := make(chan probeAnswer, 1)
			probes[i] = ch
			wg.Go(func() {
				b, err := call(pctx, i)
				ch <- probeAnswer{b, err}
			})
			continue
		}
		counted = append(counted, i)
		impls = append(impls, vote.Impl[ballot]{Name: vs.name, Fn: func(ctx context.Context) (ballot, error) {
			defer wg.Done()
			return call(ctx, i)
		}})
	}
	if len(impls) >= v.quorum {
		// Run runs every one of them (none when they cannot reach the
		// quorum), each on its own goroutine, and waits only for some.
		wg.Add(len(impls))
	}

	res, err := v.voter.Run(ctx, impls...)
	if err != nil && !errors.Is(err, vote.ErrNoQuorum) {
		// The client went away or the route timed out: no verdict.
		if ctx.Err() != nil && r.Context().Err() != nil {
			info.Status, info.Reason = 499, ReasonClientClosed
			panic(http.ErrAbortHandler)
		}
		local(http.StatusGatewayTimeout, ReasonTimeout, "the voters did not answer in time", 0)
		return
	}
	won := err == nil
	verdict = newVerdict(won, res.Report)
	for i, ch := range probes {
		if ch != nil {
			verdict.Quarantined = append(verdict.Quarantined, v.voters[i].name)
		}
	}
	if won {
		v.agreed.Add(1)
		info.Status = res.Value.status
		// The answer relayed is the first agreeing voter's (vote.Result).
		info.Upstream, info.Endpoint = res.Report.Agreed[0], res.Value.endpoint
		writeBallot(w, res.Value, res.Report)
	} else {
		v.noQuorum.Add(1)
		if rt.fallsBackOn(ReasonNoQuorum) {
			info.Status, info.Reason, info.Fallback = rt.fallback.Status, ReasonNoQuorum, true
			writeFallback(w, rt, ReasonNoQuorum)
		} else {
			info.Status, info.Reason = http.StatusBadGateway, ReasonNoQuorum
			writeNoQuorum(w, rt.name, res.Report)
		}
	}
	// The answer goes now, before the tallies and the wait for the
	// cancelled voters and probes; a client gone by now changes nothing.
	_ = http.NewResponseController(w).Flush()

	// Tally and judge: counting voters by the vote, probes against the
	// agreed answer.
	now := time.Now()
	active := len(counted)
	for k, i := range counted {
		vs, vt := v.voters[i], res.Votes[k]
		switch vt.Status {
		case vote.StatusAgreed:
			vs.agreed.Add(1)
			vs.guard.RecordAt(ctx, now, nil)
		case vote.StatusDissented:
			vs.dissented.Add(1)
			// Only a dissent from an agreed answer is a disagreement; and
			// quarantine never leaves fewer voters than the quorum.
			if won && active-1 >= v.quorum {
				if vs.guard.RecordAt(ctx, now, errDissent) == guard.StateSilenced {
					active--
				}
			}
		case vote.StatusMissing:
			vs.missing.Add(1)
		case vote.StatusFailed:
			vs.failed.Add(1)
		}
	}
	var probed []probeVote
	for i, ch := range probes {
		if ch == nil {
			continue
		}
		var a probeAnswer
		select {
		case a = <-ch:
		case <-pctx.Done():
			a = probeAnswer{err: context.DeadlineExceeded}
		}
		vs := v.voters[i]
		pv := probeVote{name: vs.name, answer: a}
		switch {
		case a.err != nil:
			vs.missing.Add(1)
		case !won:
		case v.voter.Agree(a.b, res.Value):
			vs.agreed.Add(1)
			vs.guard.RecordAt(ctx, now, nil)
		default:
			vs.dissented.Add(1)
			pv.dissented = true
			vs.guard.RecordAt(ctx, now, errDissent)
		}
		probed = append(probed, pv)
	}
	v.remember(now, rt.name, won, res, probed)
}

// probeAnswer is a quarantined voter's answer.
type probeAnswer struct {
	b   ballot
	err error
}

// probeVote is a quarantined voter's part in one request.
type probeVote struct {
	name      string
	answer    probeAnswer
	dissented bool
}

// ask sends the request to one voter through its upstream (the route's
// retry policy, the upstream's balancer, breaker and outlier detection) and
// reads its answer, up to vote.max_body_bytes. A transport failure or a
// 5xx is a failed vote, not an answer to compare.
func (v *voteRoute) ask(ctx context.Context, p *Proxy, x *exchange) (ballot, error) {
	o := p.forward(ctx, x)
	defer o.discard()
	if o.kind != outcomeResponse {
		if o.err != nil {
			return ballot{}, errors.Join(errVoterFailed, o.err)
		}
		return ballot{}, errVoterFailed
	}
	resp := o.resp
	if resp.StatusCode >= 500 {
		return ballot{}, errors.Join(errVoterFailed, errors.New("status "+strconv.Itoa(resp.StatusCode)))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, v.cfg.MaxBodyBytes+1))
	if err != nil {
		return ballot{}, errors.Join(errVoterFailed, err)
	}
	if int64(len(body)) > v.cfg.MaxBodyBytes {
		return ballot{}, errVoterBody
	}
	removeHopHeaders(resp.Header)
	return ballot{status: resp.StatusCode, header: resp.Header, body: body, endpoint: o.ep.Address().Host}, nil
}

// HeaderVote names the header of a voted answer: "agreed/voters", such as
// "2/3".
const HeaderVote = "X-Holdfast-Vote"

// writeBallot relays the agreed answer.
func writeBallot(w http.ResponseWriter, b ballot, rep vote.Report) {
	h := w.Header()
	if _, echoed := b.header["X-Request-Id"]; echoed {
		delete(h, "X-Request-Id")
	}
	copyHeader(h, b.header)
	h.Del("Trailer")
	h.Set("Content-Length", strconv.Itoa(len(b.body)))
	h.Set(HeaderVote, strconv.Itoa(len(rep.Agreed))+"/"+strconv.Itoa(rep.Voters))
	w.WriteHeader(b.status)
	w.Write(b.body)
}

// NoQuorumBody is the JSON body of a vote route's 502 no_quorum reply: a
// local reply's error and reason, and who did what.
type NoQuorumBody struct {
	Error      string     `json:"error"`
	Reason     string     `json:"reason"`
	Quorum     int        `json:"quorum"`
	Voters     int        `json:"voters"`
	Dissenting []string   `json:"dissenting"`
	Missing    []string   `json:"missing"`
	Failed     []string   `json:"failed"`
	Groups     [][]string `json:"groups"`
}

func writeNoQuorum(w http.ResponseWriter, route string, rep vote.Report) {
	nb := NoQuorumBody{
		Error:  "the voters of route " + route + " did not agree",
		Reason: ReasonNoQuorum, Quorum: rep.Quorum, Voters: rep.Voters,
		Dissenting: orEmpty(rep.Dissenters), Missing: orEmpty(slices.Concat(rep.Missing, rep.Cancelled)),
		Failed: []string{}, Groups: rep.Groups,
	}
	for _, f := range rep.Failed {
		nb.Failed = append(nb.Failed, f.Name)
	}
	if nb.Groups == nil {
		nb.Groups = [][]string{}
	}
	data, _ := json.Marshal(nb)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set(HeaderReason, ReasonNoQuorum)
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusBadGateway)
	w.Write(data)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// VoteDisagreement is one request of a vote route whose voters did not all
// agree: who agreed, who dissented, and how each dissenter's answer differs
// from the agreed one (or, without a quorum, from the largest group's).
type VoteDisagreement struct {
	At    time.Time `json:"at"`
	Route string    `json:"route"`
	// Verdict is agreed (a quorum, with dissent) or no_quorum.
	Verdict string   `json:"verdict"`
	Quorum  int      `json:"quorum"`
	Agreed  []string `json:"agreed"`
	// Dissenting are the voters that answered otherwise, quarantined ones
	// (probes) included; Missing did not answer in time; Failed failed
	// (transport error, 5xx, body over the cap).
	Dissenting []string `json:"dissenting"`
	Missing    []string `json:"missing"`
	Failed     []string `json:"failed"`
	// Diffs has one entry per dissenter.
	Diffs []VoterDiff `json:"diffs"`
}

// VoterDiff is how one dissenter's answer differs from the answer it is
// compared with (Against's).
type VoterDiff struct {
	Voter       string `json:"voter"`
	Against     string `json:"against"`
	Quarantined bool   `json:"quarantined,omitempty"`
	Status      int    `json:"status"`
	WantStatus  int    `json:"want_status"`
	// Fields are the JSON values that differ, by JSON Pointer, under the
	// route's ignore and unordered; empty when a body is not JSON (then
	// Body says so).
	Fields []vote.Difference `json:"fields"`
	Body   string            `json:"body,omitempty"`
}

// remember keeps the request's disagreement, if there was one.
func (v *voteRoute) remember(now time.Time, route string, won bool, res vote.Result[ballot], probed []probeVote) {
	rep := res.Report
	var dissenting []probeVote
	for _, pv := range probed {
		if pv.dissented {
			dissenting = append(dissenting, pv)
		}
	}
	if won && len(rep.Dissenters) == 0 && len(dissenting) == 0 {
		return
	}
	if !won && len(rep.Groups) < 2 {
		return // nobody answered differently: missing or failed only
	}
	d := VoteDisagreement{
		At: now, Route: route, Verdict: VerdictAgreed, Quorum: rep.Quorum,
		Agreed: orEmpty(rep.Agreed), Dissenting: slices.Clone(orEmpty(rep.Dissenters)),
		Missing: orEmpty(slices.Concat(rep.Missing, rep.Cancelled)), Failed: []string{}, Diffs: []VoterDiff{},
	}
	for _, f := range rep.Failed {
		d.Failed = append(d.Failed, f.Name)
	}
	byName := func(name string) ballot {
		for _, vt := range res.Votes {
			if vt.Name == name {
				return vt.Value
			}
		}
		return ballot{}
	}
	against, ref := "", res.Value
	if won {
		against = rep.Agreed[0]
	} else {
		d.Verdict = VerdictNoQuorum
		against = rep.Groups[0][0]
		ref = byName(against)
	}
	for _, name := range rep.Dissenters {
		if name != against {
			d.Diffs = append(d.Diffs, v.diff(name, against, byName(name), ref, false))
		}
	}
	for _, pv := range dissenting {
		d.Dissenting = append(d.Dissenting, pv.name)
		d.Diffs = append(d.Diffs, v.diff(pv.name, against, pv.answer.b, ref, true))
	}
	v.mu.Lock()
	if len(v.recent) == MaxDisagreements {
		v.recent = slices.Delete(v.recent, 0, 1)
	}
	v.recent = append(v.recent, d)
	v.mu.Unlock()
}

// diff is a dissenter's VoterDiff against ref.
func (v *voteRoute) diff(name, against string, got, ref ballot, quarantined bool) VoterDiff {
	vd := VoterDiff{Voter: name, Against: against, Quarantined: quarantined, Status: got.status, WantStatus: ref.status, Fields: []vote.Difference{}}
	var opts vote.JSONOptions
	if v.json != nil {
		opts = *v.json
	}
	fields, err := vote.DiffJSON(got.body, ref.body, opts)
	switch {
	case err == nil:
		vd.Fields = append(vd.Fields, fields...)
	case !bytes.Equal(got.body, ref.body):
		vd.Body = "the bodies differ and are not both JSON"
	}
	return vd
}

// VoteStatus is a vote route's voters and counts, in [RouteStatus].
type VoteStatus struct {
	Quorum   int    `json:"quorum"`
	Agreed   uint64 `json:"agreed"`
	NoQuorum uint64 `json:"no_quorum"`
	// Voters are in the order of vote.upstreams.
	Voters []VoterStatus `json:"voters"`
}

// VoterStatus is one voter: how its answers went, its agreement rate
// (agreed over agreed and dissented; 1 before it answered), and whether it
// is quarantined.
type VoterStatus struct {
	Upstream      string  `json:"upstream"`
	Quarantined   bool    `json:"quarantined"`
	Agreed        uint64  `json:"agreed"`
	Dissented     uint64  `json:"dissented"`
	Missing       uint64  `json:"missing"`
	Failed        uint64  `json:"failed"`
	AgreementRate float64 `json:"agreement_rate"`
}

func (v *voteRoute) status() *VoteStatus {
	s := &VoteStatus{Quorum: v.quorum, Agreed: v.agreed.Load(), NoQuorum: v.noQuorum.Load()}
	for _, vs := range v.voters {
		st := VoterStatus{
			Upstream: vs.name, Quarantined: vs.guard.State() == guard.StateSilenced,
			Agreed: vs.agreed.Load(), Dissented: vs.dissented.Load(), Missing: vs.missing.Load(), Failed: vs.failed.Load(),
			AgreementRate: 1,
		}
		if n := st.Agreed + st.Dissented; n > 0 {
			st.AgreementRate = float64(st.Agreed) / float64(n)
		}
		s.Voters = append(s.Voters, st)
	}
	return s
}

// VoteDisagreements returns the last disagreements of every vote route of
// the running config, up to [MaxDisagreements] per route, oldest first.
func (p *Proxy) VoteDisagreements() []VoteDisagreement {
	out := []VoteDisagreement{}
	for _, r := range p.state.Load().routes {
		if r.vote == nil {
			continue
		}
		r.vote.mu.Lock()
		out = append(out, r.vote.recent...)
		r.vote.mu.Unlock()
	}
	slices.SortStableFunc(out, func(a, b VoteDisagreement) int { return a.At.Compare(b.At) })
	return out
}
