package drill

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Sample is one series' value on a page in the Prometheus text exposition
// format: a name, labels and a value.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// matches reports whether s has every label of want with its value; an
// empty wanted value matches an absent label, as in PromQL.
func (s Sample) matches(want map[string]string) bool {
	for k, v := range want {
		if s.Labels[k] != v {
			return false
		}
	}
	return true
}

// ParseMetrics reads a page in the Prometheus text exposition format
// (version 0.0.4, with the quoted UTF-8 names of newer exporters and the
// exemplars of OpenMetrics tolerated) and returns its samples in page order.
// Comments, HELP and TYPE lines are skipped; timestamps are checked and
// dropped. A malformed line is an error naming the line.
func ParseMetrics(page []byte) ([]Sample, error) {
	var out []Sample
	for i, line := range strings.Split(string(page), "\n") {
		line = strings.TrimRight(line, "\r")
		t := strings.TrimLeft(line, " \t")
		if t == "" || t[0] == '#' {
			continue
		}
		s, err := parseSampleLine(t)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: %w", i+1, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// lineParser walks one sample line.
type lineParser struct {
	s   string
	pos int
}

func (p *lineParser) skipSpace() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

func (p *lineParser) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

func parseSampleLine(line string) (Sample, error) {
	p := &lineParser{s: line}
	s := Sample{Labels: map[string]string{}}
	if p.peek() != '{' {
		name := p.name()
		if name == "" {
			return s, fmt.Errorf("want a metric name, got %q", clip(line))
		}
		s.Name = name
		// Blanks may separate the name from its labels.
		at := p.pos
		if p.skipSpace(); p.peek() != '{' {
			p.pos = at
		}
	}
	if p.peek() == '{' {
		p.pos++
		if err := p.labels(&s); err != nil {
			return s, err
		}
	}
	if s.Name == "" {
		return s, errors.New("the series has no metric name")
	}
	rest := p.s[p.pos:]
	if rest == "" || (rest[0] != ' ' && rest[0] != '\t') {
		return s, fmt.Errorf("want a space and a value after %s, got %q", s.Name, clip(rest))
	}
	// An OpenMetrics exemplar follows " # ".
	if i := strings.Index(rest, " # "); i >= 0 {
		rest = rest[:i]
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 || len(fields) > 2 {
		return s, fmt.Errorf("want a value and an optional timestamp, got %q", clip(rest))
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil || strings.ContainsRune(fields[0], '_') {
		return s, fmt.Errorf("value %q is not a number", clip(fields[0]))
	}
	s.Value = v
	if len(fields) == 2 {
		if _, err := strconv.ParseInt(fields[1], 10, 64); err != nil {
			return s, fmt.Errorf("timestamp %q is not a whole number of milliseconds", clip(fields[1]))
		}
	}
	return s, nil
}

// name reads a legacy metric or label name: [a-zA-Z_:][a-zA-Z0-9_:]*.
func (p *lineParser) name() string {
	start := p.pos
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (p.pos > start && c >= '0' && c <= '9') {
			p.pos++
			continue
		}
		break
	}
	return p.s[start:p.pos]
}

// quoted reads a double-quoted string with the escapes \\, \" and \n.
func (p *lineParser) quoted() (string, error) {
	if p.peek() != '"' {
		return "", fmt.Errorf("want '\"' at column %d", p.pos+1)
	}
	p.pos++
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch c {
		case '"':
			p.pos++
			return b.String(), nil
		case '\\':
			if p.pos+1 >= len(p.s) {
				return "", errors.New("unfinished escape")
			}
			switch p.s[p.pos+1] {
			case '\\':
				b.WriteByte('\\')
			case '"':
				b.WriteByte('"')
			case 'n':
				b.WriteByte('\n')
			default:
				return "", fmt.Errorf("invalid escape \\%c", p.s[p.pos+1])
			}
			p.pos += 2
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", errors.New("unterminated quoted string")
}

// labels reads the label set after '{', up to and including '}'. A quoted
// string standing alone is the metric name (the UTF-8 syntax).
func (p *lineParser) labels(s *Sample) error {
	for {
		p.skipSpace()
		if p.peek() == '}' {
			p.pos++
			return nil
		}
		var key string
		var err error
		quotedKey := p.peek() == '"'
		if quotedKey {
			if key, err = p.quoted(); err != nil {
				return err
			}
		} else if key = p.name(); key == "" {
			return fmt.Errorf("want a label name at column %d", p.pos+1)
		}
		p.skipSpace()
		switch p.peek() {
		case ',', '}':
			// A quoted string with no value is the metric's name.
			if s.Name != "" || !quotedKey {
				return fmt.Errorf("label %q has no value", key)
			}
			s.Name = key
		case '=':
			p.pos++
			p.skipSpace()
			v, err := p.quoted()
			if err != nil {
				return fmt.Errorf("label %q: %w", key, err)
			}
			if _, dup := s.Labels[key]; dup {
				return fmt.Errorf("label %q appears twice", key)
			}
			s.Labels[key] = v
		default:
			return fmt.Errorf("want '=' after label %q at column %d", key, p.pos+1)
		}
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
		default:
			return fmt.Errorf("want ',' or '}' at column %d", p.pos+1)
		}
	}
}

// formatLabels writes a label selector as {a="x",b="y"}, sorted, or "" for
// none.
func formatLabels(ls map[string]string) string {
	if len(ls) == 0 {
		return ""
	}
	keys := make([]string, 0, len(ls))
	for k := range ls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(quoteName(k))
		b.WriteString(`="`)
		b.WriteString(escapeLabel(ls[k]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// formatSample writes s as one line of the text format.
func formatSample(s Sample) string {
	v := strconv.FormatFloat(s.Value, 'g', -1, 64)
	if isLegacyName(s.Name) {
		return s.Name + formatLabels(s.Labels) + " " + v
	}
	ls := formatLabels(s.Labels)
	if ls == "" {
		return `{"` + escapeLabel(s.Name) + `"} ` + v
	}
	return `{"` + escapeLabel(s.Name) + `",` + ls[1:] + " " + v
}

func quoteName(n string) string {
	if isLegacyName(n) {
		return n
	}
	return `"` + escapeLabel(n) + `"`
}

func isLegacyName(n string) bool {
	if n == "" {
		return false
	}
	p := &lineParser{s: n}
	return p.name() == n
}

func escapeLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
