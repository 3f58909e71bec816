package admin

import (
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"slices"
	"strings"
	"testing"

	"github.com/holdfast-dev/holdfast/holdfasthttp"
)

// reasonConsts returns the Reason* constants declared in file, with the
// package-qualified name each is set to, if any (proxy's are holdfasthttp's).
func reasonConsts(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(gotoken.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != gotoken.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if !strings.HasPrefix(n.Name, "Reason") {
					continue
				}
				out[n.Name] = ""
				if sel, ok := vs.Values[i].(*ast.SelectorExpr); ok {
					out[n.Name] = sel.X.(*ast.Ident).Name + "." + sel.Sel.Name
				}
			}
		}
	}
	return out
}

// TestReasonsComplete checks that holdfasthttp.Reasons, from which every
// route's local-reply series are made, lists every reason there is: each
// of holdfasthttp's Reason constants once, and so each of the proxy's,
// which are holdfasthttp's.
func TestReasonsComplete(t *testing.T) {
	hh := reasonConsts(t, "../holdfasthttp/reply.go")
	if len(holdfasthttp.Reasons) != len(hh) {
		t.Errorf("holdfasthttp.Reasons has %d reasons; holdfasthttp declares %d Reason constants", len(holdfasthttp.Reasons), len(hh))
	}
	seen := map[string]bool{}
	for _, r := range holdfasthttp.Reasons {
		if seen[r] {
			t.Errorf("holdfasthttp.Reasons lists %q twice", r)
		}
		seen[r] = true
	}
	for name, from := range reasonConsts(t, "../proxy/reply.go") {
		if _, ok := hh[strings.TrimPrefix(from, "holdfasthttp.")]; !ok || !strings.HasPrefix(from, "holdfasthttp.") {
			t.Errorf("proxy.%s is %q, not one of holdfasthttp's reasons", name, from)
		}
	}
	if !slices.Contains(localReplyReasons, holdfasthttp.ReasonClientClosed) {
		t.Errorf("localReplyReasons lacks %q", holdfasthttp.ReasonClientClosed)
	}
}
