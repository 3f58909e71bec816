package holdfast_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/holdfast-dev/holdfast"

// policyPackages are the library packages that must stay free of outside
// dependencies: they may import the standard library, golang.org/x, the
// module's root package (the shared event types) and policyInternal, and
// nothing else: never the proxy, the config loader or any third-party module.
var policyPackages = []string{
	"", "retry", "breaker", "ratelimit", "bulkhead", "adaptive", "timeout",
	"hedge", "fallback", "vote", "guard", "upstream", "slo", "canary",
	"internal/ctxkey",
}

// policyInternal are the module's internal packages that policy packages
// share; they are in policyPackages too, so held to the same rule.
var policyInternal = []string{module + "/internal/ctxkey"}

type listedPackage struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Standard   bool
}

func TestPolicyPackagesImportOnlyTheStandardLibrary(t *testing.T) {
	args := []string{"list", "-json"}
	for _, p := range policyPackages {
		args = append(args, "./"+p)
	}
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	std := standardPackages(t)
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		// Deps is transitive, so a forbidden import anywhere below is caught too.
		for _, dep := range p.Deps {
			if !allowedDep(dep, std) {
				t.Errorf("%s depends on %s; policy packages may use only the standard library, golang.org/x and %s", p.ImportPath, dep, module)
			}
		}
	}
	if seen != len(policyPackages) {
		t.Fatalf("go list returned %d packages; want %d", seen, len(policyPackages))
	}
}

func allowedDep(path string, std map[string]bool) bool {
	switch {
	case std[path]:
		return true
	case strings.HasPrefix(path, "golang.org/x/"):
		return true
	case path == module:
		return true
	case slices.Contains(policyInternal, path):
		return true
	}
	return false
}

func standardPackages(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "std").Output()
	if err != nil {
		t.Fatalf("go list std: %v", err)
	}
	std := map[string]bool{}
	for _, line := range strings.Fields(string(out)) {
		std[line] = true
	}
	// vendored std dependencies appear with this prefix in Deps.
	for p := range std {
		std["vendor/"+p] = true
	}
	return std
}

func TestAllowedDep(t *testing.T) {
	std := map[string]bool{"context": true}
	tests := []struct {
		path string
		want bool
	}{
		{"context", true},
		{"golang.org/x/net/http2", true},
		{module, true},
		{module + "/proxy", false},
		{module + "/config", false},
		{module + "/internal/ctxkey", true},
		{module + "/internal/store", false},
		{"github.com/prometheus/client_golang/prometheus", false},
		{"go.yaml.in/yaml/v3", false},
	}
	for _, tt := range tests {
		if got := allowedDep(tt.path, std); got != tt.want {
			t.Errorf("allowedDep(%q) = %v; want %v", tt.path, got, tt.want)
		}
	}
}
