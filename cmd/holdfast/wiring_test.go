package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeWiresTimelineAndLogRotation checks what serve.go wires beside the
// metrics: every reload, accepted or refused, is on the status page's
// timeline, and a refused reload still reopens the access log, which
// logrotate renamed before it signalled.
func TestServeWiresTimelineAndLogRotation(t *testing.T) {
	e, _ := startServe(t)
	if status, _ := e.do("GET", e.data+"/api/one", ""); status != 200 {
		t.Fatalf("GET /api/one: got status %d; want 200", status)
	}
	// logrotate: rename, then signal (here the reload SIGHUP also does).
	if err := os.Rename(filepath.Join(e.dir, "access.log"), filepath.Join(e.dir, "access.log.1")); err != nil {
		t.Fatal(err)
	}
	if status, body := e.do("POST", e.admin+"/reload", "s3cret-token"); status != 200 {
		t.Fatalf("POST /reload: got %d %s; want 200", status, body)
	}
	if err := os.WriteFile(e.file, []byte("routes: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if status, _ := e.do("POST", e.admin+"/reload", "s3cret-token"); status != 422 {
		t.Fatalf("POST /reload of a broken file: got status %d; want 422", status)
	}
	// A second rotation, answered only by the refused reload.
	if err := os.Rename(filepath.Join(e.dir, "access.log"), filepath.Join(e.dir, "access.log.2")); err != nil {
		t.Fatal(err)
	}
	if status, _ := e.do("POST", e.admin+"/reload", "s3cret-token"); status != 422 {
		t.Fatalf("POST /reload of a broken file: got status %d; want 422", status)
	}
	if status, _ := e.do("GET", e.data+"/api/two", ""); status != 200 {
		t.Fatalf("GET /api/two: got status %d; want 200", status)
	}
	if got := e.lines("access.log"); len(got) != 1 || !strings.Contains(got[0], `"status":200`) {
		t.Errorf("the reopened access.log holds %q; want the one request after the refused reload", got)
	}

	_, body := e.do("GET", e.admin+"/status/timeline", "")
	var tl struct {
		Events []struct {
			Kind, To, Error string
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(body), &tl); err != nil {
		t.Fatalf("GET /status/timeline: %v: %s", err, body)
	}
	var reloads []string
	for _, ev := range tl.Events {
		if ev.Kind == "reload" {
			reloads = append(reloads, ev.To)
		}
	}
	if strings.Join(reloads, ",") != "ok,failed,failed" {
		t.Errorf("timeline reloads %q; want ok, failed, failed", reloads)
	}
}
