//go:build !race

package adversarial

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// chaosAPI is a running `holdfast chaos`.
type chaosAPI struct {
	url string
	log *lockedBuffer
}

func startChaos(t *testing.T) *chaosAPI {
	t.Helper()
	log := &lockedBuffer{}
	cmd := exec.Command(binary, "chaos", "-port", "0")
	cmd.Stderr = log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("holdfast chaos log:\n%s", lastLines(log.String(), 20))
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			log.Write([]byte(sc.Text() + "\n"))
			if _, url, ok := strings.Cut(sc.Text(), "API on "); ok {
				select {
				case found <- strings.TrimSpace(url):
				default:
				}
			}
		}
	}()
	select {
	case url := <-found:
		return &chaosAPI{url: url, log: log}
	case <-time.After(10 * time.Second):
		t.Fatalf("holdfast chaos did not announce its API within 10s:\n%s", log.String())
		return nil
	}
}

// call sends a JSON request to the chaos API.
func (c *chaosAPI) call(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, c.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := quickClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type chaosProxy struct {
	Name     string `json:"name"`
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
	Enabled  bool   `json:"enabled"`
	Toxics   []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"toxics"`
}

func (c *chaosAPI) proxy(t *testing.T, name string) (chaosProxy, int) {
	t.Helper()
	status, body := c.call(t, http.MethodGet, "/proxies/"+name, "")
	var p chaosProxy
	if status == http.StatusOK {
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatalf("GET /proxies/%s: %v in %s", name, err, body)
		}
	}
	return p, status
}

func (c *chaosAPI) create(t *testing.T, spec string) chaosProxy {
	t.Helper()
	status, body := c.call(t, http.MethodPost, "/proxies", spec)
	if status != http.StatusCreated {
		t.Fatalf("POST /proxies %s: %d %s; want 201", spec, status, body)
	}
	var p chaosProxy
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// echoServer is a TCP server that sends back every byte.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// echoes reports whether data sent to addr comes back whole.
func echoes(addr string, data []byte) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write(data); err != nil {
		return err
	}
	got := make([]byte, len(data))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read back %d of %d bytes: %v", len(bytes.TrimRight(got, "\x00")), len(data), err)
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("read back different bytes")
	}
	return nil
}

func hasToxic(p chaosProxy, name string) bool {
	for _, tx := range p.Toxics {
		if tx.Name == name {
			return true
		}
	}
	return false
}

// TestChaosAPI: the Toxiproxy-compatible API refuses what would break a
// proxy, and a refused change leaves the proxy as it was.
func TestChaosAPI(t *testing.T) {
	t.Parallel()
	api := startChaos(t)
	echo := echoServer(t)
	ping := []byte("ping through the chaos proxy\n")

	t.Run("update_onto_busy_port_changes_nothing", func(t *testing.T) {
		p := api.create(t, `{"name": "busy", "listen": "127.0.0.1:0", "upstream": "`+echo+`"}`)
		if s, b := api.call(t, http.MethodPost, "/proxies/busy/toxics", `{"type": "latency", "attributes": {"latency": 1}}`); s != http.StatusOK {
			t.Fatalf("adding a latency toxic: %d %s", s, b)
		}
		taken, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer taken.Close()
		status, body := api.call(t, http.MethodPost, "/proxies/busy", `{"listen": "`+taken.Addr().String()+`"}`)
		if status < 400 {
			t.Errorf("moving the proxy onto busy port %s: %d %s; want an error", taken.Addr(), status, body)
		}
		now, _ := api.proxy(t, "busy")
		if now.Listen != p.Listen || !now.Enabled || !hasToxic(now, "latency_downstream") {
			t.Errorf("after the failed update: listen %s, enabled %v, toxics %v; want listen %s, enabled, its latency toxic", now.Listen, now.Enabled, now.Toxics, p.Listen)
		}
		if err := echoes(p.Listen, ping); err != nil {
			t.Errorf("traffic through %s after the failed update: %v", p.Listen, err)
		}
	})

	t.Run("upstream_is_own_listen_address", func(t *testing.T) {
		addr := unusedAddr(t)
		_, port, _ := net.SplitHostPort(addr)
		for _, upstream := range []string{addr, "localhost:" + port} {
			status, body := api.call(t, http.MethodPost, "/proxies", `{"name": "loop", "listen": "`+addr+`", "upstream": "`+upstream+`"}`)
			if status < 400 || status >= 500 {
				t.Errorf("proxy listening on %s with upstream %s: %d %s; want 4xx", addr, upstream, status, body)
			}
			api.call(t, http.MethodDelete, "/proxies/loop", "")
		}
		p := api.create(t, `{"name": "loop2", "listen": "127.0.0.1:0", "upstream": "`+echo+`"}`)
		status, body := api.call(t, http.MethodPost, "/proxies/loop2", `{"upstream": "`+p.Listen+`"}`)
		if status < 400 || status >= 500 {
			t.Errorf("update pointing the proxy at its own address %s: %d %s; want 4xx", p.Listen, status, body)
		}
		if now, _ := api.proxy(t, "loop2"); now.Upstream != echo {
			t.Errorf("after the refused update: upstream %s; want %s", now.Upstream, echo)
		}
		if err := echoes(p.Listen, ping); err != nil {
			t.Errorf("traffic through %s after the refused update: %v", p.Listen, err)
		}
	})

	t.Run("http_status_outside_200_599", func(t *testing.T) {
		api.create(t, `{"name": "web", "listen": "127.0.0.1:0", "upstream": "`+echo+`", "protocol": "http"}`)
		for _, tc := range []struct {
			status int
			ok     bool
		}{{100, false}, {199, false}, {600, false}, {1000, false}, {200, true}, {503, true}, {599, true}} {
			s, b := api.call(t, http.MethodPost, "/proxies/web/toxics", fmt.Sprintf(`{"name": "s%d", "type": "http_status", "attributes": {"status": %d}}`, tc.status, tc.status))
			if got := s == http.StatusOK; got != tc.ok || (!tc.ok && (s < 400 || s >= 500)) {
				t.Errorf("http_status toxic with status %d: %d %s; want accepted %v (refused with a 4xx)", tc.status, s, strings.TrimSpace(b), tc.ok)
			}
		}
	})

	t.Run("repopulate_localhost_keeps_toxics", func(t *testing.T) {
		_, port, _ := net.SplitHostPort(unusedAddr(t))
		_, echoPort, _ := net.SplitHostPort(echo)
		spec := `[{"name": "pop", "listen": "localhost:` + port + `", "upstream": "localhost:` + echoPort + `"}]`
		if s, b := api.call(t, http.MethodPost, "/populate", spec); s != http.StatusCreated {
			t.Fatalf("POST /populate: %d %s; want 201", s, b)
		}
		if s, b := api.call(t, http.MethodPost, "/proxies/pop/toxics", `{"type": "latency", "attributes": {"latency": 1}}`); s != http.StatusOK {
			t.Fatalf("adding a latency toxic: %d %s", s, b)
		}
		if s, b := api.call(t, http.MethodPost, "/populate", spec); s != http.StatusCreated {
			t.Fatalf("POST /populate again: %d %s; want 201", s, b)
		}
		if now, _ := api.proxy(t, "pop"); !hasToxic(now, "latency_downstream") {
			t.Errorf("after populating the unchanged proxy again: toxics %v; want its latency toxic kept", now.Toxics)
		}
		if err := echoes("localhost:"+port, ping); err != nil {
			t.Errorf("traffic through localhost:%s: %v", port, err)
		}
	})

	// Toxiproxy accepts size_variation up to average_size; so must a
	// drop-in replacement.
	t.Run("slicer_variation_equal_to_average", func(t *testing.T) {
		p := api.create(t, `{"name": "slice", "listen": "127.0.0.1:0", "upstream": "`+echo+`"}`)
		s, b := api.call(t, http.MethodPost, "/proxies/slice/toxics", `{"type": "slicer", "attributes": {"average_size": 16, "size_variation": 16, "delay": 0}}`)
		if s != http.StatusOK {
			t.Fatalf("slicer with size_variation == average_size: %d %s; want 200", s, strings.TrimSpace(b))
		}
		if err := echoes(p.Listen, bytes.Repeat(ping, 20)); err != nil {
			t.Errorf("traffic through the slicer: %v", err)
		}
	})
}
