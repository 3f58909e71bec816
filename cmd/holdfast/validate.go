package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/holdfast-dev/holdfast/config"
)

func runValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "holdfast.yaml", "config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if _, err := config.Load(*file); err != nil {
		// A file can have an error on each of its lines: write them in
		// large pieces, not one write each.
		w := bufio.NewWriter(stderr)
		defer w.Flush()
		var es config.Errors
		if errors.As(err, &es) {
			for _, e := range es {
				fmt.Fprintf(w, "%s: %s\n", *file, e)
			}
			fmt.Fprintf(w, "%s: %d error(s)\n", *file, len(es))
		} else {
			fmt.Fprintf(w, "%s: %v\n", *file, err)
		}
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", *file)
	return 0
}
