package proxy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/store"
)

// MessagesPath is the data-plane path under which a durable message's
// status is answered: GET MessagesPath+id. The id, 128 random bits, is the
// capability: whoever has it may read the message's status, no one else
// can guess it. It is served only when some route is durable.
const MessagesPath = "/.holdfast/messages/"

// Message states, the status document's "state".
const (
	StateQueued     = "queued"
	StateDelivering = "delivering"
	StateDelivered  = "delivered"
	StateDead       = "dead"
)

// The store's names. Streams and subjects are named by a hash of the
// route's name, which may hold characters JetStream names may not.
const (
	statusBucket = "HF_MSG"
	deadStream   = "HF_DEAD"
	deadSubject  = "hf.dead."
	// storeOpTimeout bounds one store operation made for a request.
	storeOpTimeout = 5 * time.Second
	// storeRetryAfter is the Retry-After of a 503 store_unavailable.
	storeRetryAfter = time.Second
	// statusTTL keeps a message's status this long past its route's
	// max_age, so that a client can learn it was delivered or dead.
	statusTTL = 24 * time.Hour
)

// envelope is a durable message: the accepted request, as it will be sent.
type envelope struct {
	ID         string      `json:"id"`
	Route      string      `json:"route"`
	Method     string      `json:"method"`
	Path       string      `json:"path"`
	RawPath    string      `json:"raw_path,omitempty"`
	Query      string      `json:"query,omitempty"`
	Host       string      `json:"host"`
	Header     http.Header `json:"header"`
	Body       []byte      `json:"body,omitempty"`
	AcceptedAt time.Time   `json:"accepted_at"`
}

// MessageStatus is what a durable message's status URL answers.
type MessageStatus struct {
	ID            string     `json:"id"`
	Route         string     `json:"route"`
	State         string     `json:"state"`
	Attempts      int        `json:"attempts"`
	LastStatus    int        `json:"last_status,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	AcceptedAt    time.Time  `json:"accepted_at"`
}

// durableStats are a durable route's counters; they live in the proxy,
// by route name, so that a reload does not reset them.
type durableStats struct {
	accepted  atomic.Int64
	delivered atomic.Int64
	retried   atomic.Int64
	dead      atomic.Int64
	inFlight  atomic.Int64
}

// durableQueue is a durable route's queue: a JetStream work-queue stream
// with one pull consumer (without order_by, workers deliver from it in
// parallel) or one per partition (with order_by, each delivering one
// message at a time, so that a key's messages go in order).
type durableQueue struct {
	p      *Proxy
	rt     *route
	cfg    *config.Durable
	js     jetstream.JetStream
	stream string
	queue  jetstream.Stream // the stream named stream
	subj   string           // "hf.q.<hash>."; a message goes to subj+partition+"."+id
	status jetstream.KeyValue
	dead   jetstream.Stream
	stats  *durableStats

	// mu guards cancel and stopped.
	mu      sync.Mutex
	cancel  context.CancelFunc
	stopped bool
	wg      sync.WaitGroup
}

func routeHash(name string) string {
	h := sha256.Sum256([]byte(name))
	return strings.ToUpper(hex.EncodeToString(h[:8]))
}

// newDurableQueue makes sure rt's stream, its consumers, the status
// bucket and the dead-letter stream exist in s. It starts nothing.
func (p *Proxy) newDurableQueue(ctx context.Context, s *store.Store, rt *route) (*durableQueue, error) {
	h := routeHash(rt.name)
	q := &durableQueue{p: p, rt: rt, cfg: rt.cfg.Durable, js: s.JetStream(), stream: "HF_Q_" + h, subj: "hf.q." + h + ".", stats: p.durableStatsFor(rt.name), status: p.statusKV, dead: p.deadStream}
	st, err := q.ensure(ctx, s.Replicas())
	if err != nil {
		return nil, err
	}
	q.queue = st
	return q, nil
}

// ensure makes the store hold q's stream, with q's limits, and exactly
// the consumers q's workers pull from, and returns the stream. A reload
// that fails after it ran for a changed route runs it again for the
// running route's queue, whose workers would otherwise pull from consumers
// the new config removed.
func (q *durableQueue) ensure(ctx context.Context, replicas int) (jetstream.Stream, error) {
	d := q.cfg
	st, err := q.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        q.stream,
		Description: "holdfast durable route " + q.rt.name,
		Subjects:    []string{q.subj + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Discard:     jetstream.DiscardNew,
		MaxMsgs:     d.MaxQueued,
		MaxMsgSize:  int32(min(store.MaxPayload, d.MaxBodyBytes*2+64<<10)),
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Duplicates:  2 * time.Minute,
		// A queued message's status is read by its subject.
		AllowDirect: true,
	})
	if err != nil {
		return nil, fmt.Errorf("durable: stream: %w", err)
	}
	// The consumers this config wants; others (a change of order_by or
	// partitions) are removed first, since a work queue's consumers may
	// not overlap.
	want := map[string]jetstream.ConsumerConfig{}
	ackWait := deliveryAckWait(q.rt.cfg.Timeout)
	if d.OrderBy == nil {
		want["all"] = jetstream.ConsumerConfig{Durable: "all", FilterSubject: q.subj + ">", MaxAckPending: d.Workers}
	} else {
		for i := range d.Partitions {
			name := "p" + strconv.Itoa(i)
			lane := q.subj + strconv.Itoa(i)
			// lane itself: messages accepted before the id was in the
			// subject, still queued in a data_dir from then.
			want[name] = jetstream.ConsumerConfig{Durable: name, FilterSubjects: []string{lane, lane + ".*"}, MaxAckPending: 1}
		}
	}
	names := st.ConsumerNames(ctx)
	var stale []string
	for n := range names.Name() {
		if _, ok := want[n]; !ok {
			stale = append(stale, n)
		}
	}
	for _, n := range stale {
		if err := st.DeleteConsumer(ctx, n); err != nil {
			return nil, fmt.Errorf("durable: consumer %s: %w", n, err)
		}
	}
	for _, cc := range want {
		cc.AckPolicy = jetstream.AckExplicitPolicy
		cc.AckWait = ackWait
		cc.MaxDeliver = -1
		cc.DeliverPolicy = jetstream.DeliverAllPolicy
		if _, err := st.CreateOrUpdateConsumer(ctx, cc); err != nil {
			return nil, fmt.Errorf("durable: consumer %s: %w", cc.Durable, err)
		}
	}
	return st, nil
}

// restoreQueues puts back the store's side of old's durable routes named
// in touched, after a reload that changed them failed: the running config
// stays, and so must the stream limits and consumers its workers use.
func (p *Proxy) restoreQueues(old *state, touched []string) {
	if old == nil || p.store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range touched {
		r := old.route(name)
		if r == nil || r.durable == nil {
			continue
		}
		if _, err := r.durable.ensure(ctx, p.store.Replicas()); err != nil {
			p.logStore("durable queue not restored after a failed reload", name, err)
		}
	}
}

func (p *Proxy) durableStatsFor(route string) *durableStats {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	if p.durable == nil {
		p.durable = map[string]*durableStats{}
	}
	s := p.durable[route]
	if s == nil {
		s = &durableStats{}
		p.durable[route] = s
	}
	return s
}

// newMessageID returns 128 random bits, hex: unguessable, and a valid
// JetStream KV key.
func newMessageID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

func validMessageID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

// partition is the lane of the request's order_by key.
func (q *durableQueue) partition(r *http.Request) int {
	if q.cfg.OrderBy == nil {
		return 0
	}
	h := fnv.New32a()
	io.WriteString(h, requestKey(*q.cfg.OrderBy, r))
	return int(h.Sum32() % uint32(q.cfg.Partitions))
}

// msgSubject is the subject of message id in lane partition. The id in
// the subject is what lets a queued message's status be read from the
// message itself ([durableQueue.queuedStatus]), so that an accept is one
// synced write, not two.
func (q *durableQueue) msgSubject(partition int, id string) string {
	return q.subj + strconv.Itoa(partition) + "." + id
}

// serveDurable accepts r into the route's queue: 202 with the message's
// id and status URL once the store has acknowledged it (on disk, with the
// embedded store's sync on every write), 503 store_unavailable when the
// store cannot take it (down, slow, or the queue at max_queued), never an
// accept the store did not confirm.
func (p *Proxy) serveDurable(w http.ResponseWriter, r *http.Request, st *state, rt *route, info *RequestInfo, local localFunc) {
	q := rt.durable
	limit := q.cfg.MaxBodyBytes
	if gl := st.cfg.Limits.MaxBodyBytes; gl >= 0 {
		limit = min(limit, gl)
	}
	body, err := readBody(r, limit)
	if err != nil {
		bodyFailed(w, err, local)
		return
	}
	hdr := outboundHeader(r)
	id := newMessageID()
	if _, ok := hdr[HeaderIdempotencyKey]; !ok {
		// The receiver drops duplicates by it: the client's own key when
		// it sent one, else the message's id.
		hdr.Set(HeaderIdempotencyKey, formatIdempotencyKey(id))
	}
	env := envelope{
		ID: id, Route: rt.name, Method: r.Method, Path: r.URL.Path, RawPath: r.URL.RawPath, Query: r.URL.RawQuery,
		Host: r.Host, Header: hdr, Body: body, AcceptedAt: time.Now().UTC(),
	}
	data := env.appendJSON(make([]byte, 0, 512+len(body)*4/3))
	ctx, cancel := context.WithTimeout(r.Context(), min(rt.cfg.Timeout, storeOpTimeout))
	defer cancel()
	// The message is the only write: its status reads "queued" from the
	// message itself until a worker first writes one (serveMessageStatus).
	subj := q.msgSubject(q.partition(r), id)
	// No Nats-Msg-Id: the id is new, so the stream's duplicate check could
	// only match a resend of this very publish, and the client resends
	// only on no responders, when no stream took it. (The check cost a
	// sixth of the accept's time in the store, BENCHMARKS.md.)
	if _, err := q.js.Publish(ctx, subj, data, jetstream.WithExpectStream(q.stream)); err != nil {
		msg := "the durable store cannot take the request"
		var ae *jetstream.APIError
		if errors.As(err, &ae) && ae.ErrorCode == jsErrCodeStoreFailed {
			msg = "the route's durable queue is full"
		}
		p.logStore("durable accept failed", rt.name, err)
		local(http.StatusServiceUnavailable, ReasonStoreUnavailable, msg, storeRetryAfter)
		return
	}
	q.stats.accepted.Add(1)
	statusURL := MessagesPath + id
	// {"id": ..., "status_url": ...}, written out: both are hex and a
	// fixed path, with nothing to escape.
	out := make([]byte, 0, 32+2*len(statusURL))
	out = append(out, `{"id":"`...)
	out = append(out, id...)
	out = append(out, `","status_url":"`...)
	out = append(out, statusURL...)
	out = append(out, "\"}\n"...)
	h := w.Header()
	h.Set("Location", statusURL)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	info.Status = http.StatusAccepted
	w.WriteHeader(http.StatusAccepted)
	w.Write(out)
}

// jsErrCodeStoreFailed is JetStream's error when a stream refuses a
// message by its limits (max_msgs with discard new).
const jsErrCodeStoreFailed jetstream.ErrorCode = 10077

// readBody reads r's body, at most limit bytes, failing with an
// *http.MaxBytesError past it.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	return b, nil
}

// putStatus writes s to the status bucket; a failure is logged, and
// returned for the callers that must not let the message leave its stream
// without an entry (messageStatus).
func (q *durableQueue) putStatus(ctx context.Context, s *MessageStatus) error {
	b, _ := json.Marshal(s)
	_, err := q.status.Put(ctx, s.ID, b)
	if err != nil {
		q.p.logStore("durable status update failed", q.rt.name, err)
	}
	return err
}

func (p *Proxy) logStore(msg, route string, err error) {
	if p.opts.Logger != nil {
		p.opts.Logger.Warn(msg, "route", route, "err", err)
	}
}

// serveMessageStatus answers GET MessagesPath+id: the message's entry in
// the status bucket, which workers write when they change its state, or,
// before the first, "queued" read from the message itself.
func (p *Proxy) serveMessageStatus(w http.ResponseWriter, r *http.Request, st *state, local localFunc) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		local(http.StatusMethodNotAllowed, ReasonInvalidRequest, "a message status is read with GET", 0)
		return
	}
	id := strings.TrimPrefix(r.URL.Path, MessagesPath)
	if !validMessageID(id) {
		local(http.StatusNotFound, ReasonNoRoute, "no such message", 0)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeOpTimeout)
	defer cancel()
	doc, err := p.messageStatus(ctx, st, id)
	switch {
	case errors.Is(err, errNoMessage):
		local(http.StatusNotFound, ReasonNoRoute, "no such message", 0)
		return
	case err != nil:
		local(http.StatusServiceUnavailable, ReasonStoreUnavailable, "the durable store cannot answer", storeRetryAfter)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(doc)))
	w.WriteHeader(http.StatusOK)
	w.Write(doc)
}

// errNoMessage is messageStatus's error for an id the store does not know.
var errNoMessage = errors.New("durable: no such message")

// messageStatus is message id's status document. A worker writes the
// status bucket's entry before it first sends a message (and at every
// change after), so an id without one is either still queued, unattempted,
// in its route's stream, or unknown. The bucket is read again after the
// streams: a message delivered between the first read and the streams'
// had its entry written before it left its stream.
func (p *Proxy) messageStatus(ctx context.Context, st *state, id string) ([]byte, error) {
	e, err := p.statusKV.Get(ctx, id)
	if err == nil {
		return e.Value(), nil
	}
	if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, err
	}
	for _, rt := range st.routes {
		if rt.durable == nil {
			continue
		}
		s, err := rt.durable.queuedStatus(ctx, id)
		if err == nil {
			return json.Marshal(s)
		}
		if !errors.Is(err, errNoMessage) {
			return nil, err
		}
	}
	e, err = p.statusKV.Get(ctx, id)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, errNoMessage
	case err != nil:
		return nil, err
	}
	return e.Value(), nil
}

// queuedStatus reads message id from the queue's stream by its subject:
// errNoMessage when the stream does not hold it.
func (q *durableQueue) queuedStatus(ctx context.Context, id string) (*MessageStatus, error) {
	m, err := q.queue.GetLastMsgForSubject(ctx, q.subj+"*."+id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, errNoMessage
	}
	if err != nil {
		return nil, err
	}
	// The envelope's head; its body is skipped, not decoded.
	var env struct {
		Route      string    `json:"route"`
		AcceptedAt time.Time `json:"accepted_at"`
	}
	if err := json.Unmarshal(m.Data, &env); err != nil {
		return nil, fmt.Errorf("durable: message %s: %w", id, err)
	}
	return &MessageStatus{ID: id, Route: env.Route, State: StateQueued, AcceptedAt: env.AcceptedAt}, nil
}

// storeRoute gives a durable route its queue and an idempotency block its
// records, in the proxy's store.
func (p *Proxy) storeRoute(r *route) error {
	if r.cfg.Durable == nil && r.cfg.Idempotency == nil {
		return nil
	}
	if p.store == nil {
		return errStoreNeedsRestart
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	if r.cfg.Durable != nil {
		if r.durable, err = p.newDurableQueue(ctx, p.store, r); err != nil {
			return err
		}
	}
	if r.cfg.Idempotency != nil {
		if r.idem, err = newIdemStore(ctx, p.store, r); err != nil {
			return err
		}
	}
	return nil
}

// startQueues starts the durable queues of st's routes and stops those of
// old's that st no longer has.
func (st *state) startQueues(old *state) {
	keep := map[*durableQueue]bool{}
	for _, r := range st.routes {
		if r.durable != nil {
			r.durable.start()
			keep[r.durable] = true
		}
	}
	if old == nil {
		return
	}
	for _, r := range old.routes {
		if r.durable != nil && !keep[r.durable] {
			r.durable.stop()
		}
	}
}

// stopQueues stops every durable queue of st.
func (st *state) stopQueues() {
	for _, r := range st.routes {
		if r.durable != nil {
			r.durable.stop()
		}
	}
}

// deliveryAckWait is a durable route's consumer ack wait: longer than a
// delivery (the route timeout; the worker resets the wait just before it
// sends) and the ack that follows, so that no message is handed to a second
// worker or proxy while the first still delivers it. A message whose
// worker died comes back this long after it was last handed out.
func deliveryAckWait(timeout time.Duration) time.Duration {
	return timeout + max(timeout/2, 2*time.Second)
}
