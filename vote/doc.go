// Package vote implements N-version voting: several independent
// implementations of one computation run side by side, and the answer a
// quorum of them agree on is the answer.
//
// # Model
//
// [Voter.Run] starts every [Impl] concurrently under a deadline
// ([Config.Timeout]). Each implementation either answers, fails (returns an
// error) or misses the deadline; implementations that miss it are not waited
// for. The answers are sorted into groups of equal ones, using
// [Config.Compare] (by default ==, see [Equal]) or a JSON comparator that
// can ignore paths and treat arrays as unordered (see [JSON] and
// [JSONOptions]). When the largest group has at least [Config.Quorum]
// members (by default a majority, N/2+1) and no other group ties it, its
// answer wins. By default Run returns as soon as the outcome is certain and
// cancels the implementations still running; [Config.WaitAll] waits for all
// of them so that every dissenter is known.
//
// The [Result] carries the agreed value, every implementation's [Vote], and
// a [Report] naming who agreed, who dissented, who failed and who went
// missing. Without a quorum Run returns a [*NoQuorumError] (matching
// [ErrNoQuorum]) carrying the same report. Every vote is reported as a
// [holdfast.EventVote] with reason "agreed" (unanimous), "dissent" (a quorum,
// but not everyone agreed or answered) or "no_quorum".
//
// As a [holdfast.Policy], [Voter.Execute] runs [Config.Replicas] copies of
// the same call and succeeds when a quorum of them succeed: a quorum write.
//
// # Example
//
//	v := vote.MustNew(vote.Config[Price]{Timeout: 200 * time.Millisecond})
//	res, err := v.Run(ctx,
//		vote.Impl[Price]{Name: "primary", Fn: pricing.Quote},
//		vote.Impl[Price]{Name: "rewrite", Fn: pricingv2.Quote},
//		vote.Impl[Price]{Name: "legacy", Fn: legacy.Quote},
//	)
//	if err != nil { ... }
//	log.Printf("price %v, dissenters %v", res.Value, res.Report.Dissenters)
package vote
