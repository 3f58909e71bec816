// Package logattr renders holdfast's log attributes the same way in every
// logger the binary builds (holdfast serve, chaos and demo, and the access
// log).
//
// Its one option, [Replace], is a [slog.HandlerOptions] ReplaceAttr: it turns
// every [time.Duration] into Go's duration string, so a JSON line reads
// "delay":"5s" instead of "delay":5000000000, and [time.ParseDuration] reads
// the value back exactly. The text handler already writes durations that way;
// Replace changes nothing else.
//
//	h := slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{
//		Level:       level,
//		ReplaceAttr: logattr.Replace,
//	})
//
// The policy packages log through whatever [*slog.Logger] their caller passes
// in, so they need nothing from here: a duration they log goes through the
// caller's handler and so through Replace.
package logattr
