package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast-dev/holdfast/retry"
	"github.com/holdfast-dev/holdfast/slo"
)

// Config sets up a [Manager]. Zero fields take the defaults their comments
// give.
type Config struct {
	// Receivers are told about the tiers they list.
	Receivers []Receiver
	// Instance is the instance label of every alert, which tells the
	// proxies of a fleet apart. Required.
	Instance string
	// Interval is how often [Manager.Run] evaluates. Zero means
	// DefaultInterval (10s).
	Interval time.Duration
	// RepeatInterval is the least time between two notifications a
	// webhook gets about one episode. Zero means DefaultRepeatInterval
	// (4h).
	RepeatInterval time.Duration
	// ResendInterval is how often a firing alert is sent to Alertmanager
	// again. Zero means DefaultResendInterval (1m).
	ResendInterval time.Duration
	// Status returns the objectives' states at a time ([slo.Set.StatusAt]).
	// Required.
	Status func(now time.Time) []slo.Status
	// Canaries returns the canary routes' rollouts; a rolled-back one
	// fires an alert of CanaryTier. Nil: no canary alerts.
	Canaries func() []Canary
	// CanaryTier is the tier of the canaries' alerts, which picks the
	// receivers told. Empty means DefaultCanaryTier (P1).
	CanaryTier string
	// Context gathers what explains an alert on a route. Nil: the context
	// names the route only.
	Context func(route string) Context
	// Queue bounds each receiver's queue. Zero means DefaultQueue (64).
	Queue int
	// MaxAttempts bounds the sends of one notification. Zero means
	// DefaultMaxAttempts (5).
	MaxAttempts int
	// Timeout bounds one send. Zero means DefaultTimeout (5s).
	Timeout time.Duration
	// Backoff paces the retries of a send. Zero fields: base 1s, max 1m,
	// full jitter.
	Backoff retry.BackoffConfig
	// Client sends; nil means a client of its own.
	Client *http.Client
	// Logger logs dropped notifications; nil means silent.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.CanaryTier == "" {
		c.CanaryTier = DefaultCanaryTier
	}
	if c.Queue <= 0 {
		c.Queue = DefaultQueue
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Backoff.Base == 0 {
		c.Backoff.Base = time.Second
	}
	if c.Backoff.Max == 0 {
		c.Backoff.Max = max(time.Minute, c.Backoff.Base)
	}
	if c.ResendInterval <= 0 {
		c.ResendInterval = DefaultResendInterval
	}
	if c.RepeatInterval <= 0 {
		c.RepeatInterval = DefaultRepeatInterval
	}
	if c.Client == nil {
		c.Client = &http.Client{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Manager evaluates the objectives' tiers, keeps each alert's episode and
// delivers its notifications. Create it with [New]; it is safe for
// concurrent use. [Manager.Close] stops it.
type Manager struct {
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// urgent is whether a P0 fired at the last evaluation.
	urgent atomic.Bool

	// mu guards machine and senders.
	mu      sync.Mutex
	machine *Machine
	senders []*senderRun
}

// senderRun is a sender and the cancel that stops its goroutine.
type senderRun struct {
	*sender
	stop context.CancelFunc
}

// ErrConfig is what [New] returns, wrapped, for a config it cannot use.
var ErrConfig = errors.New("alert: invalid config")

// New returns a manager of cfg with one goroutine per receiver, sending.
func New(cfg Config) (*Manager, error) {
	if cfg.Status == nil {
		return nil, fmt.Errorf("%w: Status is required", ErrConfig)
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{cfg: cfg, ctx: ctx, cancel: cancel, machine: NewMachine(cfg.RepeatInterval, cfg.ResendInterval)}
	m.mu.Lock()
	m.setReceiversLocked(cfg.Receivers)
	m.mu.Unlock()
	return m, nil
}

// SetReceivers makes the manager deliver to rs, as on a reload: a receiver
// exactly as before keeps its queue and counts, others start afresh and
// those left out stop (what their queues held is dropped). Episodes carry
// over: an alert firing before still fires, without a new notification.
func (m *Manager) SetReceivers(rs []Receiver) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setReceiversLocked(rs)
}

func (m *Manager) setReceiversLocked(rs []Receiver) {
	var next []*senderRun
	for _, r := range rs {
		if i := slices.IndexFunc(m.senders, func(s *senderRun) bool { return sameReceiver(s.rcv, r) }); i >= 0 {
			next = append(next, m.senders[i])
			m.senders = slices.Delete(m.senders, i, i+1)
			continue
		}
		ctx, stop := context.WithCancel(m.ctx)
		s := &senderRun{sender: newSender(r, &m.cfg), stop: stop}
		next = append(next, s)
		m.wg.Go(func() { s.run(ctx) })
	}
	for _, s := range m.senders {
		s.stop()
	}
	m.senders = next
}

func sameReceiver(a, b Receiver) bool {
	return a.Name == b.Name && a.Alertmanager == b.Alertmanager && a.Webhook == b.Webhook && slices.Equal(a.Tiers, b.Tiers)
}

// EvaluateAt steps the alerts on the objectives' states at now, queues the
// notifications to the receivers that want them and returns them. It never
// waits on a receiver.
func (m *Manager) EvaluateAt(now time.Time) []Notification {
	sts := m.cfg.Status(now)
	var canaries []Canary
	if m.cfg.Canaries != nil {
		canaries = m.cfg.Canaries()
	}
	m.mu.Lock()
	changes := m.machine.Step(now, sts, canaries, m.cfg.CanaryTier)
	m.urgent.Store(m.machine.FiringTier(UrgentTier))
	senders := slices.Clone(m.senders)
	m.mu.Unlock()
	if len(changes) == 0 {
		return nil
	}
	contexts := map[string]Context{}
	out := make([]Notification, 0, len(changes))
	for _, c := range changes {
		ctx, ok := contexts[c.Route]
		if !ok {
			ctx = Context{Route: c.Route}
			if m.cfg.Context != nil {
				ctx = m.cfg.Context(c.Route)
			}
			contexts[c.Route] = ctx
		}
		n := Notification{Change: c, Instance: m.cfg.Instance, Context: ctx}
		out = append(out, n)
		for _, s := range senders {
			if s.wants(n) {
				s.enqueue(n)
			}
		}
	}
	return out
}

// Run evaluates every Interval until ctx ends or the manager is closed.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.ctx.Done():
			return
		case now := <-t.C:
			m.EvaluateAt(now)
		}
	}
}

// Firing reports whether any objective's tier of the given name fires, as
// of the last evaluation.
func (m *Manager) Firing(tier string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.machine.FiringTier(tier)
}

// UrgentTier is the tier whose firing [Manager.Burning] reports.
const UrgentTier = "P0"

// Burning reports whether any objective's P0 fired at the last evaluation,
// without a lock: the proxy asks it for every attempt, to shed sheddable
// routes while a P0 burns. A nil Manager (alerts not built yet) burns
// nothing.
func (m *Manager) Burning() bool { return m != nil && m.urgent.Load() }

// Stats returns each receiver's delivery counts, in the order of the
// receivers.
func (m *Manager) Stats() []Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Stats, len(m.senders))
	for i, s := range m.senders {
		out[i] = s.stats()
	}
	return out
}

// Snapshot is the alerts' state: what fires and how delivery goes.
type Snapshot struct {
	// Firing are the alerts that fired at the last evaluation, by
	// objective and tier.
	Firing []Firing `json:"firing"`
	// Receivers are the receivers' delivery counts, in config order.
	Receivers []ReceiverStats `json:"receivers"`
}

// ReceiverStats is a receiver's [Stats] as GET /status shows them.
type ReceiverStats struct {
	Name     string `json:"name"`
	Sent     uint64 `json:"sent"`
	Failed   uint64 `json:"failed"`
	Overflow uint64 `json:"overflow"`
	Retries  uint64 `json:"retries"`
	Queued   int    `json:"queued"`
}

// Snapshot returns what fires and each receiver's counts.
func (m *Manager) Snapshot() Snapshot {
	m.mu.Lock()
	firing := m.machine.Active()
	m.mu.Unlock()
	st := m.Stats()
	out := Snapshot{Firing: firing, Receivers: make([]ReceiverStats, len(st))}
	for i, s := range st {
		out.Receivers[i] = ReceiverStats{Name: s.Receiver, Sent: s.Sent, Failed: s.Failed, Overflow: s.Overflow, Retries: s.Retries, Queued: s.Queued}
	}
	return out
}

// Close stops the senders and waits for them; what their queues hold is
// dropped. It is idempotent.
func (m *Manager) Close() {
	m.cancel()
	m.wg.Wait()
}
