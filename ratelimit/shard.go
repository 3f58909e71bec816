package ratelimit

import (
	"maps"
	"sync"
)

const (
	maxShards    = 256 // enough that shards rarely contend on many cores
	minShardKeys = 64  // fewer keys per shard would make MaxKeys too coarse
	sampleSize   = 8   // entries looked at to choose a key to displace

	// compactMin is the smallest peak size worth compacting: a map this
	// small costs little however empty it is.
	compactMin = 16
)

// shard is one lock's worth of a [Keyed] limiter's buckets. Keys are stored
// as their 64-bit seeded hash, not as strings: a bucket then costs 16 bytes
// of map slot plus the map's overhead, and no allocation of its own. Two keys
// share a bucket only if their hashes collide, which with a random seed
// happens with probability about n/2^64 per new key among n held (5e-14 for
// a million keys), and then only makes both stricter.
type shard struct {
	// mu guards m, peak and nextSweep.
	mu sync.Mutex
	// m maps a key's hash to its bucket's theoretical arrival time. A key
	// whose bucket is full (TAT ≤ now) is idle: a missing key is a full
	// bucket, so dropping an idle key changes no decision.
	m map[uint64]int64
	// peak is the most keys m has held since it was made. Go maps do not
	// shrink when keys are deleted, so a sweep that leaves m much smaller
	// than its peak copies it into a map sized for what is left.
	peak int
	// nextSweep is when the shard next drops its idle keys.
	nextSweep int64

	limit int // most keys this shard may hold; fixed at construction

	_ [24]byte // pads the shard to 64 bytes, a cache line, so shards do not share one
}

// shardCount returns the number of shards for maxKeys keys: a power of two,
// at most maxShards, with at least minShardKeys keys a shard when there is
// more than one.
func shardCount(maxKeys int) int {
	n := 1
	for n < maxShards && n*2*minShardKeys <= maxKeys {
		n *= 2
	}
	return n
}

// newShards splits maxKeys over shardCount(maxKeys) shards so that their
// limits add up to maxKeys exactly.
func newShards(maxKeys int) []shard {
	s := make([]shard, shardCount(maxKeys))
	for i := range s {
		s[i].m = make(map[uint64]int64)
		s[i].limit = maxKeys / len(s)
		if i < maxKeys%len(s) {
			s[i].limit++
		}
		s[i].nextSweep = full
	}
	return s
}

// sweepLocked drops every idle key (TAT ≤ now), compacts m when it has
// shrunk to a quarter of its peak, schedules the next sweep after every,
// and returns how many keys it dropped.
func (s *shard) sweepLocked(now, every int64) int {
	dropped := 0
	for h, tat := range s.m {
		if tat <= now {
			delete(s.m, h)
			dropped++
		}
	}
	if s.peak >= compactMin && len(s.m)*4 <= s.peak {
		m := make(map[uint64]int64, len(s.m))
		maps.Copy(m, s.m)
		s.m = m
		s.peak = len(m)
	}
	s.nextSweep = now + every
	return dropped
}

// makeRoomLocked drops one key to make room for a new one, and reports
// whether the key it dropped was idle. Among a sample of held keys it drops
// the first idle one, or else the one whose bucket is nearest to full
// (smallest TAT): forgetting a key refills its bucket, and that one gives
// away the fewest tokens. Map iteration starts at a random place, so the
// sample is a fresh one each time. m must not be empty.
func (s *shard) makeRoomLocked(now int64) (idle bool) {
	var victim uint64
	best, seen := int64(0), 0
	for h, tat := range s.m {
		if seen == 0 || tat < best {
			victim, best = h, tat
		}
		seen++
		if tat <= now || seen == sampleSize {
			break
		}
	}
	delete(s.m, victim)
	return best <= now
}

// putNewLocked stores tat for the key hashed to h, which the shard did not hold,
// making room first if the shard is full. It reports what makeRoomLocked
// dropped: displaced is true when a key was dropped, idle when it was idle.
func (s *shard) putNewLocked(h uint64, tat, now int64) (displaced, idle bool) {
	if len(s.m) >= s.limit {
		displaced = true
		idle = s.makeRoomLocked(now)
	}
	s.m[h] = tat
	s.peak = max(s.peak, len(s.m))
	return displaced, idle
}
