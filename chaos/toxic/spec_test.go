package toxic

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/holdfast-dev/holdfast"
)

// toxicCases is the validation table; it also seeds FuzzParseToxic.
var toxicCases = []struct {
	name     string
	body     string // a POST /proxies/{p}/toxics body
	protocol string
	wantKeys []string // keys named by the errors; nil means valid
	wantName string
}{
	{"latency defaults", `{"type":"latency"}`, protoTCP, nil, "latency_downstream"},
	{"latency full", `{"name":"lag","type":"latency","stream":"upstream","toxicity":0.5,"attributes":{"latency":100,"jitter":10}}`, protoTCP, nil, "lag"},
	{"stream is case-insensitive", `{"type":"latency","stream":"UPSTREAM"}`, protoTCP, nil, "latency_upstream"},
	{"negative latency", `{"type":"latency","attributes":{"latency":-5}}`, protoTCP, []string{"attributes.latency"}, ""},
	{"fractional latency", `{"type":"latency","attributes":{"latency":1.5}}`, protoTCP, []string{"attributes.latency"}, ""},
	{"latency as string", `{"type":"latency","attributes":{"latency":"100"}}`, protoTCP, []string{"attributes.latency"}, ""},
	{"huge latency", `{"type":"latency","attributes":{"latency":1e30}}`, protoTCP, []string{"attributes.latency"}, ""},
	{"unknown attribute", `{"type":"latency","attributes":{"latncy":1}}`, protoTCP, []string{"attributes.latncy"}, ""},
	{"attributes not an object", `{"type":"latency","attributes":[1]}`, protoTCP, []string{"attributes"}, ""},
	{"toxicity above 1", `{"type":"latency","toxicity":1.01}`, protoTCP, []string{"toxicity"}, ""},
	{"toxicity below 0", `{"type":"latency","toxicity":-0.1}`, protoTCP, []string{"toxicity"}, ""},
	{"bad stream", `{"type":"latency","stream":"both"}`, protoTCP, []string{"stream"}, ""},
	{"unknown type", `{"type":"lag"}`, protoTCP, []string{"type"}, ""},
	{"missing type", `{"name":"x"}`, protoTCP, []string{"type"}, ""},
	{"name with slash", `{"name":"a/b","type":"latency"}`, protoTCP, []string{"name"}, ""},
	{"several errors", `{"type":"latency","stream":"x","toxicity":3}`, protoTCP, []string{"stream", "toxicity"}, ""},
	{"bandwidth", `{"type":"bandwidth","attributes":{"rate":100}}`, protoTCP, nil, "bandwidth_downstream"},
	{"negative rate", `{"type":"bandwidth","attributes":{"rate":-1}}`, protoTCP, []string{"attributes.rate"}, ""},
	{"slow_close", `{"type":"slow_close","attributes":{"delay":10}}`, protoTCP, nil, "slow_close_downstream"},
	{"timeout", `{"type":"timeout","attributes":{"timeout":0}}`, protoTCP, nil, "timeout_downstream"},
	{"reset_peer", `{"type":"reset_peer","stream":"upstream","attributes":{"timeout":5}}`, protoTCP, nil, "reset_peer_upstream"},
	{"slicer", `{"type":"slicer","attributes":{"average_size":10,"size_variation":5,"delay":100}}`, protoTCP, nil, "slicer_downstream"},
	{"slicer zero size", `{"type":"slicer"}`, protoTCP, []string{"attributes.average_size"}, ""},
	{"slicer variation equal to the size", `{"type":"slicer","attributes":{"average_size":2,"size_variation":2}}`, protoTCP, nil, "slicer_downstream"},
	{"slicer variation too big", `{"type":"slicer","attributes":{"average_size":2,"size_variation":3}}`, protoTCP, []string{"attributes.size_variation"}, ""},
	{"limit_data", `{"type":"limit_data","attributes":{"bytes":1024}}`, protoTCP, nil, "limit_data_downstream"},
	{"blackhole", `{"type":"blackhole"}`, protoTCP, nil, "blackhole_downstream"},
	{"noop", `{"name":"foobar","type":"noop"}`, protoTCP, nil, "foobar"},
	{"noop with attribute", `{"type":"noop","attributes":{"latency":1}}`, protoTCP, []string{"attributes.latency"}, ""},
	{"noop on http proxy", `{"type":"noop"}`, protoHTTP, []string{"type"}, ""},
	{"partition with attribute", `{"type":"partition","attributes":{"x":1}}`, protoTCP, []string{"attributes.x"}, ""},
	{"http toxic on tcp proxy", `{"type":"http_status"}`, protoTCP, []string{"type"}, ""},
	{"tcp toxic on http proxy", `{"type":"latency"}`, protoHTTP, []string{"type"}, ""},
	{"http_status", `{"type":"http_status","toxicity":0.1,"attributes":{"status":500,"body":"no","headers":{"Retry-After":"1"}}}`, protoHTTP, nil, "http_status_downstream"},
	{"http_status default", `{"type":"http_status"}`, protoHTTP, nil, "http_status_downstream"},
	{"http_status bad code", `{"type":"http_status","attributes":{"status":99}}`, protoHTTP, []string{"attributes.status"}, ""},
	{"http_status 100 is not a final answer", `{"type":"http_status","attributes":{"status":100}}`, protoHTTP, []string{"attributes.status"}, ""},
	{"http_status 199", `{"type":"http_status","attributes":{"status":199}}`, protoHTTP, []string{"attributes.status"}, ""},
	{"http_status 200", `{"type":"http_status","attributes":{"status":200}}`, protoHTTP, nil, "http_status_downstream"},
	{"http_status 599", `{"type":"http_status","attributes":{"status":599}}`, protoHTTP, nil, "http_status_downstream"},
	{"http_status 600", `{"type":"http_status","attributes":{"status":600}}`, protoHTTP, []string{"attributes.status"}, ""},
	{"http_fail_first 1xx", `{"type":"http_fail_first","attributes":{"count":1,"status":103}}`, protoHTTP, []string{"attributes.status"}, ""},
	{"http_status bad header", `{"type":"http_status","attributes":{"headers":{"a b":"x"}}}`, protoHTTP, []string{"attributes.headers"}, ""},
	{"match", `{"type":"http_status","attributes":{"match":{"methods":["get"],"path_prefix":"/api","headers":{"x-user":""}}}}`, protoHTTP, nil, "http_status_downstream"},
	{"match bad prefix", `{"type":"http_status","attributes":{"match":{"path_prefix":"api"}}}`, protoHTTP, []string{"attributes.match.path_prefix"}, ""},
	{"match unknown key", `{"type":"http_status","attributes":{"match":{"host":"a"}}}`, protoHTTP, []string{"attributes.match.host"}, ""},
	{"match not object", `{"type":"http_status","attributes":{"match":"GET"}}`, protoHTTP, []string{"attributes.match"}, ""},
	{"match bad method", `{"type":"http_status","attributes":{"match":{"methods":["G T"]}}}`, protoHTTP, []string{"attributes.match.methods"}, ""},
	{"http_fail_first", `{"type":"http_fail_first","attributes":{"count":3}}`, protoHTTP, nil, "http_fail_first_downstream"},
	{"http_fail_first no count", `{"type":"http_fail_first"}`, protoHTTP, []string{"attributes.count"}, ""},
	{"http_delay fixed", `{"type":"http_delay","attributes":{"delay":12.5}}`, protoHTTP, nil, "http_delay_downstream"},
	{"http_delay uniform", `{"type":"http_delay","attributes":{"distribution":"uniform","min":1,"max":5}}`, protoHTTP, nil, "http_delay_downstream"},
	{"http_delay uniform reversed", `{"type":"http_delay","attributes":{"distribution":"uniform","min":5,"max":1}}`, protoHTTP, []string{"attributes.max"}, ""},
	{"http_delay normal", `{"type":"http_delay","attributes":{"distribution":"normal","mean":100,"stddev":10,"cap":300}}`, protoHTTP, nil, "http_delay_downstream"},
	{"http_delay pareto", `{"type":"http_delay","stream":"upstream","attributes":{"distribution":"pareto","scale":10,"shape":1.5}}`, protoHTTP, nil, "http_delay_upstream"},
	{"http_delay pareto no shape", `{"type":"http_delay","attributes":{"distribution":"pareto","scale":10}}`, protoHTTP, []string{"attributes.shape"}, ""},
	{"http_delay wrong param", `{"type":"http_delay","attributes":{"distribution":"fixed","mean":3}}`, protoHTTP, []string{"attributes.mean"}, ""},
	{"http_delay unknown distribution", `{"type":"http_delay","attributes":{"distribution":"zipf"}}`, protoHTTP, []string{"attributes.distribution"}, ""},
	{"http_delay negative", `{"type":"http_delay","attributes":{"delay":-1}}`, protoHTTP, []string{"attributes.delay"}, ""},
}

// parseBody parses a toxic request body as the API does.
func parseBody(body []byte, protocol string) (*entry, error) {
	var in toxicInput
	if err := decodeJSON(body, &in, "toxic"); err != nil {
		return nil, err
	}
	return newEntry(in.spec(), protocol)
}

// errorKeys returns the keys named by the ConfigErrors in err.
func errorKeys(err error) []string {
	var keys []string
	for _, e := range flatten(err) {
		var ce *holdfast.ConfigError
		if errors.As(e, &ce) {
			keys = append(keys, ce.Key)
		}
	}
	return keys
}

func TestToxicValidation(t *testing.T) {
	for _, tt := range toxicCases {
		e, err := parseBody([]byte(tt.body), tt.protocol)
		if tt.wantKeys == nil {
			if err != nil {
				t.Errorf("%s: got error %v; want valid", tt.name, err)
			} else if e.name != tt.wantName {
				t.Errorf("%s: name = %q; want %q", tt.name, e.name, tt.wantName)
			}
			continue
		}
		if diff := cmp.Diff(tt.wantKeys, errorKeys(err)); diff != "" {
			t.Errorf("%s: error %v names the wrong keys (-want +got):\n%s", tt.name, err, diff)
		}
		var ce *holdfast.ConfigError
		if !errors.As(err, &ce) || ce.Policy != "toxic" {
			t.Errorf("%s: error %v is not a toxic ConfigError", tt.name, err)
		}
	}
}

func TestToxicDefaults(t *testing.T) {
	e, err := parseBody([]byte(`{"type":"latency"}`), protoTCP)
	if err != nil {
		t.Fatal(err)
	}
	got := e.spec()
	want := ToxicSpec{Name: "latency_downstream", Type: "latency", Stream: "downstream", Toxicity: 1,
		Attributes: json.RawMessage(`{"latency":0,"jitter":0}`)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
}

func TestToxicUpdateMerges(t *testing.T) {
	e, err := parseBody([]byte(`{"type":"latency","toxicity":0.5,"attributes":{"latency":100,"jitter":5}}`), protoTCP)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		patch    string
		want     string // attributes
		wantTox  float64
		wantKeys []string
	}{
		{`{"attributes":{"latency":200}}`, `{"latency":200,"jitter":5}`, 0.5, nil},
		{`{"toxicity":1}`, `{"latency":100,"jitter":5}`, 1, nil},
		{`{"name":"latency_downstream","type":"latency","stream":"downstream","attributes":{}}`, `{"latency":100,"jitter":5}`, 0.5, nil},
		{`{"attributes":{"latency":-1}}`, "", 0, []string{"attributes.latency"}},
		{`{"toxicity":7}`, "", 0, []string{"toxicity"}},
		{`{"type":"bandwidth"}`, "", 0, []string{"type"}},
		{`{"stream":"upstream"}`, "", 0, []string{"stream"}},
		{`{"attributes":5}`, "", 0, []string{"attributes"}},
	}
	for _, tt := range tests {
		got, err := e.updated([]byte(tt.patch), protoTCP)
		if tt.wantKeys != nil {
			if diff := cmp.Diff(tt.wantKeys, errorKeys(err)); diff != "" {
				t.Errorf("patch %s: error %v (-want +got keys):\n%s", tt.patch, err, diff)
			}
			continue
		}
		if err != nil {
			t.Errorf("patch %s: %v", tt.patch, err)
			continue
		}
		if string(got.attrs) != tt.want || got.toxicity != tt.wantTox {
			t.Errorf("patch %s: got %s toxicity %g; want %s toxicity %g", tt.patch, got.attrs, got.toxicity, tt.want, tt.wantTox)
		}
	}
}

// FuzzParseToxic checks that no body panics the parser, that an accepted
// toxic's attributes are in range, and that what the API shows parses back
// to the same toxic.
func FuzzParseToxic(f *testing.F) {
	for _, tt := range toxicCases {
		f.Add([]byte(tt.body), tt.protocol == protoHTTP)
	}
	f.Fuzz(func(t *testing.T, body []byte, http bool) {
		proto := protoTCP
		if http {
			proto = protoHTTP
		}
		e, err := parseBody(body, proto)
		if err != nil {
			if !strings.Contains(invalidMessage(err), ":") {
				t.Fatalf("error %q names no key", invalidMessage(err))
			}
			return
		}
		if e.toxicity < 0 || e.toxicity > 1 || e.name == "" {
			t.Fatalf("accepted toxicity %g, name %q", e.toxicity, e.name)
		}
		if (e.tcp == nil) == (e.http == nil) {
			t.Fatalf("entry has tcp=%v http=%v; want exactly one", e.tcp, e.http)
		}
		checkAccepted(t, e)
		var in toxicInput
		if err := decodeJSON(body, &in, "toxic"); err != nil {
			t.Fatal(err)
		}
		if name, ok := nameOf(in.spec(), proto); !ok || name != e.name {
			t.Fatalf("nameOf = %q, %v; want %q, the name the toxic got", name, ok, e.name)
		}
		shown, err := json.Marshal(e.spec())
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseBody(shown, proto)
		if err != nil {
			t.Fatalf("shown toxic %s does not parse back: %v", shown, err)
		}
		if string(again.attrs) != string(e.attrs) || again.name != e.name || again.stream != e.stream || again.toxicity != e.toxicity {
			t.Fatalf("round trip changed the toxic: %s -> %+v", shown, again.spec())
		}
	})
}

// checkAccepted fails t when an accepted toxic holds a value its type
// refuses.
func checkAccepted(t *testing.T, e *entry) {
	t.Helper()
	var status int
	switch v := e.http.(type) {
	case *httpStatus:
		status = v.Status
	case *httpFailFirst:
		status = v.Status
	}
	if e.http != nil && status != 0 && (status < 200 || status > 599) {
		t.Fatalf("accepted %s with status %d; want 200-599", e.kind.name, status)
	}
	if sl, ok := e.tcp.(*slicer); ok && (sl.AverageSize < 1 || sl.SizeVariation < 0 || sl.SizeVariation > sl.AverageSize) {
		t.Fatalf("accepted slicer %+v; want average_size >= 1 and 0 <= size_variation <= average_size", *sl)
	}
}

// proxyCases is the proxy validation table; it also seeds FuzzProxySpec.
var proxyCases = []struct {
	name     string
	spec     ProxySpec
	wantKeys []string
}{
	{"minimal", ProxySpec{Name: "a", Upstream: "127.0.0.1:80"}, nil},
	{"http url", ProxySpec{Name: "a", Upstream: "http://127.0.0.1:80", Protocol: "http"}, nil},
	{"https url", ProxySpec{Name: "a", Upstream: "https://example.com", Protocol: "http"}, nil},
	{"url on tcp", ProxySpec{Name: "a", Upstream: "http://127.0.0.1:80"}, []string{"upstream"}},
	{"url with path", ProxySpec{Name: "a", Upstream: "http://h:1/x", Protocol: "http"}, []string{"upstream"}},
	{"ftp url", ProxySpec{Name: "a", Upstream: "ftp://h:1", Protocol: "http"}, []string{"upstream"}},
	{"no name", ProxySpec{Upstream: "127.0.0.1:80"}, []string{"name"}},
	{"no upstream", ProxySpec{Name: "a"}, []string{"upstream"}},
	{"upstream port 0", ProxySpec{Name: "a", Upstream: "127.0.0.1:0"}, []string{"upstream"}},
	{"bad listen", ProxySpec{Name: "a", Upstream: "h:1", Listen: "8080"}, []string{"listen"}},
	{"bad listen port", ProxySpec{Name: "a", Upstream: "h:1", Listen: "127.0.0.1:99999"}, []string{"listen"}},
	{"bad protocol", ProxySpec{Name: "a", Upstream: "h:1", Protocol: "udp"}, []string{"protocol"}},
	{"bad toxic", ProxySpec{Name: "a", Upstream: "h:1", Toxics: []ToxicSpec{{Type: "latency", Toxicity: 1}, {Type: "latency", Toxicity: 2}}}, []string{"toxics[1].toxicity"}},
	{"duplicate toxic", ProxySpec{Name: "a", Upstream: "h:1", Toxics: []ToxicSpec{{Type: "latency", Toxicity: 1}, {Type: "latency", Toxicity: 1}}}, []string{"toxics[1].name"}},
}

func TestProxyValidation(t *testing.T) {
	for _, tt := range proxyCases {
		got, err := tt.spec.normalize()
		if tt.wantKeys == nil {
			if err != nil {
				t.Errorf("%s: %v; want valid", tt.name, err)
			} else if got.Listen != "127.0.0.1:0" || (got.Protocol != protoTCP && got.Protocol != protoHTTP) {
				t.Errorf("%s: defaults listen %q protocol %q; want 127.0.0.1:0 and a protocol", tt.name, got.Listen, got.Protocol)
			}
			continue
		}
		if diff := cmp.Diff(tt.wantKeys, errorKeys(err)); diff != "" {
			t.Errorf("%s: error %v (-want +got keys):\n%s", tt.name, err, diff)
		}
	}
}

func FuzzProxySpec(f *testing.F) {
	for _, tt := range proxyCases {
		f.Add(tt.spec.Name, tt.spec.Listen, tt.spec.Upstream, tt.spec.Protocol)
	}
	f.Fuzz(func(t *testing.T, name, listen, up, proto string) {
		got, err := ProxySpec{Name: name, Listen: listen, Upstream: up, Protocol: proto}.normalize()
		if err != nil {
			if len(errorKeys(err)) == 0 {
				t.Fatalf("error %v names no key", err)
			}
			return
		}
		if got.Name == "" || got.Upstream == "" || got.Listen == "" {
			t.Fatalf("accepted %+v with an empty field", got)
		}
		if _, err := got.normalize(); err != nil {
			t.Fatalf("normalized spec %+v does not validate again: %v", got, err)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range configCases {
		err := tt.c.Validate()
		if diff := cmp.Diff(tt.wantKeys, errorKeys(err)); diff != "" {
			t.Errorf("%+v: error %v (-want +got keys):\n%s", tt.c, err, diff)
		}
	}
	if _, err := NewServer(Config{DialTimeout: -1}); err == nil {
		t.Fatalf("NewServer with a negative dial timeout succeeded")
	}
}

var configCases = []struct {
	c        Config
	wantKeys []string
}{
	{Config{}, nil},
	{Config{MaxBodyBytes: 10, DialTimeout: 1, ApplyTimeout: 1}, nil},
	{Config{MaxBodyBytes: -1}, []string{"max_body_bytes"}},
	{Config{DialTimeout: -1, ApplyTimeout: -1}, []string{"dial_timeout", "apply_timeout"}},
}

func FuzzConfigValidate(f *testing.F) {
	for _, tt := range configCases {
		f.Add(tt.c.MaxBodyBytes, int64(tt.c.DialTimeout), int64(tt.c.ApplyTimeout))
	}
	f.Fuzz(func(t *testing.T, body, dial, apply int64) {
		c := Config{MaxBodyBytes: body}
		c.DialTimeout, c.ApplyTimeout = durationOf(dial), durationOf(apply)
		err := c.Validate()
		if valid := body >= 0 && dial >= 0 && apply >= 0; valid != (err == nil) {
			t.Fatalf("Validate(%+v) = %v; want valid=%v", c, err, valid)
		}
		if err == nil {
			d := c.withDefaults()
			if d.MaxBodyBytes <= 0 || d.DialTimeout <= 0 || d.ApplyTimeout <= 0 {
				t.Fatalf("defaults left a zero: %+v", d)
			}
		}
	})
}
