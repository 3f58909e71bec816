package logattr

import "log/slog"

// Replace is a [slog.HandlerOptions] ReplaceAttr that renders a
// [slog.KindDuration] value as its [time.Duration.String] form ("5s",
// "1.5ms", "1h2m3.000000004s"), which [time.ParseDuration] reads back to the
// same value, nanosecond for nanosecond. Every other attribute is returned
// unchanged. Handlers call it for attributes inside groups too, and for those
// added with [slog.Logger.With]. It keeps no state and is safe for concurrent
// use.
//
// There is no numeric companion attribute ("delay_ns"): a ReplaceAttr returns
// one attribute for one, and one key with one exact value is simpler to query
// than two that could be read inconsistently. A log that needs to aggregate a
// latency writes a number of its own, as the access log's duration_ms does.
func Replace(groups []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
