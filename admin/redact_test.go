package admin

import (
	"encoding/json"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/holdfast-dev/holdfast/config"
)

// The encoder and its redaction are config's (config.EncodeRedacted, tested
// there); these tests check that GET /config serves what it encodes.

func TestConfigEndpointRedacts(t *testing.T) {
	tokenFile := writeFile(t, "proxy-token", testToken)
	e := startEnv(t, envOptions{token: true, top: "admin: {token_file: " + tokenFile + "}", extra: `  - name: secret-route
    match:
      path_prefix: /secret
      headers:
        - name: Authorization
          exact: Bearer match-s3cr3t
    upstream: shop
    fallback:
      status: 200
      body: "{}"
      headers:
        content-type: application/json
        Authorization: Bearer fallback-s3cr3t
        Cookie: sid=cookie-s3cr3t
`})
	for _, format := range []string{"yaml", "json"} {
		status, body, _ := e.do("GET", "/config?format="+format, nil, nil)
		if status != 200 {
			t.Fatalf("GET /config?format=%s: got status %d", format, status)
		}
		for _, secret := range []string{"match-s3cr3t", "fallback-s3cr3t", "cookie-s3cr3t", testToken} {
			if strings.Contains(body, secret) {
				t.Errorf("format %s: the config shows %q:\n%s", format, secret, body)
			}
		}
		for _, want := range []string{config.Redacted, "application/json", tokenFile, "secret-route", e.flaky.URL()} {
			if !strings.Contains(body, want) {
				t.Errorf("format %s: got\n%s\nwant it to contain %q", format, body, want)
			}
		}
	}
	// JSON is JSON, with durations as strings.
	_, body, _ := e.do("GET", "/config?format=json", nil, nil)
	var v map[string]any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("GET /config?format=json is not JSON: %v", err)
	}
	if got := v["drain"].(map[string]any)["timeout"]; got != "30s" {
		t.Errorf("drain.timeout: got %v; want \"30s\"", got)
	}
}

// TestConfigMultilineBody checks a config yaml.v3 cannot round-trip through
// text by itself: a multi-line body with a leading space, inside routes.
func TestConfigMultilineBody(t *testing.T) {
	const body = " {\n  \"items\": []\n}\n"
	e := startEnv(t, envOptions{extra: `  - name: multi
    match: {path_prefix: /multi}
    upstream: shop
    fallback: {body: "` + strings.ReplaceAll(strings.ReplaceAll(body, "\n", `\n`), `"`, `\"`) + `"}
`})
	status, text, _ := e.do("GET", "/config", nil, nil)
	if status != 200 {
		t.Fatalf("GET /config: got status %d: %s", status, text)
	}
	var v struct {
		Routes []struct {
			Fallback struct{ Body string }
		}
	}
	if err := yaml.Unmarshal([]byte(text), &v); err != nil {
		t.Fatalf("GET /config is not valid YAML: %v\n%s", err, text)
	}
	if got := v.Routes[len(v.Routes)-1].Fallback.Body; got != body {
		t.Errorf("fallback body: got %q; want %q", got, body)
	}
}
