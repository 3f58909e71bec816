package toxic

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// routes maps Toxiproxy's API. Updates accept POST as well as PATCH, as
// Toxiproxy does (its Go client still uses POST).
func (s *Server) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /proxies", s.listProxies)
	m.HandleFunc("POST /proxies", s.createProxy)
	m.HandleFunc("POST /populate", s.populate)
	m.HandleFunc("GET /proxies/{proxy}", s.showProxy)
	m.HandleFunc("POST /proxies/{proxy}", s.updateProxy)
	m.HandleFunc("PATCH /proxies/{proxy}", s.updateProxy)
	m.HandleFunc("DELETE /proxies/{proxy}", s.deleteProxy)
	m.HandleFunc("GET /proxies/{proxy}/toxics", s.listToxics)
	m.HandleFunc("POST /proxies/{proxy}/toxics", s.createToxic)
	m.HandleFunc("GET /proxies/{proxy}/toxics/{toxic}", s.showToxic)
	m.HandleFunc("POST /proxies/{proxy}/toxics/{toxic}", s.updateToxic)
	m.HandleFunc("PATCH /proxies/{proxy}/toxics/{toxic}", s.updateToxic)
	m.HandleFunc("DELETE /proxies/{proxy}/toxics/{toxic}", s.deleteToxic)
	m.HandleFunc("POST /reset", s.reset)
	m.HandleFunc("GET /version", s.version)
	m.Handle("GET /metrics", s.metrics.handler())
	return m
}

// ServeHTTP serves the chaos API. Browsers are refused, as Toxiproxy refuses
// them, so that a web page cannot drive the API on a developer's machine;
// with a token, calls that change state must carry it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.UserAgent(), "Mozilla/") || r.Header.Get("Origin") != "" {
		writeError(w, apiErr(ErrUnauthorized, http.StatusForbidden, "browsers may not use the chaos API", nil))
		return
	}
	if s.cfg.Token != "" && r.Method != http.MethodGet && r.Method != http.MethodHead && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="holdfast chaos"`)
		writeError(w, apiErr(ErrUnauthorized, http.StatusUnauthorized, "missing or wrong bearer token", nil))
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) == 1
}

// readBody reads a request body of at most MaxBodyBytes.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, apiErr(ErrInvalid, http.StatusRequestEntityTooLarge,
				"request body is larger than "+strconv.FormatInt(tooBig.Limit, 10)+" bytes", err)
		}
		return nil, errInvalid(err)
	}
	return body, nil
}

// proxyInput is a proxy in a request body. Unknown keys are ignored, as in
// Toxiproxy (its Go client sends the proxy's toxics back on every update).
type proxyInput struct {
	Name     string       `json:"name"`
	Listen   *string      `json:"listen"`
	Upstream *string      `json:"upstream"`
	Enabled  *bool        `json:"enabled"`
	Protocol *string      `json:"protocol"`
	Toxics   []toxicInput `json:"toxics"`
}

// toxicInput is a toxic in a request body; a missing toxicity means 1 and
// a missing stream downstream, as in Toxiproxy.
type toxicInput struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Stream     string          `json:"stream"`
	Toxicity   *float64        `json:"toxicity"`
	Attributes json.RawMessage `json:"attributes"`
}

func (t toxicInput) spec() ToxicSpec {
	tox := 1.0
	if t.Toxicity != nil {
		tox = *t.Toxicity
	}
	return ToxicSpec{Name: t.Name, Type: t.Type, Stream: t.Stream, Toxicity: tox, Attributes: t.Attributes}
}

// spec fills a new proxy's defaults: enabled unless it says otherwise.
func (in proxyInput) spec() ProxySpec {
	p := in.over(ProxySpec{Name: in.Name, Enabled: true})
	for _, t := range in.Toxics {
		p.Toxics = append(p.Toxics, t.spec())
	}
	return p
}

// over returns p with the fields in gives replacing p's; fields left out
// keep their values, as in Toxiproxy's update.
func (in proxyInput) over(p ProxySpec) ProxySpec {
	if in.Listen != nil {
		p.Listen = *in.Listen
	}
	if in.Upstream != nil {
		p.Upstream = *in.Upstream
	}
	if in.Enabled != nil {
		p.Enabled = *in.Enabled
	}
	if in.Protocol != nil {
		p.Protocol = *in.Protocol
	}
	return p
}

func (s *Server) listProxies(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Proxies())
}

func (s *Server) createProxy(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var in proxyInput
	if err := decodeJSON(body, &in, "proxy"); err != nil {
		writeError(w, errInvalid(err))
		return
	}
	p, err := s.CreateProxy(in.spec())
	if err != nil {
		writeError(w, err)
		return
	}
	s.log(slog.LevelInfo, "proxy created", "proxy", p.Name)
	writeJSON(w, http.StatusCreated, p)
}

func (s *Server) populate(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var in []proxyInput
	if err := decodeJSON(body, &in, "populate"); err != nil {
		writeError(w, errInvalid(err))
		return
	}
	specs := make([]ProxySpec, len(in))
	for i, p := range in {
		specs[i] = p.spec()
	}
	got, err := s.Populate(specs)
	if got == nil {
		got = []ProxySpec{}
	}
	if err != nil {
		// Toxiproxy answers the error and the proxies it did create in one
		// body: {"error", "status", "proxies"}.
		ae := asAPIError(err)
		writeJSON(w, ae.Status, struct {
			Error   string      `json:"error"`
			Status  int         `json:"status"`
			Proxies []ProxySpec `json:"proxies"`
		}{ae.Message, ae.Status, got})
		return
	}
	s.log(slog.LevelInfo, "proxies populated", "count", len(got))
	writeJSON(w, http.StatusCreated, struct {
		Proxies []ProxySpec `json:"proxies"`
	}{got})
}

func (s *Server) showProxy(w http.ResponseWriter, r *http.Request) {
	p, err := s.Proxy(r.PathValue("proxy"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) updateProxy(w http.ResponseWriter, r *http.Request) {
	cur, err := s.Proxy(r.PathValue("proxy"))
	if err != nil {
		writeError(w, err)
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var in proxyInput
	if err := decodeJSON(body, &in, "proxy"); err != nil {
		writeError(w, errInvalid(err))
		return
	}
	p, err := s.UpdateProxy(in.over(cur))
	if err != nil {
		writeError(w, err)
		return
	}
	s.log(slog.LevelInfo, "proxy updated", "proxy", p.Name, "enabled", p.Enabled)
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) deleteProxy(w http.ResponseWriter, r *http.Request) {
	if err := s.DeleteProxy(r.PathValue("proxy")); err != nil {
		writeError(w, err)
		return
	}
	s.log(slog.LevelInfo, "proxy deleted", "proxy", r.PathValue("proxy"))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listToxics(w http.ResponseWriter, r *http.Request) {
	ts, err := s.Toxics(r.PathValue("proxy"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ts)
}

func (s *Server) createToxic(w http.ResponseWriter, r *http.Request) {
	if _, err := s.get(r.PathValue("proxy")); err != nil {
		writeError(w, err) // 404 before 400, as in Toxiproxy
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var in toxicInput
	if err := decodeJSON(body, &in, "toxic"); err != nil {
		writeError(w, errInvalid(err))
		return
	}
	t, err := s.AddToxic(r.PathValue("proxy"), in.spec())
	if err != nil {
		writeError(w, err)
		return
	}
	s.log(slog.LevelInfo, "toxic added", "proxy", r.PathValue("proxy"), "toxic", t.Name, "type", t.Type)
	// Toxiproxy answers 200, not 201, and its clients check for it.
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) showToxic(w http.ResponseWriter, r *http.Request) {
	t, err := s.Toxic(r.PathValue("proxy"), r.PathValue("toxic"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) updateToxic(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Toxic(r.PathValue("proxy"), r.PathValue("toxic")); err != nil {
		writeError(w, err)
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	t, err := s.UpdateToxic(r.PathValue("proxy"), r.PathValue("toxic"), body)
	if err != nil {
		writeError(w, err)
		return
	}
	s.log(slog.LevelInfo, "toxic updated", "proxy", r.PathValue("proxy"), "toxic", t.Name)
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) deleteToxic(w http.ResponseWriter, r *http.Request) {
	if err := s.RemoveToxic(r.PathValue("proxy"), r.PathValue("toxic")); err != nil {
		writeError(w, err)
		return
	}
	s.log(slog.LevelInfo, "toxic removed", "proxy", r.PathValue("proxy"), "toxic", r.PathValue("toxic"))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) reset(w http.ResponseWriter, r *http.Request) {
	if err := s.Reset(); err != nil {
		writeError(w, err)
		return
	}
	s.log(slog.LevelInfo, "reset")
	w.WriteHeader(http.StatusNoContent)
}

// version writes {"version": "..."} byte for byte as Toxiproxy does (with
// the space: its tests compare the body), the version JSON-quoted.
func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	v, _ := json.Marshal(s.cfg.Version)
	_, _ = w.Write([]byte(`{"version": ` + string(v) + "}\n"))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// asAPIError gives any error a status: unexpected ones are 500s.
func asAPIError(err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	return apiErr(nil, http.StatusInternalServerError, err.Error(), err)
}

// writeError answers as Toxiproxy does: {"error": "...", "status": N}.
func writeError(w http.ResponseWriter, err error) {
	ae := asAPIError(err)
	b, _ := json.Marshal(struct {
		Error  string `json:"error"`
		Status int    `json:"status"`
	}{ae.Message, ae.Status})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(ae.Status)
	_, _ = w.Write(append(b, '\n'))
}
