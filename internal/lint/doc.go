// Package lint finds retry storms and timeout drift in a chain of holdfast
// configs, one file per hop, before they ship: the checks behind
// `holdfast lint -c edge.yaml -c service-a.yaml -c service-b.yaml`.
//
// The model: each [File] is one proxy, its config as [config.Parse] returned
// it and the lines of its keys. An upstream of one file calls another file
// when one of its endpoint addresses is that file's listen address (or names
// the file, as http://service-a calls service-a.yaml), or when a [Link] says
// so. A request then follows a path: a route of the first file, the upstream
// it sends to, a route of the next file that may take the same request (its
// path, methods and headers allow it), and so on, until an upstream that
// calls no file given: the deepest service. The rules look at single routes
// and upstreams, at each pair of linked routes (timeouts), and at each whole
// path (retry amplification).
//
// Every rule is a pure function of the configs; [Lint] runs them all and
// returns [Finding]s, each with its file, key path, line, rule and
// [Severity]. docs/lint.md gives every rule, an example and the reason.
//
//	edge, err := lint.ParseFile("edge.yaml", edgeData)
//	...
//	findings, err := lint.Lint([]*lint.File{edge, svc}, lint.Options{})
//	for _, f := range findings {
//		fmt.Println(f) // edge.yaml:12: routes[0]: up to 18 requests ... [retry-amplification]
//	}
package lint
