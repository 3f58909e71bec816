// Package fallback replaces chosen failures with a substitute result: a fixed
// value or the result of a function.
//
// # Model
//
// A [Fallback] watches the error of a call. When the error is one it handles
// (by default every error except [context.Canceled], which means the caller
// itself gave up), it gives [Config.Value] instead, or calls [Config.Func] to
// compute a replacement from the context and the error. Errors it does not
// handle pass through unchanged. A fallback never retries: put a retry policy
// inside it for that.
//
// A Fallback[T] is usable three ways:
//
//   - [Fallback.Get] (or the function [Get]) runs a call returning T and
//     delivers the substitute value;
//   - as a [holdfast.Recoverer], so that a holdfast.Pipeline[T] can ask
//     [Fallback.Recover] for a replacement after its stages fail;
//   - as a [holdfast.Policy]: [Fallback.Execute] turns a handled failure into
//     success (nil). Execute has no result to carry, so the value itself is
//     only delivered by Recover and Get.
//
// Every replacement is reported as a [holdfast.EventFallback].
//
// # Example
//
//	fb := fallback.MustNew(fallback.Config[[]Item]{Value: []Item{}})
//	items, err := fb.Get(ctx, fetchItems) // an empty list, not an error, when fetchItems fails
package fallback
