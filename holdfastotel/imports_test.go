package holdfastotel_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports checks that the package stays a thin adapter: OpenTelemetry's
// trace API, the holdfast root package and the standard library, never
// OpenTelemetry's SDK or exporters (gRPC above all), nor the proxy, its
// admin server or its config loader.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Deps "\n"}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list gave no dependencies")
	}
	for _, dep := range deps {
		if !allowed(dep) {
			t.Errorf("holdfastotel depends on %s", dep)
		}
	}
}

func allowed(dep string) bool {
	switch {
	case !strings.Contains(strings.SplitN(dep, "/", 2)[0], "."):
		return true // the standard library
	case dep == "github.com/holdfast-dev/holdfast":
		return true
	case dep == "github.com/cespare/xxhash/v2":
		return true // attribute's set hashing
	case strings.HasPrefix(dep, "go.opentelemetry.io/otel/sdk"),
		strings.HasPrefix(dep, "go.opentelemetry.io/otel/exporters"):
		return false
	case strings.HasPrefix(dep, "go.opentelemetry.io/otel/"):
		return true
	}
	return false
}

func TestAllowed(t *testing.T) {
	tests := []struct {
		dep  string
		want bool
	}{
		{"context", true},
		{"vendor/golang.org/x/net/http2/hpack", true},
		{"github.com/holdfast-dev/holdfast", true},
		{"go.opentelemetry.io/otel/trace", true},
		{"go.opentelemetry.io/otel/attribute", true},
		{"go.opentelemetry.io/otel/sdk/trace", false},
		{"go.opentelemetry.io/otel/exporters/otlp/otlptrace", false},
		{"google.golang.org/grpc", false},
		{"github.com/holdfast-dev/holdfast/proxy", false},
		{"github.com/holdfast-dev/holdfast/retry", false},
	}
	for _, tt := range tests {
		if got := allowed(tt.dep); got != tt.want {
			t.Errorf("allowed(%q) = %v; want %v", tt.dep, got, tt.want)
		}
	}
}
