package admin

import (
	"log/slog"
	"net/http"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/holdfast-dev/holdfast/config"
)

// routes builds the admin API's handler: every endpoint behind the same
// guards (host check on loopback, body bound, security headers), and the
// mutating ones behind the token and cross-origin protection.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.serveIndex)
	mux.Handle("GET /ui/", http.StripPrefix("/ui/", http.FileServerFS(uiFS)))
	mux.HandleFunc("GET /healthz", s.serveHealthz)
	mux.HandleFunc("GET /readyz", s.serveReadyz)
	mux.Handle("GET /metrics", s.metrics.Handler())
	mux.HandleFunc("GET /status", s.serveStatus)
	mux.HandleFunc("GET /status/series", s.serveSeries)
	mux.HandleFunc("GET /status/timeline", s.serveTimeline)
	mux.HandleFunc("GET /config", s.serveConfig)
	mux.HandleFunc("GET /vote/disagreements", s.serveVoteDisagreements) // vote.go
	mux.HandleFunc("GET /canary/{route}", s.serveCanary)                // canary.go
	mux.HandleFunc("GET /canary/{route}/verdict", s.serveCanaryVerdict)
	mux.HandleFunc("GET /shadow/differences", s.serveShadowDifferences) // shadow.go

	// Browsers send a simple POST cross-origin without asking first; the
	// protection refuses one that a page on another origin made, so a web
	// page cannot reload or quiesce a loopback admin server behind the
	// operator's back.
	cop := http.NewCrossOriginProtection()
	mutating := func(h http.HandlerFunc) http.Handler { return cop.Handler(s.requireToken(h)) }
	mux.Handle("POST /reload", mutating(s.serveReload))
	mux.Handle("POST /quiesce", mutating(s.serveQuiesce(true)))
	mux.Handle("POST /unquiesce", mutating(s.serveQuiesce(false)))
	mux.Handle("POST /canary/{route}/{action}", mutating(s.serveCanaryAction))
	// Dead letters of durable routes (durable.go).
	mux.HandleFunc("GET /durable/{route}/dead", s.serveDeadLetters)
	mux.HandleFunc("GET /durable/{route}/dead/{id}", s.serveDeadLetter)
	mux.Handle("POST /durable/{route}/redrive", mutating(s.serveRedrive))
	mux.Handle("POST /durable/{route}/purge", mutating(s.servePurge))
	return s.guard(mux)
}

// guard applies the checks every admin request passes.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if s.loopback && !loopbackHost(r.Host) {
			s.log(slog.LevelWarn, "admin request refused: host is not loopback", "remote", r.RemoteAddr)
			writeJSON(w, http.StatusMisdirectedRequest, map[string]string{"error": "the admin API answers only to a loopback host name"})
			return
		}
		if r.ContentLength > maxBodyBytes {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "request body is larger than " + strconv.Itoa(maxBodyBytes) + " bytes"})
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) serveHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte("ok\n"))
}

type readiness struct {
	Ready    bool `json:"ready"`
	Draining bool `json:"draining"`
	Quiesced bool `json:"quiesced"`
	// QuiescedRoutes are the routes quiesced for giving no correct answer
	// (quiesce.go), those with quiesce.fail_readyz failing readiness;
	// absent while there are none.
	QuiescedRoutes []string `json:"quiesced_routes,omitempty"`
}

func (s *Server) readiness() readiness {
	return readiness{Ready: s.Ready(), Draining: s.draining.Load(), Quiesced: s.quiesced.Load(), QuiescedRoutes: s.cfg.Proxy.QuiescedRoutes()}
}

func (s *Server) serveReadyz(w http.ResponseWriter, r *http.Request) {
	rd := s.readiness()
	status := http.StatusOK
	if !rd.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, rd)
}

func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Status())
}

func (s *Server) serveSeries(w http.ResponseWriter, r *http.Request) {
	writeCompactJSON(w, http.StatusOK, s.Series())
}

func (s *Server) serveTimeline(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.timeline.Snapshot())
}

// serveConfig shows the running config with its secrets redacted, as YAML,
// or as JSON with ?format=json.
func (s *Server) serveConfig(w http.ResponseWriter, r *http.Request) {
	n, err := config.EncodeRedacted(s.cfg.Proxy.Config())
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "cannot encode the config"})
		return
	}
	switch r.URL.Query().Get("format") {
	case "", "yaml":
		body, err := yaml.Marshal(n)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "cannot encode the config"})
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/yaml; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		w.Write(body)
	case "json":
		var v any
		if err := n.Decode(&v); err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "cannot encode the config"})
			return
		}
		writeJSON(w, http.StatusOK, v)
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "format must be yaml or json"})
	}
}

func (s *Server) serveReload(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Reload == nil {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "reload is not available"})
		return
	}
	s.log(slog.LevelInfo, "reload requested through the admin API", "remote", r.RemoteAddr)
	if err := s.cfg.Reload(r.Context()); err != nil {
		// The running config keeps serving; say why the new one did not.
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"status": "rejected", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
}

func (s *Server) serveQuiesce(q bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.SetQuiesced(q)
		s.log(slog.LevelInfo, "readiness changed through the admin API", "quiesced", q, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, s.readiness())
	}
}
