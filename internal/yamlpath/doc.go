// Package yamlpath names the places in a YAML file that holdfast's strict
// decoding points its errors at, so that config files and drill experiments
// say where a problem is in the same words: a key path such as
// "routes[2].retry.budget.ratio", the line that path is on, a short
// description of a value of the wrong kind, and the known key a misspelt one
// was most likely meant to be.
//
// A key path joins mapping keys with "." and list indexes with "[i]", as the
// keys read in the file:
//
//	p := yamlpath.Index(yamlpath.Join("", "routes"), 2) // "routes[2]"
//	p = yamlpath.Join(p, "retry")                       // "routes[2].retry"
//	yamlpath.Parent(p)                                  // "routes[2]"
//
// [Lines] indexes the paths of a file to their lines while it is walked;
// a check made after decoding finds the line of the value it is about, or of
// the nearest enclosing value the file has (a key left to its default has
// no line of its own).
//
// The config package decodes with it; other packages meet it through
// config's errors.
package yamlpath
