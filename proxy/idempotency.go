package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/store"
)

// maxIdempotentRequestBody bounds the request body read to fingerprint a
// request when limits.max_body_bytes is -1 (no limit).
const maxIdempotentRequestBody = config.MaxDurableMaxBodyBytes

// idemStore is a route's idempotency records: a JetStream KV bucket whose
// entries expire after the route's ttl. A key's entry is first an
// in-flight marker, made with Create so that of concurrent duplicates
// exactly one is forwarded, then the final response.
type idemStore struct {
	cfg *config.Idempotency
	kv  jetstream.KeyValue
	// stale is how old an in-flight marker must be for a repeat to take
	// it over: its request cannot still be running (the route timeout has
	// passed twice over), so its proxy died.
	stale time.Duration
	route string
}

// idemRecord is a key's entry.
type idemRecord struct {
	Fingerprint string      `json:"fp"`
	Done        bool        `json:"done"`
	Started     time.Time   `json:"started"`
	Status      int         `json:"status,omitempty"`
	Header      http.Header `json:"header,omitempty"`
	Body        []byte      `json:"body,omitempty"`
}

func newIdemStore(ctx context.Context, s *store.Store, r *route) (*idemStore, error) {
	ic := r.cfg.Idempotency
	kv, err := s.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      "HF_IDEM_" + routeHash(r.name),
		Description: "holdfast idempotency records of route " + r.name,
		TTL:         ic.TTL,
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    s.Replicas(),
		// A stored response with its head fits.
		MaxValueSize: int32(ic.MaxBodyBytes + 256<<10),
	})
	if err != nil {
		return nil, err
	}
	return &idemStore{cfg: ic, kv: kv, stale: 2*r.cfg.Timeout + 30*time.Second, route: r.name}, nil
}

// problem sends an application/problem+json reply (RFC 9457), as the
// draft's error responses are.
func problem(w http.ResponseWriter, info *RequestInfo, status int, reason, title, detail string, retryAfter time.Duration) {
	b, _ := json.Marshal(map[string]any{"type": "about:blank", "title": title, "status": status, "detail": detail})
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set(HeaderReason, reason)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((retryAfter+time.Second-1)/time.Second)))
	}
	info.Status, info.Reason = status, reason
	w.WriteHeader(status)
	w.Write(b)
}

// serveStored serves a route with a durable or idempotency block.
func (p *Proxy) serveStored(w http.ResponseWriter, r *http.Request, st *state, rt *route, traced bool, info *RequestInfo, local localFunc) {
	next := func(w http.ResponseWriter, r *http.Request) {
		if rt.durable != nil {
			p.serveDurable(w, r, st, rt, info, local)
			return
		}
		p.serveRoute(w, r, st, rt, traced, info, local)
	}
	if rt.idem == nil {
		next(w, r)
		return
	}
	p.serveIdempotent(w, r, st, rt, info, next)
}

// serveIdempotent applies the draft's rules to r: without a key, next
// serves it (or, with required, 400); with one, the first request is
// served by next and its final response kept, and a repeat gets that
// response back without the upstream being called.
func (p *Proxy) serveIdempotent(w http.ResponseWriter, r *http.Request, st *state, rt *route, info *RequestInfo, next func(http.ResponseWriter, *http.Request)) {
	is := rt.idem
	fields := r.Header.Values(HeaderIdempotencyKey)
	if len(fields) == 0 {
		if is.cfg.Required {
			problem(w, info, http.StatusBadRequest, ReasonInvalidRequest, "Idempotency-Key is missing",
				"this route requires an Idempotency-Key header", 0)
			return
		}
		next(w, r)
		return
	}
	if len(fields) > 1 {
		problem(w, info, http.StatusBadRequest, ReasonInvalidRequest, "Idempotency-Key is malformed", "more than one Idempotency-Key field", 0)
		return
	}
	key, err := parseIdempotencyKey(fields[0])
	if err != nil {
		problem(w, info, http.StatusBadRequest, ReasonInvalidRequest, "Idempotency-Key is malformed", err.Error(), 0)
		return
	}
	limit := st.cfg.Limits.MaxBodyBytes
	if limit < 0 {
		limit = maxIdempotentRequestBody
	}
	if rt.durable != nil {
		limit = min(limit, rt.durable.cfg.MaxBodyBytes)
	}
	body, err := readBody(r, limit)
	if err != nil {
		w.Header().Set("Connection", "close")
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			problem(w, info, http.StatusRequestEntityTooLarge, ReasonBodyTooLarge, "Request body too large", bodyTooLarge(mbe.Limit), 0)
			return
		}
		problem(w, info, http.StatusBadRequest, ReasonInvalidRequest, "Request body unreadable", "cannot read the request body", 0)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil

	fp := fingerprint(r, body)
	k := is.recordKey(requestKey(*is.cfg.Scope, r), key)
	ctx, cancel := context.WithTimeout(r.Context(), storeOpTimeout)
	defer cancel()
	marker, _ := json.Marshal(&idemRecord{Fingerprint: fp, Started: time.Now().UTC()})
	rev, err := is.kv.Create(ctx, k, marker)
	if errors.Is(err, jetstream.ErrKeyExists) {
		var ok bool
		if rev, ok = is.repeat(ctx, w, k, fp, marker, info); !ok {
			return
		}
		err = nil
	}
	if err != nil {
		p.logStore("idempotency record failed", rt.name, err)
		problem(w, info, http.StatusServiceUnavailable, ReasonStoreUnavailable, "Store unavailable",
			"the idempotency store cannot take the request", storeRetryAfter)
		return
	}

	// The first: served, its final response recorded as it is relayed.
	rec := &responseRecorder{ResponseWriter: w, max: is.cfg.MaxBodyBytes}
	kept := false
	defer func() {
		if kept {
			return
		}
		// Not a final response to keep (a local reply, a broken relay, a
		// panic): the key is freed, so the client's retry is served anew.
		dctx, dcancel := context.WithTimeout(context.Background(), storeOpTimeout)
		defer dcancel()
		is.kv.Delete(dctx, k, jetstream.LastRevision(rev))
	}()
	next(rec, r)
	if rec.status == 0 || rec.over || rec.header.Get(HeaderReason) != "" {
		return
	}
	done, _ := json.Marshal(&idemRecord{Fingerprint: fp, Done: true, Started: time.Now().UTC(),
		Status: rec.status, Header: rec.header, Body: rec.body.Bytes()})
	uctx, ucancel := context.WithTimeout(context.Background(), storeOpTimeout)
	defer ucancel()
	if _, err := is.kv.Update(uctx, k, done, rev); err != nil {
		p.logStore("idempotency record failed", rt.name, err)
		return
	}
	kept = true
}

// repeat answers a request whose key has a record: 422 for a different
// request, 409 while the first is in flight, else the stored response. A
// marker left by a proxy that died is taken over: ok then, with the
// revision of the new marker, and the caller serves the request.
func (is *idemStore) repeat(ctx context.Context, w http.ResponseWriter, k, fp string, marker []byte, info *RequestInfo) (rev uint64, ok bool) {
	e, err := is.kv.Get(ctx, k)
	var rec idemRecord
	if err == nil {
		err = json.Unmarshal(e.Value(), &rec)
	}
	if err != nil {
		// Gone between Create and Get (expired, freed): the client may
		// simply try again.
		problem(w, info, http.StatusConflict, ReasonIdempotencyBusy, "Request in flight",
			"a request with this Idempotency-Key is being processed; retry later", storeRetryAfter)
		return 0, false
	}
	if rec.Fingerprint != fp {
		problem(w, info, http.StatusUnprocessableEntity, ReasonIdempotencyReuse, "Idempotency-Key reused",
			"this Idempotency-Key was used for a different request (method, path or body)", 0)
		return 0, false
	}
	if !rec.Done {
		if time.Since(rec.Started) > is.stale {
			if rev, err := is.kv.Update(ctx, k, marker, e.Revision()); err == nil {
				return rev, true
			}
		}
		problem(w, info, http.StatusConflict, ReasonIdempotencyBusy, "Request in flight",
			"a request with this Idempotency-Key is being processed; retry later", storeRetryAfter)
		return 0, false
	}
	h := w.Header()
	for name, vs := range rec.Header {
		h[name] = vs
	}
	h.Set(HeaderIdempotentReplayed, "true")
	h.Set("Content-Length", strconv.Itoa(len(rec.Body)))
	info.Status = rec.Status
	w.WriteHeader(rec.Status)
	w.Write(rec.Body)
	return 0, false
}

// recordKey is the KV key of a client's key: a hash of the route, the
// scope's value and the key, so that neither is stored in clear and two
// scopes never share an entry.
func (is *idemStore) recordKey(scope, key string) string {
	h := sha256.New()
	for _, s := range []string{is.route, scope, key} {
		io.WriteString(h, strconv.Itoa(len(s)))
		io.WriteString(h, ":")
		io.WriteString(h, s)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fingerprint identifies a request for the draft's "same request" check:
// its method, path and query, and a hash of its body.
func fingerprint(r *http.Request, body []byte) string {
	bh := sha256.Sum256(body)
	h := sha256.New()
	for _, s := range []string{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(bh[:])} {
		io.WriteString(h, strconv.Itoa(len(s)))
		io.WriteString(h, ":")
		io.WriteString(h, s)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// responseRecorder passes a response through and keeps its status, head and up to
// max bytes of its body.
type responseRecorder struct {
	http.ResponseWriter
	max    int64
	status int
	header http.Header
	body   bytes.Buffer
	over   bool
}

func (rw *responseRecorder) WriteHeader(code int) {
	if rw.status == 0 && code >= 200 {
		rw.status = code
		rw.header = rw.ResponseWriter.Header().Clone()
		// Per-response fields are not replayed as they were.
		for _, name := range []string{"X-Request-Id", "Date", "Connection"} {
			delete(rw.header, name)
		}
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *responseRecorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	if !rw.over {
		if int64(rw.body.Len()+len(b)) > rw.max {
			rw.over = true
			rw.body = bytes.Buffer{}
		} else {
			rw.body.Write(b)
		}
	}
	return rw.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (rw *responseRecorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }
