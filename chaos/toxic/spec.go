package toxic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/holdfast-dev/holdfast"
	"github.com/prometheus/client_golang/prometheus"
)

// ProxySpec is a proxy as the API shows and accepts it, Toxiproxy's shape
// plus Protocol.
type ProxySpec struct {
	// Name identifies the proxy in the API. Required.
	Name string `json:"name"`
	// Listen is the address the proxy accepts connections on; after the
	// proxy starts it holds the real address (a port of 0 is resolved).
	// Default "127.0.0.1:0".
	Listen string `json:"listen"`
	// Upstream is where connections are forwarded: "host:port", or for an
	// HTTP proxy also "http://host:port" or "https://host:port". Required.
	Upstream string `json:"upstream"`
	// Enabled says whether the proxy is listening. On create it defaults to
	// true when the JSON leaves it out; a Go caller sets it.
	Enabled bool `json:"enabled"`
	// Protocol is "tcp" (the default: a byte pipe with Toxiproxy's toxics) or
	// "http" (a reverse proxy with HTTP toxics applied per request).
	Protocol string `json:"protocol"`
	// Toxics are the proxy's toxics in the order they run. On create and
	// populate they are added with the proxy; an update ignores them.
	Toxics []ToxicSpec `json:"toxics"`
}

// ToxicSpec is a toxic as the API shows and accepts it, Toxiproxy's shape.
type ToxicSpec struct {
	// Name identifies the toxic within its proxy. Default "<type>_<stream>".
	Name string `json:"name"`
	// Type is the kind of fault, such as "latency" or "http_status".
	Type string `json:"type"`
	// Stream is "upstream" (client to server) or "downstream" (server to
	// client, the default).
	Stream string `json:"stream"`
	// Toxicity is the probability in [0, 1] that the toxic applies: rolled
	// once per connection for TCP toxics and once per request for HTTP
	// toxics. The JSON API defaults a missing toxicity to 1; a Go caller
	// sets it (0 never applies).
	Toxicity float64 `json:"toxicity"`
	// Attributes are the type's parameters, such as {"latency": 100}.
	Attributes json.RawMessage `json:"attributes"`
}

// direction is a stream: upstream carries client bytes to the server,
// downstream carries server bytes back.
type direction uint8

const (
	upstream direction = iota
	downstream
)

func (d direction) String() string {
	if d == upstream {
		return "upstream"
	}
	return "downstream"
}

func parseStream(s string) (direction, bool) {
	switch strings.ToLower(s) {
	case "upstream":
		return upstream, true
	case "downstream", "":
		return downstream, true
	}
	return 0, false
}

// Protocols of a proxy.
const (
	protoTCP  = "tcp"
	protoHTTP = "http"
)

// kind is one toxic type.
type kind struct {
	name string
	// http marks a toxic for HTTP proxies; the others are TCP toxics.
	http bool
	// conn marks a TCP toxic that acts on the whole connection: it runs in
	// both streams and is also consulted when a connection is accepted.
	conn bool
	// early marks an HTTP toxic that always acts before the request is
	// forwarded, whatever its stream.
	early bool
	// parse reads the attributes into a Toxic (TCP) or an httpToxic.
	parse func(a *attrs) any
}

// kinds are the toxic types, by name.
var kinds = map[string]*kind{
	"latency":         {name: "latency", parse: parseLatency},
	"bandwidth":       {name: "bandwidth", parse: parseBandwidth},
	"slow_close":      {name: "slow_close", parse: parseSlowClose},
	"timeout":         {name: "timeout", parse: parseTimeout},
	"reset_peer":      {name: "reset_peer", parse: parseResetPeer},
	"slicer":          {name: "slicer", parse: parseSlicer},
	"limit_data":      {name: "limit_data", parse: parseLimitData},
	"noop":            {name: "noop", parse: parseNoop},
	"blackhole":       {name: "blackhole", conn: true, parse: parseBlackhole},
	"partition":       {name: "partition", conn: true, parse: parsePartition},
	"http_status":     {name: "http_status", http: true, early: true, parse: parseHTTPStatus},
	"http_fail_first": {name: "http_fail_first", http: true, early: true, parse: parseHTTPFailFirst},
	"http_delay":      {name: "http_delay", http: true, parse: parseHTTPDelay},
}

// entry is one toxic installed on a proxy. It is immutable: an update
// replaces the entry, which also re-rolls its toxicity on open connections,
// as Toxiproxy does.
type entry struct {
	name     string
	kind     *kind
	stream   direction
	toxicity float64
	tcp      Toxic     // for TCP kinds
	http     httpToxic // for HTTP kinds
	attrs    json.RawMessage

	// applied counts the connections or requests the toxic acts on. It is
	// set before the entry is published (proxyCounters.toxics) and never
	// after, so the data path reads it without a lock; nil counts nothing.
	applied prometheus.Counter
}

func (e *entry) spec() ToxicSpec {
	return ToxicSpec{
		Name:       e.name,
		Type:       e.kind.name,
		Stream:     e.stream.String(),
		Toxicity:   e.toxicity,
		Attributes: e.attrs,
	}
}

// newEntry validates t for a proxy of the given protocol. Every error is a
// *holdfast.ConfigError (joined when there are several) whose key is the
// JSON key inside the toxic, such as "attributes.latency".
func newEntry(t ToxicSpec, protocol string) (*entry, error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, holdfast.ConfigErrorf("toxic", key, format, args...))
	}
	k, ok := kinds[t.Type]
	switch {
	case t.Type == "":
		bad("type", "missing required field")
	case !ok:
		bad("type", "unknown toxic type %q", t.Type)
	case k.http && protocol != protoHTTP:
		bad("type", "%s needs a proxy with \"protocol\": \"http\"", t.Type)
	case !k.http && protocol == protoHTTP:
		bad("type", "%s is a TCP toxic; an http proxy takes http_status, http_fail_first and http_delay", t.Type)
	}
	dir, ok := parseStream(t.Stream)
	if !ok {
		bad("stream", "must be \"upstream\" or \"downstream\", got %q", t.Stream)
	}
	if t.Toxicity != t.Toxicity || t.Toxicity < 0 || t.Toxicity > 1 {
		bad("toxicity", "must be in [0, 1], got %g", t.Toxicity)
	}
	name := t.Name
	if name == "" && t.Type != "" {
		name = defaultName(t.Type, dir)
	}
	if err := checkName(name); err != nil {
		bad("name", "%v", err)
	}
	if len(errs) > 0 || k == nil {
		return nil, errors.Join(errs...)
	}
	a, err := newAttrs("attributes.", t.Attributes)
	if err != nil {
		return nil, err
	}
	v := k.parse(a)
	if err := a.finish(); err != nil {
		return nil, err
	}
	norm, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	e := &entry{name: name, kind: k, stream: dir, toxicity: t.Toxicity, attrs: norm}
	if k.http {
		e.http = v.(httpToxic)
	} else {
		e.tcp = v.(Toxic)
	}
	return e, nil
}

func defaultName(typ string, dir direction) string { return typ + "_" + dir.String() }

// nameOf returns the name t will have on a proxy of the given protocol, and
// false when its stream or type is invalid: Toxiproxy reports those, then
// a taken name (409), and only then bad attributes, so a conflict is
// checked between the two.
func nameOf(t ToxicSpec, protocol string) (string, bool) {
	k, ok := kinds[t.Type]
	dir, sok := parseStream(t.Stream)
	if !ok || !sok || k.http != (protocol == protoHTTP) {
		return "", false
	}
	if t.Name != "" {
		return t.Name, true
	}
	return defaultName(t.Type, dir), true
}

// updated returns a copy of e with the changes of a PATCH body: toxicity
// and attributes are merged over the current ones; name, type and stream
// may be repeated but not changed.
func (e *entry) updated(body []byte, protocol string) (*entry, error) {
	var in struct {
		Name       *string         `json:"name"`
		Type       *string         `json:"type"`
		Stream     *string         `json:"stream"`
		Toxicity   *float64        `json:"toxicity"`
		Attributes json.RawMessage `json:"attributes"`
	}
	if err := decodeJSON(body, &in, "toxic"); err != nil {
		return nil, err
	}
	var errs []error
	if in.Name != nil && *in.Name != e.name {
		errs = append(errs, holdfast.ConfigErrorf("toxic", "name", "cannot be changed; delete the toxic and add it again"))
	}
	if in.Type != nil && *in.Type != e.kind.name {
		errs = append(errs, holdfast.ConfigErrorf("toxic", "type", "cannot be changed; delete the toxic and add it again"))
	}
	if in.Stream != nil {
		if d, ok := parseStream(*in.Stream); !ok || d != e.stream {
			errs = append(errs, holdfast.ConfigErrorf("toxic", "stream", "cannot be changed; delete the toxic and add it again"))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	merged := map[string]json.RawMessage{}
	if err := json.Unmarshal(e.attrs, &merged); err != nil {
		return nil, err
	}
	if a := bytes.TrimSpace(in.Attributes); len(a) > 0 && string(a) != "null" {
		var patch map[string]json.RawMessage
		if err := json.Unmarshal(a, &patch); err != nil {
			return nil, holdfast.ConfigErrorf("toxic", "attributes", "must be a JSON object")
		}
		for k, v := range patch {
			merged[k] = v
		}
	}
	raw, err := json.Marshal(merged)
	if err != nil {
		return nil, err
	}
	spec := e.spec()
	spec.Attributes = raw
	if in.Toxicity != nil {
		spec.Toxicity = *in.Toxicity
	}
	return newEntry(spec, protocol)
}

// checkName accepts the names that can appear as one URL path segment.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("missing required field")
	case len(name) > 200:
		return fmt.Errorf("must be at most 200 bytes, got %d", len(name))
	case strings.ContainsAny(name, "/?#%"):
		return fmt.Errorf("must not contain '/', '?', '#' or '%%', got %q", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("must not contain control characters, got %q", name)
		}
	}
	return nil
}

// normalize fills the defaults of a proxy spec and validates it. Keys in
// errors are the JSON keys of the proxy.
func (p ProxySpec) normalize() (ProxySpec, error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, holdfast.ConfigErrorf("proxy", key, format, args...))
	}
	if err := checkName(p.Name); err != nil {
		bad("name", "%v", err)
	}
	switch strings.ToLower(p.Protocol) {
	case "", protoTCP:
		p.Protocol = protoTCP
	case protoHTTP:
		p.Protocol = protoHTTP
	default:
		bad("protocol", "must be \"tcp\" or \"http\", got %q", p.Protocol)
	}
	if p.Listen == "" {
		p.Listen = "127.0.0.1:0"
	}
	if err := checkHostPort(p.Listen, true); err != nil {
		bad("listen", "%v", err)
	}
	if p.Upstream == "" {
		bad("upstream", "missing required field")
	} else if p.Protocol == protoHTTP && strings.Contains(p.Upstream, "://") {
		u, err := url.Parse(p.Upstream)
		switch {
		case err != nil:
			bad("upstream", "%v", err)
		case u.Scheme != "http" && u.Scheme != "https":
			bad("upstream", "scheme must be http or https, got %q", u.Scheme)
		case u.Host == "":
			bad("upstream", "missing host in %q", p.Upstream)
		case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil:
			bad("upstream", "must be scheme://host:port only, got %q", p.Upstream)
		}
	} else if err := checkHostPort(p.Upstream, false); err != nil {
		bad("upstream", "%v", err)
	}
	if len(errs) > 0 {
		return p, errors.Join(errs...)
	}
	seen := map[string]bool{}
	for i, t := range p.Toxics {
		e, err := newEntry(t, p.Protocol)
		if err != nil {
			errs = append(errs, prefixKeys(err, "proxy", fmt.Sprintf("toxics[%d].", i)))
			continue
		}
		if seen[e.name] {
			bad(fmt.Sprintf("toxics[%d].name", i), "duplicate toxic name %q", e.name)
		}
		seen[e.name] = true
		p.Toxics[i] = e.spec()
	}
	return p, errors.Join(errs...)
}

func checkHostPort(addr string, allowZero bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("must be host:port, got %q", addr)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("bad host in %q", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !allowZero) {
		return fmt.Errorf("bad port in %q", addr)
	}
	return nil
}

// prefixKeys re-keys the ConfigErrors inside err under policy, with prefix
// before each key: toxic errors inside a proxy become "toxics[0]....".
func prefixKeys(err error, policy, prefix string) error {
	var out []error
	for _, e := range flatten(err) {
		var ce *holdfast.ConfigError
		if errors.As(e, &ce) {
			out = append(out, &holdfast.ConfigError{Policy: policy, Key: prefix + ce.Key, Message: ce.Message})
		} else {
			out = append(out, e)
		}
	}
	return errors.Join(out...)
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// invalidMessage renders a validation error for clients: "key: message" for
// each ConfigError, joined by "; ".
func invalidMessage(err error) string {
	var parts []string
	for _, e := range flatten(err) {
		var ce *holdfast.ConfigError
		if errors.As(e, &ce) && ce.Key != "" {
			parts = append(parts, ce.Key+": "+ce.Message)
		} else {
			parts = append(parts, e.Error())
		}
	}
	return strings.Join(parts, "; ")
}

// decodeJSON decodes one JSON value from body into v, naming the key of a
// mistyped field.
func decodeJSON(body []byte, v any, policy string) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field == "" {
				return holdfast.ConfigErrorf(policy, "", "bad request body: must be %s, got a JSON %s", jsonKind(te.Type.Kind().String()), te.Value)
			}
			return holdfast.ConfigErrorf(policy, te.Field, "must be %s, got a JSON %s", jsonKind(te.Type.Kind().String()), te.Value)
		}
		return holdfast.ConfigErrorf(policy, "", "bad request body: %v", err)
	}
	if dec.More() {
		return holdfast.ConfigErrorf(policy, "", "bad request body: data after the JSON value")
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "float64", "float32", "int", "int64":
		return "a number"
	case "slice":
		return "an array"
	}
	return "an object"
}
