package proxy

import (
	"errors"
	"slices"

	"github.com/holdfast-dev/holdfast/vote"
)

// Withheld is one attempt whose response broke its route's checks and was
// not relayed, in [RequestInfo].Withheld: where it went, the status it had,
// and the check it broke (checks[i], the label of
// holdfast_route_check_violations_total, or checks_max_body_bytes for a
// body over the cap).
type Withheld struct {
	Upstream string `json:"upstream"`
	Endpoint string `json:"endpoint"`
	Attempt  int    `json:"attempt"`
	Status   int    `json:"status"`
	Check    string `json:"check"`
}

// Vote verdicts, the values of [VoteVerdict].Verdict.
const (
	VerdictAgreed   = "agreed"       // a quorum agreed; its answer was relayed
	VerdictNoQuorum = ReasonNoQuorum // no quorum: 502 no_quorum
)

// VoteVerdict is how a vote route decided one request, in
// [RequestInfo].Vote: the verdict, the quorum it needed, and which voters
// agreed, dissented, were missing (no answer within vote.timeout), were
// cancelled (still running when the verdict was certain) or failed; and
// the quarantined voters asked beside the vote as probes. Each list is in
// the order of vote.upstreams.
type VoteVerdict struct {
	Verdict     string   `json:"verdict"`
	Quorum      int      `json:"quorum"`
	Voters      int      `json:"voters"` // the voters counted: vote.upstreams less the quarantined
	Agreed      []string `json:"agreed"`
	Dissenting  []string `json:"dissenting"`
	Missing     []string `json:"missing"`
	Cancelled   []string `json:"cancelled"`
	Failed      []string `json:"failed"`
	Quarantined []string `json:"quarantined"`
	// Attempts are the attempts sent to each voter upstream, probes
	// included (for holdfast_upstream_attempts_total, which counts them
	// per upstream: [RequestInfo].Attempts is their sum).
	Attempts []VoterAttempts `json:"-"`
}

// VoterAttempts is the attempts one request sent to one voter upstream.
type VoterAttempts struct {
	Upstream string
	Attempts int
}

// newVerdict is the verdict of a vote whose report is rep.
func newVerdict(won bool, rep vote.Report) *VoteVerdict {
	vv := &VoteVerdict{
		Verdict: VerdictAgreed, Quorum: rep.Quorum, Voters: rep.Voters,
		Agreed: orEmpty(slices.Clone(rep.Agreed)), Dissenting: orEmpty(slices.Clone(rep.Dissenters)),
		Missing: orEmpty(slices.Clone(rep.Missing)), Cancelled: orEmpty(slices.Clone(rep.Cancelled)),
		Failed: []string{}, Quarantined: []string{},
	}
	if !won {
		vv.Verdict = VerdictNoQuorum
	}
	for _, f := range rep.Failed {
		vv.Failed = append(vv.Failed, f.Name)
	}
	return vv
}

// checkBroken is err, an attempt's *invariantError, as a withheld
// attempt's span tells it: the check broken, never the value the upstream
// answered (a balance, an account), which traces must not carry any more
// than replies do.
func checkBroken(err error) error {
	var ie *invariantError
	if errors.As(err, &ie) {
		return errors.New("proxy: the response broke " + ie.check)
	}
	return err
}
