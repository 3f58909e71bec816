package proxy

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/vote"
)

// errInvariant is an attempt whose response broke one of its route's
// checks: a failure of the endpoint and the upstream, like a 5xx, for the
// breaker, the adaptive limit and outlier detection.
var errInvariant = errors.New("proxy: the response broke the route's checks")

// invariantError is errInvariant with the check that was broken.
type invariantError struct {
	name  string // the check's label in metrics and logs: checks[2], or checks_max_body_bytes
	check string // such as "checks[2] (json /balance min 0)"
	why   string // what the response had
}

func (e *invariantError) Error() string {
	return "proxy: the response broke " + e.check + ": " + e.why
}

func (e *invariantError) Is(target error) bool { return target == errInvariant }

// invariants are a route's compiled checks and their violation counts. The
// zero value is not used: a route without checks has a nil *invariants and
// its attempts pay nothing.
type invariants struct {
	checks   []invariant
	needBody bool
	maxBody  int64
	passOver bool // checks_on_oversize: pass

	// violations[i] counts checks[i]'s; oversize counts bodies over the
	// cap, failed or passed.
	violations []atomic.Uint64
	oversize   atomic.Uint64
}

// invariant is one compiled check.
type invariant struct {
	name string // "checks[i]", the metric's label
	desc string // the check, for replies and logs

	statuses []int

	header string // canonical name
	hre    *regexp.Regexp

	isJSON  bool
	pointer []string
	exists  *bool
	equals  [][]byte // equals (one) or in (several), as JSON
	min     *big.Float
	max     *big.Float
	re      *regexp.Regexp
	typ     config.JSONType
	jsonCmp func(a, b []byte) bool
}

// newInvariants compiles a route's checks; nil when it has none.
func newInvariants(rc *config.ResponseChecks) (*invariants, error) {
	if len(rc.Checks) == 0 {
		return nil, nil
	}
	iv := &invariants{
		needBody: rc.NeedsBody(), maxBody: rc.ChecksMaxBodyBytes, passOver: rc.ChecksOnOversize == config.OnOversizePass,
		violations: make([]atomic.Uint64, len(rc.Checks)),
	}
	// Equality as the vote's json compare has it: numbers by value, member
	// order ignored.
	jsonEq, err := vote.JSON[[]byte](vote.JSONOptions{})
	if err != nil {
		return nil, err
	}
	for i, c := range rc.Checks {
		in := invariant{name: "checks[" + strconv.Itoa(i) + "]"}
		switch {
		case c.Status != nil:
			in.statuses = slices.Clone(c.Status)
			in.desc = "status in " + intsText(c.Status)
		case c.Header != nil:
			in.header = http.CanonicalHeaderKey(c.Header.Name)
			in.desc = "header " + c.Header.Name
			if c.Header.Regex != "" {
				if in.hre, err = regexp.Compile(c.Header.Regex); err != nil {
					return nil, err
				}
				in.desc += " ~ " + c.Header.Regex
			} else {
				in.desc += " present"
			}
		case c.JSON != nil:
			j := c.JSON
			in.isJSON, in.exists, in.typ, in.jsonCmp = true, j.Exists, j.Type, jsonEq
			if in.pointer, err = vote.ParsePointer(j.Pointer); err != nil {
				return nil, err
			}
			in.desc = "json " + j.Pointer
			if j.Equals != nil {
				b, err := json.Marshal(j.Equals)
				if err != nil {
					return nil, err
				}
				in.equals = [][]byte{b}
				in.desc += " equals " + string(b)
			} else if j.In != nil {
				for _, v := range j.In {
					b, err := json.Marshal(v)
					if err != nil {
						return nil, err
					}
					in.equals = append(in.equals, b)
				}
				in.desc += " in " + string(bytes.Join(in.equals, []byte(",")))
			}
			if j.Min != nil {
				in.min = big.NewFloat(*j.Min)
				in.desc += " min " + strconv.FormatFloat(*j.Min, 'g', -1, 64)
			}
			if j.Max != nil {
				in.max = big.NewFloat(*j.Max)
				in.desc += " max " + strconv.FormatFloat(*j.Max, 'g', -1, 64)
			}
			if j.Regex != "" {
				if in.re, err = regexp.Compile(j.Regex); err != nil {
					return nil, err
				}
				in.desc += " ~ " + j.Regex
			}
			if j.Type != "" {
				in.desc += " type " + string(j.Type)
			}
		}
		iv.checks = append(iv.checks, in)
	}
	return iv, nil
}

func intsText(v []int) string {
	b := []byte{'['}
	for i, n := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(n), 10)
	}
	return string(append(b, ']'))
}

// judge checks resp of a request with method against the route's checks.
// It returns nil when resp keeps them all, and then resp's body, when a
// json check read it, is the buffered copy (the upstream's body is closed).
// It returns an *invariantError for the first check broken, counting the
// violation, or another error when the body could not be read (the
// upstream broke mid-body). Either way resp is then the caller's to close.
//
// Json checks judge only responses that carry a body the route vouches
// for: a 2xx other than 204 to a request other than HEAD. An error body
// (a 404's) need not have the fields of an answer; a status check says
// which statuses may be relayed at all.
func (iv *invariants) judge(method string, resp *http.Response) error {
	var (
		doc     any    // the body, decoded once for every json check
		docWhy  string // why the body cannot be judged, if it cannot
		read    bool
		skipped bool // over the cap with checks_on_oversize: pass
	)
	for i := range iv.checks {
		c := &iv.checks[i]
		var why string
		switch {
		case c.statuses != nil:
			if !slices.Contains(c.statuses, resp.StatusCode) {
				why = "status " + strconv.Itoa(resp.StatusCode)
			}
		case !c.isJSON:
			why = c.judgeHeader(resp.Header)
		default:
			if method == http.MethodHead || resp.StatusCode < 200 || resp.StatusCode > 299 || resp.StatusCode == http.StatusNoContent {
				continue
			}
			if !read {
				read = true
				var over bool
				var err error
				if doc, over, docWhy, err = iv.document(resp); err != nil {
					return err
				}
				if over {
					iv.oversize.Add(1)
					if !iv.passOver {
						return &invariantError{name: "checks_max_body_bytes", check: "checks_max_body_bytes", why: "the body is over " + strconv.FormatInt(iv.maxBody, 10) + " bytes"}
					}
					skipped = true
				}
			}
			if skipped {
				continue // the json checks are not judged; the others still are
			}
			why = docWhy
			if why == "" {
				why = c.judgeValue(doc)
			}
		}
		if why != "" {
			iv.violations[i].Add(1)
			return &invariantError{name: c.name, check: c.name + " (" + c.desc + ")", why: why}
		}
	}
	return nil
}

// document reads resp's body (readBody) and decodes it as one JSON value,
// gzip's Content-Encoding undone (decoded). over reports a body, or a
// decompressed one, over the cap; why, a body that is no JSON value.
func (iv *invariants) document(resp *http.Response) (doc any, over bool, why string, err error) {
	b, over, err := iv.readBody(resp)
	if err != nil || over {
		return nil, over, "", err
	}
	data, over, why := iv.decoded(resp.Header, b)
	if over || why != "" {
		return nil, over, why, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, false, "the body is not JSON", nil
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false, "the body is not one JSON value", nil
	}
	return doc, false, "", nil
}

// readBody buffers resp's body up to the cap and puts the copy in its
// place. over reports a body past the cap; resp's body is then what was
// read followed by the rest, unread.
func (iv *invariants) readBody(resp *http.Response) (b []byte, over bool, err error) {
	b, err = io.ReadAll(io.LimitReader(resp.Body, iv.maxBody+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(b)) > iv.maxBody {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
		return nil, true, nil
	}
	resp.Body.Close() // at EOF: the connection goes back to the pool
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	return b, false, nil
}

// decoded is the body b judged by the json checks: b itself, or with
// Content-Encoding gzip its decompressed bytes (the client still gets b as
// it came), up to the cap; over reports more. A body in another encoding
// cannot be judged, and why says so: it breaks the checks rather than pass
// unseen.
func (iv *invariants) decoded(h http.Header, b []byte) (doc []byte, over bool, why string) {
	ce := h.Values("Content-Encoding")
	switch {
	case len(ce) == 0 || len(ce) == 1 && (ce[0] == "" || strings.EqualFold(ce[0], "identity")):
		return b, false, ""
	case len(ce) == 1 && strings.EqualFold(strings.TrimSpace(ce[0]), "gzip"):
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, false, "the gzip body does not decompress"
		}
		doc, err = io.ReadAll(io.LimitReader(zr, iv.maxBody+1))
		if err != nil {
			return nil, false, "the gzip body does not decompress"
		}
		if int64(len(doc)) > iv.maxBody {
			return nil, true, ""
		}
		return doc, false, ""
	}
	return nil, false, "content-encoding " + strconv.Quote(truncate(strings.Join(ce, ", "))) + " cannot be judged"
}

func (c *invariant) judgeHeader(h http.Header) string {
	vs, ok := h[c.header]
	if !ok {
		return "no " + c.header + " header"
	}
	if c.hre == nil {
		return ""
	}
	for _, v := range vs {
		if c.hre.MatchString(v) {
			return ""
		}
	}
	return c.header + " " + strconv.Quote(truncate(vs[0]))
}

// judgeValue checks the value at c's pointer in the decoded body doc.
func (c *invariant) judgeValue(doc any) string {
	v, found := lookup(doc, c.pointer)
	if c.exists != nil && !*c.exists {
		if found {
			return "the value is there"
		}
		return ""
	}
	if !found {
		return "no value"
	}
	if c.typ != "" && jsonType(v) != c.typ {
		return "a value of type " + string(jsonType(v))
	}
	if c.min != nil || c.max != nil {
		n, ok := v.(json.Number)
		if !ok {
			return "a value of type " + string(jsonType(v)) + ", not a number"
		}
		f, _, err := big.ParseFloat(n.String(), 10, 128, big.ToNearestEven)
		if err != nil {
			return "an unreadable number " + truncate(n.String())
		}
		if c.min != nil && f.Cmp(c.min) < 0 || c.max != nil && f.Cmp(c.max) > 0 {
			return "the value " + truncate(n.String())
		}
	}
	if c.re != nil {
		s, ok := v.(string)
		if !ok {
			return "a value of type " + string(jsonType(v)) + ", not a string"
		}
		if !c.re.MatchString(s) {
			return "the value " + strconv.Quote(truncate(s))
		}
	}
	if c.equals != nil {
		got, err := json.Marshal(v)
		if err != nil {
			return "an unreadable value"
		}
		if !slices.ContainsFunc(c.equals, func(want []byte) bool { return c.jsonCmp(got, want) }) {
			return "the value " + truncate(string(got))
		}
	}
	return ""
}

// lookup resolves an RFC 6901 pointer's tokens in a decoded document: a
// member name in an object, a decimal index without leading zeros in an
// array (§4; "-" names no element).
func lookup(v any, tokens []string) (any, bool) {
	for _, t := range tokens {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[t]; !ok {
				return nil, false
			}
		case []any:
			if t == "" || len(t) > 1 && t[0] == '0' {
				return nil, false
			}
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(x) || t[0] == '+' || t[0] == '-' {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func jsonType(v any) config.JSONType {
	switch v.(type) {
	case string:
		return config.JSONString
	case json.Number:
		return config.JSONNumber
	case bool:
		return config.JSONBoolean
	case map[string]any:
		return config.JSONObject
	case []any:
		return config.JSONArray
	}
	return config.JSONNull
}

// truncate bounds a value quoted in a reply.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// CheckStatus is one response check of a route, in [RouteStatus]: its
// label in metrics (checks[i]), what it checks, and its violations.
type CheckStatus struct {
	Check      string `json:"check"`
	Desc       string `json:"desc"`
	Violations uint64 `json:"violations"`
}

// ChecksStatus is a route's response checks, in [RouteStatus]: each check,
// and the bodies that were over checks_max_body_bytes.
type ChecksStatus struct {
	Checks   []CheckStatus `json:"checks"`
	Oversize uint64        `json:"oversize"`
}

func (iv *invariants) status() *ChecksStatus {
	s := &ChecksStatus{Oversize: iv.oversize.Load()}
	for i := range iv.checks {
		s.Checks = append(s.Checks, CheckStatus{Check: iv.checks[i].name, Desc: iv.checks[i].desc, Violations: iv.violations[i].Load()})
	}
	return s
}

// RouteChecks is one route's response checks and their counts, as
// [Proxy.ResponseChecks] reports them.
type RouteChecks struct {
	Route string `json:"route"`
	ChecksStatus
}

// ResponseChecks returns the response checks of every route of the
// running config that has some, in the config's order.
func (p *Proxy) ResponseChecks() []RouteChecks {
	var out []RouteChecks
	for _, r := range p.state.Load().routes {
		if r.checks != nil {
			out = append(out, RouteChecks{Route: r.name, ChecksStatus: *r.checks.status()})
		}
	}
	return out
}
