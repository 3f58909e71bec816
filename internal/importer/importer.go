package importer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/holdfast-dev/holdfast/config"
)

// File is one input file: a name for findings and its bytes.
type File struct {
	Name string
	Data []byte
}

// Severity says what a [Finding] means for the translated config.
type Severity int

const (
	// NotTranslated: holdfast has no equivalent for the field, and the
	// config goes without it.
	NotTranslated Severity = iota
	// Note: the field was translated to something near but not equal, or
	// the config needs a hand (endpoints), or a default differs.
	Note
)

func (s Severity) String() string {
	if s == Note {
		return "note"
	}
	return "not translated"
}

// Finding is one field the import could not carry over exactly.
type Finding struct {
	File     string // the input file's name
	Resource string // "VirtualService reviews", "" for the file itself
	Path     string // the field, "spec.http[0].mirror"; "" for the whole resource
	Line     int    // the field's line in the file, 0 when unknown
	Severity Severity
	Msg      string
}

// String formats f as FILE: RESOURCE: PATH (line N): SEVERITY: MSG, the
// shape of holdfast's own config errors with the resource added.
func (f Finding) String() string {
	var b strings.Builder
	b.WriteString(f.File)
	b.WriteString(": ")
	if f.Resource != "" {
		b.WriteString(f.Resource)
		b.WriteString(": ")
	}
	if f.Path != "" {
		b.WriteString(f.Path)
		if f.Line > 0 {
			fmt.Fprintf(&b, " (line %d)", f.Line)
		}
		b.WriteString(": ")
	} else if f.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", f.Line)
	}
	b.WriteString(f.Severity.String())
	b.WriteString(": ")
	b.WriteString(f.Msg)
	return b.String()
}

// Result is a translated config.
type Result struct {
	// YAML is the holdfast config, one document, with a comment above
	// each upstream and route naming the resource it came from.
	YAML []byte
	// Config is YAML as config.Parse reads it, defaults applied.
	Config *config.Config
	// Findings lists every field not translated exactly, by file, then
	// by resource and field in file order.
	Findings []Finding
}

// Errors of [Import]. Each comes inside an *[Error].
var (
	// ErrSyntax: an input file is not YAML.
	ErrSyntax = errors.New("importer: invalid YAML")
	// ErrNoRoutes: the inputs held nothing that becomes a route (no
	// VirtualService HTTP route and no ServiceProfile).
	ErrNoRoutes = errors.New("importer: nothing to translate into a route")
	// ErrInvalidOutput: the translated config does not pass holdfast's
	// validation. It is a bug of the importer; the error lists the
	// config's errors.
	ErrInvalidOutput = errors.New("importer: the translated config does not validate")
)

// Error is a failed import: which of the errors above, where, and why.
type Error struct {
	Kind error  // ErrSyntax, ErrNoRoutes or ErrInvalidOutput
	File string // the input file, for ErrSyntax
	Line int    // its line, when known
	Err  error  // the cause: the YAML parser's error, config.Errors
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.Error())
	if e.File != "" {
		b.WriteString(": " + e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, " (line %d)", e.Line)
		}
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Is matches the error's kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Import translates the resources of files into one holdfast config.
// Resources it does not translate (other kinds) and fields it cannot
// express are listed in the result's Findings. The error is an *[Error];
// with [ErrNoRoutes] the result still carries the findings that explain
// it.
func Import(files []File) (*Result, error) {
	imp := &importer{targets: map[targetKey]*target{}, seen: map[Finding]bool{}, vsHosts: map[string]bool{}}
	for _, f := range files {
		if err := imp.readFile(f); err != nil {
			return nil, err
		}
	}
	imp.dropShadowedFallbacks()
	imp.keepUsedTargets()
	imp.nameTargets()
	imp.buildUpstreams()
	imp.reportUnused()
	cfg := imp.assemble()
	imp.sortFindings(files)
	res := &Result{Findings: imp.findings}
	if len(cfg.Routes) == 0 {
		return res, &Error{Kind: ErrNoRoutes}
	}
	out, err := imp.encode(files, cfg)
	if err != nil {
		return nil, &Error{Kind: ErrInvalidOutput, Err: err}
	}
	parsed, err := config.Parse(out)
	if err != nil {
		return nil, &Error{Kind: ErrInvalidOutput, Err: err}
	}
	res.YAML, res.Config = out, parsed
	return res, nil
}

// importer holds what the resources read so far add up to.
type importer struct {
	findings []Finding
	seen     map[Finding]bool

	routes      []*route
	vsHosts     map[string]bool // hosts VirtualService routes send to
	targets     map[targetKey]*target
	targetOrder []*target
	rules       []*destinationRule
	profiles    []*serviceProfile
	services    []*virtualService
}

func (imp *importer) add(r *resource, path string, line int, sev Severity, format string, args ...any) {
	f := Finding{File: r.file, Resource: r.name, Path: path, Line: line, Severity: sev, Msg: fmt.Sprintf(format, args...)}
	// A policy shared by several upstreams is translated once for each;
	// its findings are told once.
	if imp.seen[f] {
		return
	}
	imp.seen[f] = true
	imp.findings = append(imp.findings, f)
}

// readFile reads every resource of one file, document by document.
func (imp *importer) readFile(f File) error {
	dec := yaml.NewDecoder(bytes.NewReader(f.Data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			line := 0
			msg := strings.TrimPrefix(err.Error(), "yaml: ")
			if _, e := fmt.Sscanf(err.Error(), "yaml: line %d:", &line); e == nil {
				msg = strings.TrimSpace(strings.TrimPrefix(msg, "line "+strconv.Itoa(line)+":"))
			}
			return &Error{Kind: ErrSyntax, File: f.Name, Line: line, Err: errors.New(msg)}
		}
		if len(doc.Content) == 0 || isNull(doc.Content[0]) {
			continue // an empty document, as between "---" lines
		}
		budget := countNodes(doc.Content[0]) + aliasBudget
		top := value{r: &resource{imp: imp, file: f.Name, budget: &budget}, n: doc.Content[0]}
		imp.readResource(top)
	}
}

// countNodes counts the nodes of a tree without following aliases.
func countNodes(n *yaml.Node) int {
	count, stack := 0, []*yaml.Node{n}
	for len(stack) > 0 {
		n, stack = stack[len(stack)-1], stack[:len(stack)-1]
		count++
		stack = append(stack, n.Content...)
	}
	return count
}

// kinds are the resources Import translates, by kind, with the API groups
// each may come from.
var kinds = map[string]struct {
	group string
	read  func(*importer, *object, meta)
}{
	"VirtualService":  {"networking.istio.io", (*importer).readVirtualService},
	"DestinationRule": {"networking.istio.io", (*importer).readDestinationRule},
	"ServiceProfile":  {"linkerd.io", (*importer).readServiceProfile},
}

// meta is a resource's identity.
type meta struct {
	name, namespace string
	at              value // the resource's top mapping
	nameAt          value // metadata.name, or at when it has none
}

// readResource reads one Kubernetes object: apiVersion, kind, metadata and
// spec; a kind: List holds objects in items.
func (imp *importer) readResource(v value) {
	o := v.object()
	if o == nil {
		return
	}
	kind, _, _ := o.str("kind")
	apiVersion, av, _ := o.str("apiVersion")
	md := o.obj("metadata")
	name, nameAt, _ := md.str("name")
	ns, _, _ := md.str("namespace")
	v.r.name = kind + " " + qualified(ns, name)
	if kind == "" {
		v.r.name = ""
		v.notTranslated("not a Kubernetes resource (no kind); skipped")
		return
	}
	if kind == "List" || strings.HasSuffix(kind, "List") && o.has("items") {
		v.r.name = ""
		for _, item := range o.list("items") {
			r := *v.r
			imp.readResource(value{r: &r, path: item.path, n: item.n})
		}
		o.done()
		return
	}
	k, ok := kinds[kind]
	if !ok {
		v.notTranslated("kind %s is not a VirtualService, DestinationRule or ServiceProfile; skipped", kind)
		return
	}
	if av.n == nil {
		av = v
	}
	switch group, _, _ := strings.Cut(apiVersion, "/"); {
	case apiVersion == "":
		av.note("no apiVersion; read as a %s of %s", kind, k.group)
	case group != k.group:
		av.note("%s comes from %s/..., got %q; read as one", kind, k.group, apiVersion)
	}
	if name == "" {
		v.r.name = kind + " (unnamed)"
	}
	// metadata (labels, annotations, ...) and status say nothing about
	// traffic.
	o.get("status")
	if nameAt.n == nil {
		nameAt = v
	}
	k.read(imp, o, meta{name: name, namespace: ns, at: v, nameAt: nameAt})
	o.done()
}

func qualified(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// targetKey names one upstream: a service host (as Istio resolves it),
// a subset and a port (0 when the destination names none).
type targetKey struct {
	host   string
	subset string
	port   int
}

// target is one upstream to build, and where it was first named.
type target struct {
	key     targetKey
	written string // the host as the first destination wrote it
	at      value
	name    string
	up      *config.Upstream
	from    string // the resources it was built from, for its comment
}

// target returns the upstream for a destination, creating it.
func (imp *importer) target(at value, written, namespace, subset string, port int) *target {
	k := targetKey{host: fqdn(written, namespace), subset: subset, port: port}
	if t, ok := imp.targets[k]; ok {
		return t
	}
	t := &target{key: k, written: strings.ToLower(written), at: at}
	imp.targets[k] = t
	imp.targetOrder = append(imp.targetOrder, t)
	return t
}

// fqdn resolves a service host as Istio does: a short name (no dot) is
// a service of the resource's namespace ("default" when the manifest names
// none), anything else is taken as written.
func fqdn(host, namespace string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if strings.Contains(host, ".") || host == "" || strings.Contains(host, "*") {
		return host
	}
	if namespace == "" {
		namespace = "default"
	}
	return host + "." + strings.ToLower(namespace) + ".svc.cluster.local"
}

// route is one holdfast route being built.
type route struct {
	cfg   config.Route
	base  string // the name before it is made unique
	from  string // "VirtualService reviews, spec.http[0]", for its comment
	at    value
	to    *target
	split []weighted
	// attemptsComment explains retry.attempts, for the config written.
	attemptsComment string
	// fallbackFor is the host of the ServiceProfile whose every other
	// request this route takes; "" for other routes.
	fallbackFor string
}

type weighted struct {
	to     *target
	weight int
}

// dropShadowedFallbacks leaves out a ServiceProfile's route for every
// other request when VirtualService routes send to its host: they decide
// where those requests go.
func (imp *importer) dropShadowedFallbacks() {
	kept := imp.routes[:0]
	for _, r := range imp.routes {
		if r.fallbackFor != "" && imp.vsHosts[r.fallbackFor] {
			r.at.note("VirtualService routes send to %s too: they take the requests none of this profile's routes match, and the profile's routes stand where the input puts them", r.fallbackFor)
			continue
		}
		if r.fallbackFor != "" {
			r.at.note("requests no route matches reach the service by a route of their own, %s: no retries, and holdfast's default timeout, %s, where Linkerd has none", r.base, r.cfg.Timeout)
		}
		kept = append(kept, r)
	}
	imp.routes = kept
}

// keepUsedTargets forgets the upstreams no route sends to (those of
// routes left out).
func (imp *importer) keepUsedTargets() {
	used := map[*target]bool{}
	for _, r := range imp.routes {
		if r.to != nil {
			used[r.to] = true
		}
		for _, w := range r.split {
			used[w.to] = true
		}
	}
	kept := imp.targetOrder[:0]
	for _, t := range imp.targetOrder {
		if used[t] {
			kept = append(kept, t)
		}
	}
	imp.targetOrder = kept
}

// assemble names the routes and puts the config together.
func (imp *importer) assemble() *config.Config {
	cfg := &config.Config{Upstreams: map[string]*config.Upstream{}}
	for _, t := range imp.targetOrder {
		cfg.Upstreams[t.name] = t.up
	}
	names := newNames()
	var catchAll *route
	for _, r := range imp.routes {
		r.cfg.Name = names.unique(r.base)
		switch {
		case len(r.split) > 0:
			for _, w := range r.split {
				r.cfg.Split = append(r.cfg.Split, config.Split{Upstream: w.to.name, Weight: w.weight})
			}
		case r.to != nil:
			r.cfg.Upstream = r.to.name
		}
		if catchAll != nil {
			r.at.note("route %s is never used: route %s (%s) before it takes every request, and holdfast routes do not match on the Host", r.cfg.Name, catchAll.cfg.Name, catchAll.from)
		}
		if catchAll == nil && matchesAll(r.cfg.Match) {
			catchAll = r
		}
		rc := r.cfg
		cfg.Routes = append(cfg.Routes, &rc)
	}
	return cfg
}

func matchesAll(m config.Match) bool {
	return m.Path == "" && (m.PathPrefix == "" || m.PathPrefix == "/") && m.PathRegex == "" && len(m.Methods) == 0 && len(m.Headers) == 0
}

// names hands out unique names: a name, or name-2, name-3, ... when it
// is taken. next remembers where each name's count stands, so that many
// routes of one name cost no more than one each.
type names struct {
	taken map[string]bool
	next  map[string]int
}

func newNames() *names { return &names{taken: map[string]bool{}, next: map[string]int{}} }

func (ns *names) unique(name string) string {
	n := name
	for i := max(ns.next[name], 2); ns.taken[n]; i++ {
		n = name + "-" + strconv.Itoa(i)
		ns.next[name] = i + 1
	}
	ns.taken[n] = true
	return n
}

// nameTargets names each upstream for its service's short name (the
// full host when two services share a short name), its subset, and its
// port when one service and subset are reached on several.
func (imp *importer) nameTargets() {
	hostsOf := map[string]map[string]bool{} // short name -> hosts
	ports := map[targetKey]int{}            // (host, subset) -> ports seen
	for _, t := range imp.targetOrder {
		s := shortName(t.key.host)
		if hostsOf[s] == nil {
			hostsOf[s] = map[string]bool{}
		}
		hostsOf[s][t.key.host] = true
		ports[targetKey{host: t.key.host, subset: t.key.subset}]++
	}
	taken := newNames()
	for _, t := range imp.targetOrder {
		name := shortName(t.key.host)
		if len(hostsOf[name]) > 1 {
			name = t.key.host
		}
		if t.key.subset != "" {
			name += "-" + t.key.subset
		}
		if ports[targetKey{host: t.key.host, subset: t.key.subset}] > 1 && t.key.port != 0 {
			name += "-" + strconv.Itoa(t.key.port)
		}
		t.name = taken.unique(sanitize(name))
	}
}

func shortName(host string) string {
	s, _, _ := strings.Cut(host, ".")
	if s == "" {
		return "upstream"
	}
	return s
}

// sanitize keeps a name to letters, digits, '.', '_' and '-', for metric
// labels and logs.
func sanitize(s string) string {
	var b strings.Builder
	dash := false
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		switch {
		case ok:
			b.WriteRune(c)
			dash = c == '-'
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == "" {
		return "route"
	}
	if len(out) > 100 {
		out = out[:100]
	}
	return out
}

// encode writes cfg as YAML, with a comment above each upstream and route
// naming what it came from.
func (imp *importer) encode(files []File, cfg *config.Config) ([]byte, error) {
	// config.EncodeRedacted is the encoder of a config for display: zero
	// values left out, durations as strings. It hides the values of
	// header matches on credential headers (Authorization, Cookie, ...);
	// an import writes the user's own config, so they are put back.
	n, err := config.EncodeRedacted(cfg)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = filepath.Base(f.Name)
	}
	n.HeadComment = "Written by holdfast import from " + strings.Join(names, ", ") + ".\n" +
		"Every upstream's endpoint is its Kubernetes service's name: put the real addresses in.\n" +
		"The import's report lists every field it did not translate exactly."
	byName := map[string]*target{}
	for _, t := range imp.targetOrder {
		byName[t.name] = t
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "upstreams":
			for j := 0; j+1 < len(v.Content); j += 2 {
				if t := byName[v.Content[j].Value]; t != nil {
					v.Content[j].HeadComment = t.from
				}
			}
		case "routes":
			for j, item := range v.Content {
				if j < len(imp.routes) {
					item.HeadComment = "from " + imp.routes[j].from
					restoreHeaders(item, cfg.Routes[j].Match.Headers)
					if c := imp.routes[j].attemptsComment; c != "" {
						if a := mapValue(mapValue(item, "retry"), "attempts"); a != nil {
							a.LineComment = c
						}
					}
				}
			}
		}
	}
	flowLists(n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// restoreHeaders puts the header-match values of a route's encoded match
// back as the config has them.
func restoreHeaders(routeNode *yaml.Node, headers []config.HeaderMatch) {
	match := mapValue(routeNode, "match")
	list := mapValue(match, "headers")
	if list == nil || len(list.Content) != len(headers) {
		return
	}
	for i, h := range headers {
		item := list.Content[i]
		if v := mapValue(item, "exact"); v != nil {
			*v = *strNode(h.Exact)
		}
		if v := mapValue(item, "regex"); v != nil {
			*v = *strNode(h.Regex)
		}
	}
}

// flowLists writes lists of scalars on one line: retry_on: [reset, 5xx].
func flowLists(n *yaml.Node) {
	if n.Kind == yaml.SequenceNode && len(n.Content) > 0 {
		flow := true
		for _, c := range n.Content {
			flow = flow && c.Kind == yaml.ScalarNode
		}
		if flow {
			n.Style = yaml.FlowStyle
		}
	}
	for _, c := range n.Content {
		flowLists(c)
	}
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.DoubleQuotedStyle}
}

// reportUnused names the DestinationRules and subsets no route sends to.
func (imp *importer) reportUnused() {
	for _, dr := range imp.rules {
		if !dr.used {
			dr.at.note("no translated route sends to host %s; the rule is not used", dr.host)
			continue
		}
		dr.policy.reportUnusedPorts()
		for _, s := range dr.subsets {
			if !s.used {
				s.at.note("no translated route sends to subset %s; it is not used", s.name)
				continue
			}
			s.policy.reportUnusedPorts()
		}
	}
}

// sortFindings puts the findings in file order, then line order; those of
// one line keep the order they were found in.
func (imp *importer) sortFindings(files []File) {
	index := map[string]int{}
	for i, f := range files {
		if _, ok := index[f.Name]; !ok {
			index[f.Name] = i
		}
	}
	slices.SortStableFunc(imp.findings, func(a, b Finding) int {
		if d := index[a.File] - index[b.File]; d != 0 {
			return d
		}
		return a.Line - b.Line
	})
}
