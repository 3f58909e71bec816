package vote

import (
	"cmp"
	"slices"
)

// grouping sorts answers into groups of equal ones as they arrive. Each
// group is compared through its first member, so for a comparator that is an
// equivalence relation the groups do not depend on arrival order.
type grouping[T any] struct {
	cmp    func(a, b T) bool
	groups [][]int // indexes into values
	values []T     // by implementation index
}

// add places the answer of implementation i, whose value is values[i].
func (g *grouping[T]) add(i int) {
	for k, members := range g.groups {
		if g.cmp(g.values[members[0]], g.values[i]) {
			g.groups[k] = append(members, i)
			return
		}
	}
	g.groups = append(g.groups, []int{i})
}

// largest returns the sizes of the largest and second largest groups.
func (g *grouping[T]) largest() (first, second int) {
	for _, members := range g.groups {
		switch n := len(members); {
		case n > first:
			first, second = n, first
		case n > second:
			second = n
		}
	}
	return first, second
}

// sorted returns the groups with members in implementation order, largest
// group first, ties in the order of their first member.
func (g *grouping[T]) sorted() [][]int {
	out := slices.Clone(g.groups)
	for _, members := range out {
		slices.Sort(members)
	}
	slices.SortStableFunc(out, func(a, b []int) int {
		if c := cmp.Compare(len(b), len(a)); c != 0 {
			return c
		}
		return cmp.Compare(a[0], b[0])
	})
	return out
}

// outcome is the decision a vote can make so far.
type outcome int

const (
	undecided outcome = iota
	agreed            // the largest group has won
	noQuorum          // no group can win any more
)

// decide returns what the vote can decide when the two largest groups have
// first and second members, pending implementations have yet to answer, and
// quorum votes are needed. A group wins once it has a quorum and no other
// group, even with every pending answer, could tie it; a tie between the
// largest groups is no quorum, since there is no telling which is right.
func decide(first, second, pending, quorum int) outcome {
	switch {
	case first >= quorum && first > second+pending:
		return agreed
	case pending == 0 || first+pending < quorum:
		return noQuorum
	}
	return undecided
}
