package holdfastprom_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports checks that the package stays a library: a Go service that
// exports its pipelines' metrics must not pull in the proxy, its admin
// server or its config loader.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Deps "\n"}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const module = "github.com/holdfast-dev/holdfast/"
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list gave no dependencies")
	}
	for _, dep := range deps {
		for _, banned := range []string{"proxy", "admin", "config", "cmd", "chaos"} {
			if dep == module+banned || strings.HasPrefix(dep, module+banned+"/") {
				t.Errorf("holdfastprom depends on %s", dep)
			}
		}
	}
}
