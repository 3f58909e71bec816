// Package fleetbreaker shares a circuit breaker's view of a dependency
// across a fleet of holdfast processes, through the Redis of their global
// rate limits: an upstream's shared_breaker.
//
// # Why
//
// With many small proxies, each sees too few calls to a failing dependency
// to trip its own breaker in time: five proxies with a fifth of the traffic
// each need five times as long as one proxy seeing all of it. Shared, they
// trip as soon as the fleet together has seen what one breaker needs.
//
// # Model
//
// Every process keeps its own [breaker.Breaker] and decides every request
// locally, as without sharing: nothing on a request's path waits on Redis.
// A [Fleet] beside it, every sync interval, runs one atomic script in Redis
// that
//
//   - adds the calls and failures the breaker counted since the last sync
//     (by the breaker's own rule, [breaker.Breaker.Counted]) to the fleet's
//     window, in buckets per process, and records a trip of the breaker's
//     own as this process's vote;
//   - opens the breaker fleet-wide, for the breaker's open duration, when a
//     quorum of processes voted, or when the fleet's window together holds
//     the breaker's minimum_requests at its failure_rate and failures seen by
//     at least a quorum of processes (so one process with a broken network
//     path, or one client's bad requests, never opens it for everyone);
//   - and answers with the fleet's state, which the Fleet applies to its
//     breaker: [breaker.Breaker.OpenUntil] while the fleet is open,
//     [breaker.Breaker.CloseFleet] once it closed.
//
// The process whose sync opened the fleet's breaker is its leader: its
// breaker half-opens when the open time is over and probes the dependency,
// with the breaker's half_open_requests. The others are held open for one
// more open time meanwhile, renewed while the fleet is open, so the probes
// stay bounded fleet-wide. A leader whose probes succeed closes the fleet
// (the window starts afresh, and every process's breaker closes on its next
// sync); one whose probe fails opens it again. The leader's lease ends one
// open time after the open time: a leader that vanished, or got no call to
// probe with, leaves the fleet to be judged again from its window, which
// may open it again under another leader; any process whose breaker probes
// and closes closes the fleet.
//
// Redis failing or slow (each sync is bounded; see [Config].Interval) leaves
// every breaker to itself, as without sharing, until Redis answers again.
package fleetbreaker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/redis/go-redis/v9"
)

// Defaults of [Config].
const (
	DefaultQuorum   = 2
	DefaultInterval = 100 * time.Millisecond
	// windowBuckets is how many buckets the fleet's window has in Redis.
	windowBuckets = 10
	// DefaultWindow is the fleet's window for a breaker with a count
	// window, which has no duration of its own.
	DefaultWindow = 10 * time.Second
	// minSyncTimeout is the shortest bound on a sync: a sync is in the
	// background, so a slow Redis delays what the fleet learns, never a
	// request.
	minSyncTimeout = 250 * time.Millisecond
)

// Config configures a [Fleet].
type Config struct {
	// Name is the dependency, the upstream's name: it namespaces the
	// fleet's keys, so every process's breaker of the same name shares
	// them. Required.
	Name string
	// Breaker is this process's breaker of the dependency. Required.
	Breaker *breaker.Breaker
	// Redis is the Redis the fleet shares. Required.
	Redis *redis.Client
	// Quorum is how many processes must have seen the dependency fail
	// before the fleet opens its breaker. Default 2.
	Quorum int
	// Interval is how often the Fleet syncs with Redis. Default 100 ms.
	// Each sync is bounded by the interval or 250 ms, whichever is longer;
	// a late one delays the next.
	Interval time.Duration
	// Logger, if set, gets a line when a sync fails after one succeeded,
	// and when it succeeds again.
	Logger *slog.Logger
}

// Fleet shares one process's breaker with the fleet; see the package doc.
// It is safe for concurrent use. Make one with [New]; Close stops it.
type Fleet struct {
	cfg     Config
	b       *breaker.Breaker
	prefix  string
	id      string
	args    []any // the script's fixed arguments after the counts
	openFor time.Duration

	calls, failures atomic.Int64 // counted since the last sync

	stop chan struct{}
	done chan struct{}
	once sync.Once

	mu sync.Mutex // guards the fields below, the sync's memory
	// lastTrips and lastState are the breaker's as the last sync left it.
	lastTrips uint64
	lastState breaker.State
	since     int64 // the fleet's last close (Redis ms), as last seen
	synced    bool  // since is known: a sync has answered
	stats     Stats
}

// Stats is a snapshot of a Fleet.
type Stats struct {
	// Open is true while the fleet's breaker is open; Leader while this
	// process is the one that probes when the open time is over.
	Open   bool `json:"open"`
	Leader bool `json:"leader"`
	// Calls and Failures are the fleet's window's, as of the last sync
	// that found the fleet closed.
	Calls    int64 `json:"calls"`
	Failures int64 `json:"failures"`
	// Opened counts the times this process's breaker was opened by the
	// fleet, Closed the times the fleet closed it.
	Opened uint64 `json:"opened"`
	Closed uint64 `json:"closed"`
	// Syncs and Errors count the syncs with Redis, and those that failed;
	// Degraded is true while the last one failed.
	Syncs    uint64 `json:"syncs"`
	Errors   uint64 `json:"errors"`
	Degraded bool   `json:"degraded"`
}

// New starts sharing c.Breaker with the fleet.
func New(c Config) (*Fleet, error) {
	switch {
	case c.Name == "":
		return nil, errors.New("fleetbreaker: a name is required")
	case c.Breaker == nil:
		return nil, errors.New("fleetbreaker: a breaker is required")
	case c.Redis == nil:
		return nil, errors.New("fleetbreaker: a redis client is required")
	case c.Quorum < 0 || c.Interval < 0:
		return nil, errors.New("fleetbreaker: quorum and interval must not be negative")
	}
	if c.Quorum == 0 {
		c.Quorum = DefaultQuorum
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	var raw [8]byte
	rand.Read(raw[:])
	s := c.Breaker.Settings()
	window := s.Window
	if s.WindowType != breaker.WindowTime || window <= 0 {
		window = DefaultWindow
	}
	bucket := max(window/windowBuckets, time.Millisecond)
	open := s.OpenDuration
	f := &Fleet{
		cfg: c,
		b:   c.Breaker,
		// The name's length makes the prefix unambiguous whatever the
		// name holds.
		prefix:  "holdfast:cb:" + strconv.Itoa(len(c.Name)) + ":" + c.Name + ":",
		id:      hex.EncodeToString(raw[:]),
		openFor: open,
		args: []any{
			bucket.Milliseconds(), windowBuckets,
			max(s.MinimumRequests, 1), strconv.FormatFloat(s.FailureRate, 'g', -1, 64),
			c.Quorum, max(open.Milliseconds(), 1),
		},
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	now := c.Breaker.Counts()
	f.lastState, f.lastTrips = now.State, now.Trips
	go f.loop()
	return f, nil
}

// Record counts a call's outcome for the fleet, as the breaker counts it.
// Call it with every outcome given to the breaker.
func (f *Fleet) Record(err error) {
	counted, failed := f.b.Counted(err)
	if !counted {
		return
	}
	f.calls.Add(1)
	if failed {
		f.failures.Add(1)
	}
}

// Close stops the syncs. It is idempotent.
func (f *Fleet) Close() {
	f.once.Do(func() { close(f.stop) })
	<-f.done
}

// Stats returns a snapshot of f.
func (f *Fleet) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

func (f *Fleet) loop() {
	defer close(f.done)
	t := time.NewTicker(f.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
			f.sync()
		}
	}
}

// The events a sync reports about this process's breaker.
const (
	eventNone    = 0
	eventTripped = 1 // it opened on its own (a trip, or a failed probe)
	eventClosed  = 2 // it closed after its probes
)

// The answers of the script.
const (
	answerClosed = 0
	answerOpen   = 1
)

// sync is one round with Redis: what the breaker counted and did since the
// last one, and the fleet's state back, applied to the breaker.
func (f *Fleet) sync() {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.b.Counts()
	event := eventNone
	switch {
	case c.Trips > f.lastTrips:
		event = eventTripped
	case c.State == breaker.Closed && f.lastState != breaker.Closed:
		event = eventClosed
	}
	calls, failures := f.calls.Swap(0), f.failures.Swap(0)
	args := append([]any{f.id, calls, failures}, f.args...)
	args = append(args, event)

	ctx, cancel := context.WithTimeout(context.Background(), max(f.cfg.Interval, minSyncTimeout))
	res, err := script.Run(ctx, f.cfg.Redis, []string{f.prefix}, args...).Int64Slice()
	cancel()
	f.stats.Syncs++
	if err == nil && len(res) != 4 {
		err = errors.New("fleetbreaker: the script answered " + strconv.Itoa(len(res)) + " values; want 4")
	}
	if err != nil {
		// The counts are lost to the fleet, not to the breaker, which
		// counted them itself; the event is reported again next time.
		f.stats.Errors++
		if !f.stats.Degraded && f.cfg.Logger != nil {
			f.cfg.Logger.Warn("shared breaker: redis failed; the breaker decides alone", "upstream", f.cfg.Name, "error", err)
		}
		f.stats.Degraded = true
		return
	}
	if f.stats.Degraded && f.cfg.Logger != nil {
		f.cfg.Logger.Info("shared breaker: redis answers again", "upstream", f.cfg.Name)
	}
	f.stats.Degraded = false
	f.lastTrips = c.Trips

	// The breaker as this sync saw it before the round trip, or as the
	// sync itself left it: a change by calls meanwhile (a probe closing
	// it) is the next sync's to report.
	state := c.State
	now := time.Now()
	switch res[0] {
	case answerOpen:
		// left is the fleet's open time left; 0 once the leader probes.
		leader, left := res[1] == 1, time.Duration(res[2])*time.Millisecond
		until := now.Add(left)
		if !leader {
			// Held open while the leader probes: one more open time,
			// renewed by every sync while the fleet is open.
			until = until.Add(f.openFor)
		}
		if f.b.OpenUntil(until) {
			if c.State == breaker.Closed {
				f.stats.Opened++
			}
			state = breaker.Open
		}
		f.stats.Open, f.stats.Leader = true, leader
		f.since, f.synced = res[3], true
	case answerClosed:
		// A new since is the fleet closing: its leader's probes passed.
		since := res[3]
		if f.synced && since != f.since && f.b.CloseFleet() {
			f.stats.Closed++
			state = breaker.Closed
		}
		f.since, f.synced = since, true
		f.stats.Open, f.stats.Leader = false, false
		f.stats.Calls, f.stats.Failures = res[1], res[2]
	}
	f.lastState = state
}

// script is the whole sync, run atomically in Redis.
//
// KEYS[1]: the dependency's prefix. ARGV: process id, calls, failures,
// bucket ms, buckets, minimum requests, failure rate, quorum, open ms,
// event. Keys under the prefix: w:<bucket> (a hash of <id>:c and <id>:f,
// the calls and failures each process counted in that bucket), votes (a
// sorted set of the processes whose breakers tripped on their own, scored by
// when), open (the leader's id, expiring when the fleet's open time is
// over and the leader's probing time after it), until (when the open time
// is over, in Redis ms) and since (when the fleet last closed: older
// buckets and votes do not count).
//
// Answers {1, leader (1 or 0), open ms left (0 while the leader probes),
// since} while the fleet is open, {0, calls, failures, since} while it is
// closed.
var script = redis.NewScript(`
local p, id = KEYS[1], ARGV[1]
local calls, fails = tonumber(ARGV[2]), tonumber(ARGV[3])
local bms, nb = tonumber(ARGV[4]), tonumber(ARGV[5])
local minreq, rate, quorum = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local openms, event = tonumber(ARGV[9]), tonumber(ARGV[10])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = math.floor(now / bms)
local openk, untilk, sincek, votesk = p .. 'open', p .. 'until', p .. 'since', p .. 'votes'

if calls > 0 then
  local k = p .. 'w:' .. b
  redis.call('HINCRBY', k, id .. ':c', calls)
  if fails > 0 then redis.call('HINCRBY', k, id .. ':f', fails) end
  redis.call('PEXPIRE', k, bms * (nb + 1))
end

local since = tonumber(redis.call('GET', sincek) or '0')
local leader = redis.call('GET', openk)

if event == 2 then
  -- This process's breaker probed and closed (the leader's, or one whose
  -- lease ran out before it probed): the fleet closes, afresh.
  since = now
  redis.call('SET', sincek, since)
  redis.call('DEL', openk, untilk, votesk)
  return {0, 0, 0, since}
end

-- Opening makes this process the leader: open for openms, then probing
-- (by the leader alone) for at most openms more.
local function open()
  redis.call('SET', openk, id, 'PX', 2 * openms)
  redis.call('SET', untilk, now + openms, 'PX', 2 * openms)
  return {1, 1, openms, since}
end

if event == 1 then
  if leader == id then
    -- The leader's probe failed: open again, still led by it.
    return open()
  end
  redis.call('ZADD', votesk, now, id)
  redis.call('PEXPIRE', votesk, nb * bms)
end

if leader then
  local left = math.max(tonumber(redis.call('GET', untilk) or '0') - now, 0)
  return {1, leader == id and 1 or 0, left, since}
end

-- Closed: open when a quorum voted, or when the window together has seen
-- enough failures, from a quorum of processes.
redis.call('ZREMRANGEBYSCORE', votesk, '-inf', '(' .. math.max(now - nb * bms, since))
if redis.call('ZCARD', votesk) >= quorum then
  return open()
end
local c, f, nf, seen = 0, 0, 0, {}
for i = b - nb + 1, b do
  if i * bms >= since then
    local h = redis.call('HGETALL', p .. 'w:' .. i)
    for j = 1, #h, 2 do
      local who, kind = string.match(h[j], '^(.*):(%a)$')
      local v = tonumber(h[j + 1])
      if kind == 'c' then
        c = c + v
      elseif kind == 'f' then
        f = f + v
        if v > 0 and not seen[who] then
          seen[who] = true
          nf = nf + 1
        end
      end
    end
  end
end
if c >= minreq and f >= rate * c and nf >= quorum then
  return open()
end
return {0, c, f, since}
`)
