package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestChaosRefusesBadFlags(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, []byte(" \n"), 0o600)
	tests := []struct {
		name string
		o    chaosOptions
		want string
	}{
		{"non-loopback without token", chaosOptions{host: "0.0.0.0", port: 0}, "without -token-file"},
		{"empty token file", chaosOptions{host: "0.0.0.0", port: 0, tokenFile: empty}, "is empty"},
		{"missing token file", chaosOptions{host: "127.0.0.1", tokenFile: filepath.Join(t.TempDir(), "nope")}, "no such file"},
		{"bad port", chaosOptions{host: "127.0.0.1", port: 70000}, "-port"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		code := chaosMain(context.Background(), tt.o, io.Discard, &stderr, nil)
		if code != 2 || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 mentioning %q", tt.name, code, stderr.String(), tt.want)
		}
	}
	var stderr bytes.Buffer
	if code := runChaos([]string{"-port", "x"}, io.Discard, &stderr); code != 2 {
		t.Errorf("runChaos(-port x) = %d; want 2", code)
	}
}

// TestChaosServesConfigAndToken starts the command on a free loopback port
// with a config file and a token, checks the API, then stops it as a
// signal would.
func TestChaosServesConfigAndToken(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600)
	cfg := filepath.Join(dir, "proxies.json")
	os.WriteFile(cfg, []byte(`[{"name":"db","listen":"127.0.0.1:0","upstream":"127.0.0.1:5432",
		"toxics":[{"type":"latency","attributes":{"latency":10}}]}]`), 0o600)

	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	var out bytes.Buffer
	var wg sync.WaitGroup
	var code int
	wg.Add(1)
	go func() {
		defer wg.Done()
		code = chaosMain(ctx, chaosOptions{host: "127.0.0.1", port: 0, config: cfg, tokenFile: tokenFile}, &out, io.Discard, func(a string) { addrc <- a })
	}()
	var api string
	select {
	case a := <-addrc:
		api = "http://" + a
	case <-ctxDone(&wg):
		t.Fatalf("chaos exited early with %d: %s", code, out.String())
	}

	resp, err := http.Get(api + "/proxies/db/toxics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"latency":10`) || !strings.Contains(string(b), `"toxicity":1`) {
		t.Fatalf("GET toxics = %d %s; want the configured latency toxic with toxicity 1", resp.StatusCode, b)
	}
	for _, tc := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer wrong", 401}, {"Bearer s3cret", 204}} {
		req, _ := http.NewRequest("POST", api+"/reset", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("POST /reset with %q = %d; want %d", tc.auth, resp.StatusCode, tc.want)
		}
	}
	cancel()
	wg.Wait()
	if code != 0 || !strings.Contains(out.String(), "proxy db: 127.0.0.1:") || !strings.Contains(out.String(), "stopped") {
		t.Fatalf("exit %d, stdout %q; want 0 after printing the proxy and stopping", code, out.String())
	}
}

// ctxDone closes when wg is done.
func ctxDone(wg *sync.WaitGroup) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		wg.Wait()
		close(ch)
	}()
	return ch
}
