package globalrate

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// gcraSource is the whole decision, run atomically inside Redis: the same
// generic cell rate algorithm as package ratelimit's gcra.take, with n = 1
// and no waiting. A bucket's state is its theoretical arrival time (TAT), the
// moment it would be full again; a missing key is a full bucket. Taking a
// token at now is allowed while
//
//	wait = max(TAT, now) + cost - window - now ≤ 0
//
// where cost is the emission interval and window is burst·interval, both in
// nanoseconds as ratelimit computes them. An allowed call stores the new TAT
// and makes the key expire at it (PX, rounded up to a millisecond), or in
// a second when that is sooner: by then the bucket is full, and a missing
// key means just that (as does a key whose TAT has passed, so the floor
// changes no decision; it keeps a fast bucket from expiring between two
// calls that a caller's clock puts at one instant). A refused call
// changes nothing and returns the wait.
//
// Redis's Lua numbers are doubles, exact only below 2^53, and a time in
// nanoseconds since 1970 is about 2^61; so every time is kept as whole
// seconds and nanoseconds, and the TAT is stored as the decimal digits of its
// nanoseconds (seconds, then nanoseconds zero-padded to 9 digits), which is
// exact and readable. now is Redis's own TIME, so proxies whose clocks
// disagree still share one timeline; ARGV[6] and ARGV[7], when present,
// replace it (tests use them to compare decisions with ratelimit's at
// explicit times).
//
// A call may take up to n tokens at once (a lease): it takes as many as
// the bucket holds, at most n, which with n = 1 is the decision above.
//
// KEYS[1]: the bucket. ARGV: cost seconds, cost nanoseconds, window seconds,
// window nanoseconds, n[, now seconds, now nanoseconds]. Returns {k, 0, 0}
// when k ≥ 1 tokens were taken, {0, wait seconds, wait nanoseconds} when
// none could be.
const gcraSource = `
local now_s, now_ns
if ARGV[6] then
  now_s, now_ns = tonumber(ARGV[6]), tonumber(ARGV[7])
else
  local t = redis.call('TIME')
  now_s, now_ns = tonumber(t[1]), tonumber(t[2]) * 1000
end
local cost_s, cost_ns = tonumber(ARGV[1]), tonumber(ARGV[2])
local win_s, win_ns = tonumber(ARGV[3]), tonumber(ARGV[4])
local n = tonumber(ARGV[5])

local tat_s, tat_ns = now_s, now_ns
local v = redis.call('GET', KEYS[1])
if v and string.len(v) >= 10 then
  local s, ns = tonumber(string.sub(v, 1, -10)), tonumber(string.sub(v, -9))
  if s and ns and (s > now_s or (s == now_s and ns > now_ns)) then
    tat_s, tat_ns = s, ns
  end
end

-- room = now + window - TAT: at most the window, so exact as a double.
local room = (now_s + win_s - tat_s) * 1000000000 + (now_ns + win_ns - tat_ns)
local cost = cost_s * 1000000000 + cost_ns
local k = math.floor(room / cost)
if k > n then k = n end

if k >= 1 then
  local add = k * cost
  local next_s = tat_s + math.floor(add / 1000000000)
  local next_ns = tat_ns + add % 1000000000
  if next_ns >= 1000000000 then
    next_s, next_ns = next_s + 1, next_ns - 1000000000
  end
  local ttl = (next_s - now_s) * 1000 + math.ceil((next_ns - now_ns) / 1000000)
  if ttl < 1000 then ttl = 1000 end
  redis.call('SET', KEYS[1], string.format('%d%09d', next_s, next_ns), 'PX', ttl)
  return {k, 0, 0}
end

local w_s, w_ns = tat_s + cost_s - win_s - now_s, tat_ns + cost_ns - win_ns - now_ns
local carry = math.floor(w_ns / 1000000000)
return {0, w_s + carry, w_ns - carry * 1000000000}
`

// gcraScript runs gcraSource by its SHA-1 (EVALSHA), and sends the source
// (EVAL) only when Redis answers NOSCRIPT: after a restart or SCRIPT FLUSH.
var gcraScript = redis.NewScript(gcraSource)

// split returns d as whole seconds and the nanoseconds left over, the form
// the script takes times in.
func split(d int64) (sec, nsec int64) { return d / 1e9, d % 1e9 }

// take runs one decision for the bucket key in one round trip (two when
// the script must be loaded), taking up to n tokens. args are the bucket's
// cost and window, as [Limiter] precomputes them; now, when not zero,
// replaces Redis's clock. It returns the tokens taken, or 0 and the wait.
func take(ctx context.Context, rdb *redis.Client, key string, args []any, n int, now time.Time) (got int, wait time.Duration, err error) {
	args = append(args[:len(args):len(args)], n)
	if !now.IsZero() {
		s, ns := split(now.UnixNano())
		args = append(args, s, ns)
	}
	res, err := gcraScript.Run(ctx, rdb, []string{key}, args...).Int64Slice()
	if err != nil {
		return 0, 0, err
	}
	if len(res) != 3 {
		return 0, 0, fmt.Errorf("globalrate: script returned %d values; want 3", len(res))
	}
	if res[0] >= 1 {
		return int(min(res[0], int64(n))), 0, nil
	}
	return 0, time.Duration(res[1]*1e9 + res[2]), nil
}
