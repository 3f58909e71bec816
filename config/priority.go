package config

import "github.com/holdfast-dev/holdfast/adaptive"

// validatePriority checks a route's priority: critical, default or
// sheddable (package adaptive's [adaptive.Priority]).
func validatePriority(errs *errorList, p string, v adaptive.Priority) {
	if !v.Valid() {
		errs.add(p, "must be critical, default or sheddable, got %q", string(v))
	}
}
