package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

func init() {
	register("version", "print the version", func(args []string, stdout, stderr io.Writer) int {
		v := "(devel)"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			v = bi.Main.Version
		}
		fmt.Fprintln(stdout, "holdfast", v)
		return 0
	})
}
