package admin

import (
	"embed"
	"io/fs"
	"net/http"
)

// The status page is plain HTML, CSS and JavaScript with no build step and
// no external assets; it polls GET /status once a second, and GET
// /status/series and /status/timeline every five seconds for its charts
// (SVG drawn by its own script) and event list.
//
//go:embed ui
var uiFiles embed.FS

// uiFS is the ui directory, served under /ui/.
var uiFS = func() fs.FS {
	f, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return f
}()

// contentSecurityPolicy allows the page its own scripts, styles and fetches
// only.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	page, err := fs.ReadFile(uiFS, "index.html")
	if err != nil {
		http.Error(w, "status page missing", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("Cache-Control", "no-store")
	w.Write(page)
}
