package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// fetchWait bounds one pull from the store; a worker then pulls again.
const fetchWait = 10 * time.Second

// start starts the queue's workers: without order_by, cfg.Workers pulling
// from the one consumer; with it, one per partition's consumer.
func (q *durableQueue) start() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.cancel != nil || q.stopped {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	q.cancel = cancel
	if q.cfg.OrderBy == nil {
		for range q.cfg.Workers {
			q.wg.Go(func() { q.work(ctx, "all") })
		}
		return
	}
	for i := range q.cfg.Partitions {
		q.wg.Go(func() { q.work(ctx, "p"+strconv.Itoa(i)) })
	}
}

// stop stops the workers and waits for them; a delivery in flight is cut,
// and its message redelivered after the consumer's ack wait. Idempotent.
func (q *durableQueue) stop() {
	q.mu.Lock()
	q.stopped = true
	cancel := q.cancel
	q.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	q.wg.Wait()
}

// work pulls one message at a time from the named consumer and delivers it.
func (q *durableQueue) work(ctx context.Context, consumer string) {
	var cons jetstream.Consumer
	for ctx.Err() == nil {
		if cons == nil {
			c, err := q.js.Consumer(ctx, q.stream, consumer)
			if err != nil {
				q.p.logStore("durable consumer unavailable", q.rt.name, err)
				sleep(ctx, time.Second)
				continue
			}
			cons = c
		}
		fctx, cancel := context.WithTimeout(ctx, fetchWait)
		m, err := cons.Next(jetstream.FetchContext(fctx))
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				// Looked up again, with a log line each second while it
				// is missing, rather than pulled from in silence.
				q.p.logStore("durable consumer gone", q.rt.name, err)
				cons = nil
			}
			if !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
				sleep(ctx, 250*time.Millisecond)
			}
			continue
		}
		q.deliver(ctx, m)
	}
}

// deliveryVerdict is what one delivery attempt's outcome means for the message.
type deliveryVerdict uint8

const (
	delivered  deliveryVerdict = iota // 2xx: done
	retryLater                        // 408, 429, 5xx, no answer: on the backoff schedule
	deadLetter                        // another status: the upstream refuses it for good
)

// judge classifies an attempt's outcome.
func judge(o *outcome) (v deliveryVerdict, status int, errText string) {
	if o.kind == outcomeResponse {
		s := o.resp.StatusCode
		switch {
		case s >= 200 && s < 300:
			return delivered, s, ""
		case s == http.StatusRequestTimeout, s == http.StatusTooManyRequests, s >= 500:
			return retryLater, s, "upstream answered " + strconv.Itoa(s)
		}
		return deadLetter, s, "upstream answered " + strconv.Itoa(s)
	}
	status, reason, msg, _ := failure(context.Background(), o)
	if o.kind == outcomeClientFault {
		return deadLetter, status, reason + ": " + msg
	}
	return retryLater, 0, reason + ": " + msg
}

// deliver makes one delivery attempt of m through the route's policies and
// acks, schedules or dead-letters it by the outcome.
func (q *durableQueue) deliver(ctx context.Context, m jetstream.Msg) {
	q.stats.inFlight.Add(1)
	defer q.stats.inFlight.Add(-1)
	md, err := m.Metadata()
	if err != nil {
		m.Nak()
		return
	}
	attempt := int(md.NumDelivered)
	var env envelope
	if err := json.Unmarshal(m.Data(), &env); err != nil || !validMessageID(env.ID) {
		q.deadLetter(ctx, m, &env, attempt, 0, "undecodable message")
		return
	}
	now := time.Now()
	if now.Sub(env.AcceptedAt) > q.cfg.MaxAge {
		q.deadLetter(ctx, m, &env, attempt-1, 0, "max_age passed")
		return
	}
	if attempt > 1 && q.deliveredBefore(ctx, env.ID) {
		// Its ack was lost (the store node that held the consumer died,
		// say) after its status said delivered: acked now, not sent again.
		// A message handed out for the first time has had no delivery.
		q.ack(ctx, m)
		return
	}
	st := &MessageStatus{ID: env.ID, Route: env.Route, State: StateDelivering, Attempts: attempt, AcceptedAt: env.AcceptedAt}
	if q.putStatus(ctx, st) != nil {
		// Not sent without its status entry: a message that leaves its
		// stream must have one. It comes back when the store does.
		m.NakWithDelay(storeRetryAfter)
		return
	}
	// The ack wait starts over now: the route timeout bounds the send.
	m.InProgress()

	o := q.send(ctx, &env)
	v, status, errText := judge(o)
	retryAfter := o.retryAfter
	drain(o)
	o.discard()
	if ctx.Err() != nil {
		// Stopping: the message comes back after the ack wait, to this
		// proxy's next config or another proxy.
		return
	}
	st.LastStatus, st.LastError = status, errText
	switch {
	case v == delivered:
		// The status first: should the ack be lost, the worker the
		// message comes back to finds it delivered and only acks it.
		st.State = StateDelivered
		q.putStatus(ctx, st)
		q.ack(ctx, m)
		q.stats.delivered.Add(1)
	case v == deadLetter || attempt >= q.cfg.Attempts:
		if v == retryLater {
			st.LastError = "attempts exhausted; last: " + errText
		}
		q.deadLetter(ctx, m, &env, attempt, status, st.LastError)
	default:
		delay := backoffDelay(q.cfg.Backoff, attempt, retryAfter)
		if left := time.Until(env.AcceptedAt.Add(q.cfg.MaxAge)); delay > left {
			// No attempt may come past max_age: the next delivery is
			// the dead-lettering, when max_age passes.
			delay = max(left, 0) + time.Millisecond
		}
		q.stats.retried.Add(1)
		next := time.Now().Add(delay).UTC()
		st.State, st.NextAttemptAt = StateQueued, &next
		q.putStatus(ctx, st)
		if err := m.NakWithDelay(delay); err != nil {
			q.p.logStore("durable nak failed", q.rt.name, err)
		}
	}
}

// ack acks a delivered message, confirmed by the store. If the ack fails,
// the store may not know: it hands the message out again after the ack
// wait (docs/durable.md, duplicates).
func (q *durableQueue) ack(ctx context.Context, m jetstream.Msg) {
	ctx, cancel := context.WithTimeout(ctx, storeOpTimeout)
	defer cancel()
	if err := m.DoubleAck(ctx); err != nil {
		q.p.logStore("durable ack failed", q.rt.name, err)
	}
}

// deliveredBefore reports whether the message id's status says it was
// delivered. A store that does not answer says no: the delivery goes on,
// at least once.
func (q *durableQueue) deliveredBefore(ctx context.Context, id string) bool {
	ctx, cancel := context.WithTimeout(ctx, storeOpTimeout)
	defer cancel()
	e, err := q.status.Get(ctx, id)
	if err != nil {
		return false
	}
	var s MessageStatus
	return json.Unmarshal(e.Value(), &s) == nil && s.State == StateDelivered
}

// backoffDelay is the wait after the attempt-th failed delivery: backoff's
// entry for it (the last repeating), plus up to 20% jitter, or the
// upstream's Retry-After when that is longer.
func backoffDelay(backoff []time.Duration, attempt int, retryAfter time.Duration) time.Duration {
	i := min(max(attempt, 1), len(backoff)) - 1
	d := backoff[i]
	if d > 0 {
		d += rand.N(d/5 + 1)
	}
	return max(d, retryAfter)
}

// send makes one delivery: the stored request, through the route's retry,
// hedging, breaker, outlier detection and concurrency limit, bounded by
// the route's timeout.
func (q *durableQueue) send(ctx context.Context, env *envelope) *outcome {
	rt := q.rt
	ctx, cancel := context.WithTimeout(ctx, rt.cfg.Timeout)
	defer cancel()
	tg := rt.pick()
	req := (&http.Request{
		Method:     env.Method,
		URL:        &url.URL{Path: env.Path, RawPath: env.RawPath, RawQuery: env.Query},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     env.Header,
		Host:       env.Host,
	}).WithContext(ctx)
	x := &exchange{r: req, rt: rt, cl: tg.cluster, retry: tg.retry, header: env.Header,
		body: &reqBody{data: env.Body, length: int64(len(env.Body)), replayable: true}}
	o := q.p.forward(ctx, x)
	if o.kind == outcomeResponse {
		// The status is all a delivery needs; the body is read (a little)
		// so that the connection can be used again.
		drain(o)
	}
	return o
}

// drain reads what is left of a response body, up to 64 KiB.
func drain(o *outcome) {
	if o.resp != nil {
		io.CopyN(io.Discard, o.resp.Body, 64<<10)
	}
}

// deadLetter moves m to the dead-letter stream, then acks it; if the
// store does not take the dead letter, m is left to come back.
func (q *durableQueue) deadLetter(ctx context.Context, m jetstream.Msg, env *envelope, attempts, status int, reason string) {
	actx, cancel := context.WithTimeout(ctx, storeOpTimeout)
	defer cancel()
	id := env.ID
	if !validMessageID(id) {
		id = "seq" + strconv.FormatUint(mustSeq(m), 10)
	}
	dm := nats.NewMsg(q.deadSubject() + id)
	dm.Data = m.Data()
	dm.Header.Set("Hf-Id", env.ID)
	dm.Header.Set("Hf-Route", q.rt.name)
	dm.Header.Set("Hf-Attempts", strconv.Itoa(attempts))
	dm.Header.Set("Hf-Last-Status", strconv.Itoa(status))
	dm.Header.Set("Hf-Last-Error", reason)
	dm.Header.Set("Hf-Dead-At", time.Now().UTC().Format(time.RFC3339Nano))
	if _, err := q.js.PublishMsg(actx, dm, jetstream.WithMsgID("dead-"+id+"-"+strconv.FormatUint(mustSeq(m), 10))); err != nil {
		q.p.logStore("durable dead-letter failed", q.rt.name, err)
		m.NakWithDelay(5 * time.Second)
		return
	}
	// The status before the ack: a message that leaves its stream has a
	// status entry (messageStatus reads the stream only for those without).
	if validMessageID(env.ID) && q.putStatus(ctx, &MessageStatus{ID: env.ID, Route: q.rt.name, State: StateDead, Attempts: attempts,
		LastStatus: status, LastError: reason, AcceptedAt: env.AcceptedAt}) != nil {
		// Back later: its dead letter, published again under the same
		// msg id, is dropped as a duplicate.
		m.NakWithDelay(5 * time.Second)
		return
	}
	if err := m.DoubleAck(actx); err != nil {
		q.p.logStore("durable ack failed", q.rt.name, err)
	}
	q.stats.dead.Add(1)
}

func mustSeq(m jetstream.Msg) uint64 {
	if md, err := m.Metadata(); err == nil {
		return md.Sequence.Stream
	}
	return 0
}
