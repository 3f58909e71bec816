package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

func runVersion(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stdout, "holdfast", buildVersion())
	return 0
}

// buildVersion is the module version the binary was built at, or
// "(devel)" for a build from a working tree.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// buildRevision is the VCS revision the binary was built from, with
// "-dirty" when the tree had changes, or "unknown" when the build did not
// record one (go test, go run outside a repository).
func buildRevision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	switch {
	case rev == "":
		return "unknown"
	case dirty:
		return rev + "-dirty"
	}
	return rev
}

// buildGoVersion is the Go toolchain the binary was built with.
func buildGoVersion() string { return runtime.Version() }
