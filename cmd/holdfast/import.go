package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/importer"
)

// fileList is a flag that may be given several times.
type fileList []string

func (f *fileList) String() string { return strings.Join(*f, ",") }

func (f *fileList) Set(s string) error {
	*f = append(*f, s)
	return nil
}

// runImport is `holdfast import -f virtualservice.yaml -f
// destinationrule.yaml [-f serviceprofile.yaml] [-o holdfast.yaml]
// [-report FILE]`: it writes a holdfast config translated from Istio and
// Linkerd resources, and a report of every field it did not translate
// exactly. It exits 0 when a config was written, 1 when none could be, 2 on
// bad flags.
func runImport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files fileList
	fs.Var(&files, "f", "an Istio VirtualService or DestinationRule, or a Linkerd ServiceProfile, file (may hold several resources; repeat -f for more files; - is standard input)")
	out := fs.String("o", "-", "the holdfast config to write (- is standard output)")
	reportPath := fs.String("report", "", "where to write the report of fields not translated (default standard error)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: holdfast import -f virtualservice.yaml -f destinationrule.yaml [-f serviceprofile.yaml] [-o holdfast.yaml] [-report FILE]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(files) == 0 || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}

	in := make([]importer.File, 0, len(files))
	for _, name := range files {
		data, err := readImportFile(name)
		if err != nil {
			fmt.Fprintf(stderr, "holdfast import: %v\n", err)
			return 1
		}
		in = append(in, importer.File{Name: name, Data: data})
	}
	res, err := importer.Import(in)
	if res != nil {
		if werr := writeReport(*reportPath, stderr, res.Findings); werr != nil {
			fmt.Fprintf(stderr, "holdfast import: %v\n", werr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "holdfast import: %v\n", err)
		var es config.Errors
		if errors.As(err, &es) {
			for _, e := range es {
				fmt.Fprintf(stderr, "  %s\n", e)
			}
		}
		return 1
	}
	if *out == "-" {
		_, err = stdout.Write(res.YAML)
	} else {
		err = os.WriteFile(*out, res.YAML, 0o644)
	}
	if err != nil {
		fmt.Fprintf(stderr, "holdfast import: %v\n", err)
		return 1
	}
	return 0
}

// readImportFile reads an input as holdfast reads its own config: at most
// config.MaxFileBytes, whatever the file is.
func readImportFile(name string) ([]byte, error) {
	if name != "-" {
		return config.ReadFile(name)
	}
	data, err := io.ReadAll(io.LimitReader(os.Stdin, config.MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > config.MaxFileBytes {
		return nil, fmt.Errorf("read standard input: %w", config.ErrFileTooLarge)
	}
	return data, nil
}

// writeReport writes one line per finding and a count, to path or, when
// path is "", to stderr.
func writeReport(path string, stderr io.Writer, findings []importer.Finding) (err error) {
	w := stderr
	if path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}()
		w = f
	}
	bw := bufio.NewWriter(w)
	notTranslated, notes := 0, 0
	for _, f := range findings {
		fmt.Fprintln(bw, f)
		if f.Severity == importer.NotTranslated {
			notTranslated++
		} else {
			notes++
		}
	}
	fmt.Fprintf(bw, "%d not translated, %d note(s)\n", notTranslated, notes)
	return bw.Flush()
}
