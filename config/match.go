package config

// Match selects the requests a route takes. Every condition that is set must
// hold; a Match with no conditions takes every request.
type Match struct {
	// Path matches the request path exactly.
	Path string `yaml:"path" json:"path,omitempty"`
	// PathPrefix matches paths that start with it, as a plain string prefix
	// (Envoy's semantics): "/api" matches "/api", "/api/v1" and "/apix".
	PathPrefix string `yaml:"path_prefix" json:"path_prefix,omitempty"`
	// PathRegex matches the whole path against an RE2 expression.
	PathRegex string `yaml:"path_regex" json:"path_regex,omitempty"`
	// Methods lists the accepted methods; empty accepts all.
	Methods []string `yaml:"methods" json:"methods,omitempty"`
	// Headers lists header conditions, all of which must hold.
	Headers []HeaderMatch `yaml:"headers" json:"headers,omitempty"`
}

// HeaderMatch is one header condition. Exactly one of Exact, Regex and
// Present is set.
type HeaderMatch struct {
	Name    string `yaml:"name" json:"name"`
	Exact   string `yaml:"exact" json:"exact,omitempty"`
	Regex   string `yaml:"regex" json:"regex,omitempty"`
	Present *bool  `yaml:"present" json:"present,omitempty"` // true: must be there; false: must be absent
}
