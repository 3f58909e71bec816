// Command holdfast is the one binary of holdfast: the proxy, its validator, the
// demo, the chaos proxy and the drill runner. Each subcommand lives in its own
// file; the table below names them all.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand. run gets the arguments after the subcommand's
// name and returns the process exit code.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands is every subcommand, by name.
var commands = map[string]command{
	"serve":    {"run the proxy: holdfast serve -c holdfast.yaml", runServe},
	"validate": {"check a config file and print every error with its key and line", runValidate},
	"lint":     {"find retry storms and timeout drift across one config file per hop: holdfast lint -c edge.yaml -c service-a.yaml", runLint},
	"rules":    {"write Prometheus recording and burn-rate alerting rules for the config's slos: holdfast rules -c holdfast.yaml", runRules},
	"import":   {"write a holdfast config from Istio VirtualService/DestinationRule and Linkerd ServiceProfile files, and report what it could not translate", runImport},
	"demo":     {"start misbehaving backends and show them direct vs through holdfast", runDemo},
	"chaos":    {"run the chaos proxy (Toxiproxy-compatible API, TCP and HTTP toxics)", runChaos},
	"drill":    {"run a chaos experiment against a steady-state hypothesis; write a journal and an HTML report", runDrill},
	"version":  {"print the version", runVersion},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "holdfast: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: holdfast <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
}
