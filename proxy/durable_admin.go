package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// adminTimeout bounds the store calls of one status or admin request.
const adminTimeout = 5 * time.Second

// maxDeadList bounds the dead letters one list returns.
const maxDeadList = 1000

// DurableStatus is a durable route's queue, for /status and /metrics.
type DurableStatus struct {
	// Depth is the messages in the queue, in flight included.
	Depth uint64 `json:"depth"`
	// OldestAgeSeconds is how long the oldest queued message has waited;
	// 0 when the queue is empty.
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
	// MaxQueued is the route's max_queued.
	MaxQueued int64 `json:"max_queued"`
	// DeadLetters is the dead letters of the route now in the store.
	DeadLetters uint64 `json:"dead_letters"`
	// Accepted, Delivered, Retried and Dead count, since start, messages
	// accepted, delivered (2xx), delivery attempts that failed and were
	// scheduled again, and messages dead-lettered, by this proxy.
	Accepted  int64 `json:"accepted"`
	Delivered int64 `json:"delivered"`
	Retried   int64 `json:"retried"`
	Dead      int64 `json:"dead"`
	// InFlight is the deliveries running now; Capacity the most that can
	// (workers, or partitions with order_by). Saturation is InFlight /
	// Capacity: near 1 with a growing OldestAgeSeconds, the workers are
	// all held by a slow upstream; 0 with a growing queue, they are not
	// getting messages (a stalled consumer or store).
	InFlight   int64   `json:"in_flight"`
	Capacity   int     `json:"capacity"`
	Saturation float64 `json:"saturation"`
	// StoreError is set when the store could not be asked for the queue's
	// state; Depth, OldestAgeSeconds and DeadLetters are then 0.
	StoreError string `json:"store_error,omitempty"`
}

func (q *durableQueue) deadSubject() string { return deadSubject + q.subj[len("hf.q."):] }

// status reads the queue's state from the store.
func (q *durableQueue) queueStatus() *DurableStatus {
	ds := &DurableStatus{
		MaxQueued: q.cfg.MaxQueued, Accepted: q.stats.accepted.Load(), Delivered: q.stats.delivered.Load(),
		Retried: q.stats.retried.Load(), Dead: q.stats.dead.Load(), InFlight: q.stats.inFlight.Load(), Capacity: q.cfg.Workers,
	}
	if q.cfg.OrderBy != nil {
		ds.Capacity = q.cfg.Partitions
	}
	ds.Saturation = float64(ds.InFlight) / float64(ds.Capacity)
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	st, err := q.js.Stream(ctx, q.stream)
	var info *jetstream.StreamInfo
	if err == nil {
		info, err = st.Info(ctx)
	}
	if err != nil {
		ds.StoreError = err.Error()
		return ds
	}
	ds.Depth = info.State.Msgs
	if ds.Depth > 0 {
		ds.OldestAgeSeconds = max(time.Since(info.State.FirstTime).Seconds(), 0)
	}
	dinfo, err := q.dead.Info(ctx, jetstream.WithSubjectFilter(q.deadSubject()+">"))
	if err != nil {
		ds.StoreError = err.Error()
		return ds
	}
	for _, n := range dinfo.State.Subjects {
		ds.DeadLetters += n
	}
	return ds
}

// DeadLetter is a message that could not be delivered.
type DeadLetter struct {
	ID         string    `json:"id"`
	Route      string    `json:"route"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Query      string    `json:"query,omitempty"`
	BodyBytes  int       `json:"body_bytes"`
	AcceptedAt time.Time `json:"accepted_at"`
	DeadAt     string    `json:"dead_at"`
	Attempts   int       `json:"attempts"`
	LastStatus int       `json:"last_status,omitempty"`
	LastError  string    `json:"last_error,omitempty"`
}

// Errors of the dead-letter API.
var (
	ErrNoDurableRoute = errors.New("proxy: no such durable route")
	ErrNoDeadLetter   = errors.New("proxy: no such dead letter")
)

func (p *Proxy) durableRoute(name string) (*durableQueue, error) {
	if r := p.state.Load().route(name); r != nil && r.durable != nil {
		return r.durable, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrNoDurableRoute, name)
}

func deadLetterOf(data []byte, h nats.Header) DeadLetter {
	var env envelope
	json.Unmarshal(data, &env)
	attempts, _ := strconv.Atoi(h.Get("Hf-Attempts"))
	last, _ := strconv.Atoi(h.Get("Hf-Last-Status"))
	return DeadLetter{ID: h.Get("Hf-Id"), Route: h.Get("Hf-Route"), Method: env.Method, Path: env.Path, Query: env.Query,
		BodyBytes: len(env.Body), AcceptedAt: env.AcceptedAt, DeadAt: h.Get("Hf-Dead-At"), Attempts: attempts,
		LastStatus: last, LastError: h.Get("Hf-Last-Error")}
}

// DeadLetters lists up to limit (at most 1000) of route's dead letters,
// oldest first.
func (p *Proxy) DeadLetters(route string, limit int) ([]DeadLetter, error) {
	q, err := p.durableRoute(route)
	if err != nil {
		return nil, err
	}
	limit = min(max(limit, 1), maxDeadList)
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	info, err := q.dead.Info(ctx, jetstream.WithSubjectFilter(q.deadSubject()+">"))
	if err != nil {
		return nil, err
	}
	var n int
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	out := []DeadLetter{}
	if n == 0 {
		return out, nil
	}
	cons, err := q.dead.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{q.deadSubject() + ">"}})
	if err != nil {
		return nil, err
	}
	batch, err := cons.Fetch(min(n, limit), jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		return nil, err
	}
	for m := range batch.Messages() {
		out = append(out, deadLetterOf(m.Data(), m.Headers()))
	}
	return out, batch.Error()
}

// deadMsg finds route's dead letter id.
func (q *durableQueue) deadMsg(ctx context.Context, id string) (*jetstream.RawStreamMsg, error) {
	if !validMessageID(id) {
		return nil, fmt.Errorf("%w: %q", ErrNoDeadLetter, id)
	}
	m, err := q.dead.GetLastMsgForSubject(ctx, q.deadSubject()+id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%w: %q", ErrNoDeadLetter, id)
	}
	return m, err
}

// DeadLetterByID returns route's dead letter id.
func (p *Proxy) DeadLetterByID(route, id string) (DeadLetter, error) {
	q, err := p.durableRoute(route)
	if err != nil {
		return DeadLetter{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	m, err := q.deadMsg(ctx, id)
	if err != nil {
		return DeadLetter{}, err
	}
	return deadLetterOf(m.Data, m.Header), nil
}

// Redrive queues route's dead letter id again (every one of the route's,
// with id ""), as if just accepted: its attempts and max_age start over.
// It returns how many it queued.
func (p *Proxy) Redrive(route, id string) (int, error) {
	q, err := p.durableRoute(route)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*adminTimeout)
	defer cancel()
	if id != "" {
		m, err := q.deadMsg(ctx, id)
		if err != nil {
			return 0, err
		}
		return 1, q.redrive(ctx, m)
	}
	// Those dead when the redrive began: a redriven message that dies
	// again is not redriven again in this pass.
	info, err := q.dead.Info(ctx)
	if err != nil {
		return 0, err
	}
	last := info.State.LastSeq
	cons, err := q.dead.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{q.deadSubject() + ">"}})
	if err != nil {
		return 0, err
	}
	var n int
	for {
		batch, err := cons.Fetch(100, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return n, err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				return n, err
			}
			if md.Sequence.Stream > last {
				return n, nil
			}
			raw := &jetstream.RawStreamMsg{Subject: m.Subject(), Sequence: md.Sequence.Stream, Header: m.Headers(), Data: m.Data()}
			if err := q.redrive(ctx, raw); err != nil {
				return n, err
			}
			n++
		}
		if got == 0 {
			return n, batch.Error()
		}
	}
}

// redrive publishes a dead letter's message to the queue again, then
// deletes the dead letter: a failure between the two leaves both, never
// neither.
func (q *durableQueue) redrive(ctx context.Context, m *jetstream.RawStreamMsg) error {
	var env envelope
	if err := json.Unmarshal(m.Data, &env); err != nil || !validMessageID(env.ID) {
		return fmt.Errorf("proxy: dead letter %d cannot be redriven: undecodable", m.Sequence)
	}
	env.AcceptedAt = time.Now().UTC()
	data, err := json.Marshal(&env)
	if err != nil {
		return err
	}
	// The partition is lost with the request's client attributes: a
	// redriven message of an order_by route goes to lane 0.
	if _, err := q.js.Publish(ctx, q.msgSubject(0, env.ID), data, jetstream.WithMsgID("redrive-"+env.ID+"-"+strconv.FormatUint(m.Sequence, 10)),
		jetstream.WithExpectStream(q.stream)); err != nil {
		return err
	}
	q.putStatus(ctx, &MessageStatus{ID: env.ID, Route: env.Route, State: StateQueued, AcceptedAt: env.AcceptedAt})
	return q.dead.DeleteMsg(ctx, m.Sequence)
}

// PurgeDeadLetters deletes route's dead letters and returns how many.
func (p *Proxy) PurgeDeadLetters(route string) (uint64, error) {
	q, err := p.durableRoute(route)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	info, err := q.dead.Info(ctx, jetstream.WithSubjectFilter(q.deadSubject()+">"))
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n, q.dead.Purge(ctx, jetstream.WithPurgeSubject(q.deadSubject()+">"))
}
