package lint

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/yamlpath"
)

// graph is which upstream of which file calls which file, and, for each
// route target that calls a file, the routes there that may take its
// requests.
type graph struct {
	files []*File
	// calls[fi][upstream] lists the files the upstream calls, in order.
	calls []map[string][]int
	// edges are the route targets that call a file, in file and route
	// order.
	edges []edge
	// byTarget finds a target's edges: edges[byTarget[t][k]].
	byTarget map[targetRef][]int
	match    matcher
}

// targetRef is one upstream a route sends to: its upstream key, or the
// j-th entry of its split.
type targetRef struct {
	file, route, split int // split is -1 for the route's upstream key
}

// edge is a route target calling a file: the routes of that file that may
// take the target's requests, in order.
type edge struct {
	from     targetRef
	upstream string
	to       int
	inner    []int
	// partial is set when the bound on route pairs cut inner short.
	partial bool
}

func newGraph(files []*File, links []Link) (*graph, error) {
	g := &graph{files: files, calls: make([]map[string][]int, len(files)), byTarget: map[targetRef][]int{}}
	explicit := make([]map[string][]int, len(files))
	for _, l := range links {
		from, err := findFile(files, l.From)
		if err != nil {
			return nil, err
		}
		if _, ok := cfg(files[from]).Upstreams[l.Upstream]; !ok {
			return nil, fmt.Errorf("%w: %s has no upstream %q", ErrLink, files[from].Name, l.Upstream)
		}
		if explicit[from] == nil {
			explicit[from] = map[string][]int{}
		}
		to := explicit[from][l.Upstream]
		if l.To != "" {
			t, err := findFile(files, l.To)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(to, t) {
				to = append(to, t)
			}
		}
		explicit[from][l.Upstream] = to
	}
	idx := newListenIndex(files)
	for fi, f := range files {
		g.calls[fi] = map[string][]int{}
		for _, name := range sortedKeys(cfg(f).Upstreams) {
			if to, ok := explicit[fi][name]; ok {
				g.calls[fi][name] = to
				continue
			}
			if u := cfg(f).Upstreams[name]; u != nil {
				g.calls[fi][name] = idx.called(u)
			}
		}
	}
	for fi, f := range files {
		for ri, r := range cfg(f).Routes {
			if r == nil {
				continue
			}
			for _, t := range targets(fi, ri, r) {
				for _, to := range g.calls[fi][t.upstream] {
					g.byTarget[t.ref] = append(g.byTarget[t.ref], len(g.edges))
					inner := g.match.compatible(r.Match, cfg(files[to]).Routes)
					g.edges = append(g.edges, edge{from: t.ref, upstream: t.upstream, to: to,
						inner: inner, partial: g.match.truncated})
				}
			}
		}
	}
	return g, nil
}

// cfg returns f's config, or an empty one for a File built without one.
func cfg(f *File) *config.Config {
	if f.Config == nil {
		return &config.Config{}
	}
	return f.Config
}

// findFile finds the file a link names: by its Name, or else by the base
// of its name when only one file has that base.
func findFile(files []*File, name string) (int, error) {
	for i, f := range files {
		if f.Name == name {
			return i, nil
		}
	}
	found := -1
	for i, f := range files {
		if filepath.Base(f.Name) == filepath.Base(name) {
			if found >= 0 {
				return 0, fmt.Errorf("%w: %q names both %s and %s", ErrLink, name, files[found].Name, f.Name)
			}
			found = i
		}
	}
	if found < 0 {
		return 0, fmt.Errorf("%w: no file %q among the configs", ErrLink, name)
	}
	return found, nil
}

// target is one upstream a route sends to, with the key that names it.
type target struct {
	ref      targetRef
	upstream string
	key      string
}

func targets(fi, ri int, r *config.Route) []target {
	p := yamlpath.Index("routes", ri)
	if len(r.Split) == 0 {
		return []target{{targetRef{fi, ri, -1}, r.Upstream, p + ".upstream"}}
	}
	out := make([]target, len(r.Split))
	for j, s := range r.Split {
		out[j] = target{targetRef{fi, ri, j}, s.Upstream, yamlpath.Index(p+".split", j) + ".upstream"}
	}
	return out
}

// listenIndex finds the files an endpoint address reaches: by the exact
// address a file listens on; by the port of a file listening on every
// interface, for a loopback endpoint (the same machine); and by name, for
// an endpoint whose host is a file's base name without its extension
// (http://service-a:8080 calls service-a.yaml, as a service name does
// behind a Kubernetes Service, whose port may differ from the pod's).
type listenIndex struct {
	exact    map[string][]int // canonical host:port
	wildcard map[string][]int // port
	names    map[string][]int // lower-case base name without extension
}

func newListenIndex(files []*File) listenIndex {
	x := listenIndex{exact: map[string][]int{}, wildcard: map[string][]int{}, names: map[string][]int{}}
	for fi, f := range files {
		for _, addr := range cfg(f).Listen {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				continue
			}
			switch h := canonicalHost(host); h {
			case "", "0.0.0.0", "::":
				x.wildcard[port] = appendOnce(x.wildcard[port], fi)
			default:
				x.exact[net.JoinHostPort(h, port)] = appendOnce(x.exact[net.JoinHostPort(h, port)], fi)
			}
		}
		base := strings.ToLower(filepath.Base(f.Name))
		base = strings.TrimSuffix(base, filepath.Ext(base))
		if base != "" {
			x.names[base] = appendOnce(x.names[base], fi)
		}
	}
	return x
}

// called returns the files u's endpoints reach, in file order.
func (x listenIndex) called(u *config.Upstream) []int {
	var out []int
	for _, ep := range u.Endpoints {
		a, err := url.Parse(ep.Address)
		if err != nil {
			continue
		}
		host, port := canonicalHost(a.Hostname()), a.Port()
		if port == "" {
			port = "80"
			if strings.EqualFold(a.Scheme, "https") {
				port = "443"
			}
		}
		var hit []int
		hit = append(hit, x.exact[net.JoinHostPort(host, port)]...)
		if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
			hit = append(hit, x.wildcard[port]...)
		}
		hit = append(hit, x.names[host]...)
		for _, fi := range hit {
			out = appendOnce(out, fi)
		}
	}
	slices.Sort(out)
	return out
}

// canonicalHost lower-cases a host, reads localhost as 127.0.0.1 and writes
// an IP address in its one form (::ffff:127.0.0.1 is 127.0.0.1).
func canonicalHost(h string) string {
	h = strings.ToLower(h)
	if h == "localhost" {
		return "127.0.0.1"
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Unmap().String()
	}
	return h
}

func appendOnce(s []int, v int) []int {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}
