package proxy

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/holdfast-dev/holdfast/config"
)

// Path problems that get 400: each is a way for one path to mean two things
// to two hops.
var (
	errPathNotAbsolute  = errors.New("the request path must start with /")
	errPathStar         = errors.New("the request target * is only for OPTIONS")
	errPathEscapedSlash = errors.New("the request path has an encoded slash (%2F)")
	errPathBackslash    = errors.New("the request path has a backslash")
	errPathBadEscape    = errors.New("the request path has a malformed percent-encoding")
)

// normalizeRequestPath rewrites r.URL's path to its normal form by pn (see
// [config.PathNormalization]), so that routes match, and the upstream
// receives, one spelling of each path. It leaves r untouched when the path
// is already normal, which is the common case and costs no allocation.
func normalizeRequestPath(r *http.Request, pn *config.PathNormalization) error {
	u := r.URL
	if u.Opaque != "" {
		return errPathNotAbsolute // "GET http:x HTTP/1.1": a scheme and no path
	}
	esc := u.EscapedPath()
	switch {
	case esc == "":
		// The absolute form with no path ("http://host"); its path is "/"
		// (RFC 9112 §3.2.1).
		u.Path, u.RawPath = "/", ""
		return nil
	case esc == "*":
		if r.Method != http.MethodOptions {
			return errPathStar
		}
		return nil
	case esc[0] != '/':
		return errPathNotAbsolute
	}
	norm, err := normalizePath(esc, pn)
	if err != nil {
		return err
	}
	if norm == esc {
		return nil
	}
	p, err := url.PathUnescape(norm)
	if err != nil {
		return errPathBadEscape // unreachable: norm has only well-formed escapes
	}
	u.Path, u.RawPath = p, norm
	if (&url.URL{Path: p}).EscapedPath() == norm {
		u.RawPath = "" // the default encoding of Path; keep URL's invariant
	}
	return nil
}

// normalizePath returns the normal form of p, an escaped absolute path
// (as [url.URL.EscapedPath] gives it):
//
//  1. percent-encoded unreserved characters are decoded and every other
//     percent-encoding is written in upper case (RFC 3986 §6.2.2.1-2), so
//     "%41" is "A" and "%2e" is ".";
//  2. an encoded slash is refused, kept or decoded, and a backslash refused
//     or kept, by pn;
//  3. dot segments are removed (RFC 3986 §5.2.4);
//  4. runs of slashes are merged when pn.MergeSlashes is set (after step 3,
//     as Envoy orders normalize_path and merge_slashes).
//
// It returns p itself, without allocating, when p is already normal.
func normalizePath(p string, pn *config.PathNormalization) (string, error) {
	if isNormalPath(p, pn.MergeSlashes) {
		return p, nil
	}
	b := make([]byte, 0, len(p)+8)
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch c {
		case '%':
			if i+2 >= len(p) || unhexByte(p[i+1]) < 0 || unhexByte(p[i+2]) < 0 {
				return "", errPathBadEscape
			}
			v := byte(unhexByte(p[i+1])<<4 | unhexByte(p[i+2]))
			i += 2
			switch {
			case isUnreserved(v):
				b = append(b, v)
			case v == '/':
				switch pn.EscapedSlashes {
				case config.EscapedSlashesUnescape:
					b = append(b, '/')
				case config.EscapedSlashesKeep:
					b = append(b, "%2F"...)
				default:
					return "", errPathEscapedSlash
				}
			case v == '\\':
				if pn.Backslashes != config.BackslashesKeep {
					return "", errPathBackslash
				}
				b = append(b, "%5C"...)
			default:
				b = append(b, '%', upperHex[v>>4], upperHex[v&15])
			}
		case '\\':
			// EscapedPath encodes a backslash, so this is for callers
			// that pass a path as sent.
			if pn.Backslashes != config.BackslashesKeep {
				return "", errPathBackslash
			}
			b = append(b, "%5C"...)
		default:
			b = append(b, c)
		}
	}
	b = removeDotSegments(b)
	if pn.MergeSlashes {
		b = mergeSlashes(b)
	}
	if string(b) == p {
		return p, nil
	}
	return string(b), nil
}

// isNormalPath reports whether normalizePath would return p unchanged
// without looking further: no escapes, no backslash, no dot segment, and
// no repeated slash when merge is set.
func isNormalPath(p string, merge bool) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '%', '\\':
			return false
		case '/':
			rest := p[i+1:]
			if merge && len(rest) > 0 && rest[0] == '/' {
				return false
			}
			if len(rest) > 0 && rest[0] == '.' {
				if len(rest) == 1 || rest[1] == '/' {
					return false
				}
				if rest[1] == '.' && (len(rest) == 2 || rest[2] == '/') {
					return false
				}
			}
		}
	}
	return true
}

// removeDotSegments removes "." and ".." segments from b, an absolute path
// whose only separators are '/', in place, as RFC 3986 §5.2.4 does: a
// segment ".." removes the one before it, never past the root, and a dot
// segment at the end leaves a trailing slash ("/a/b/.." is "/a/").
func removeDotSegments(b []byte) []byte {
	w := 0 // b[:w] is the output: segments, each with its leading '/'
	for r := 0; r < len(b); {
		// b[r] is '/': the segment is b[r+1:e].
		e := r + 1
		for e < len(b) && b[e] != '/' {
			e++
		}
		seg := b[r+1 : e]
		last := e == len(b)
		switch {
		case len(seg) == 1 && seg[0] == '.':
			if last {
				b[w] = '/'
				w++
			}
		case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
			for w > 0 {
				w--
				if b[w] == '/' {
					break
				}
			}
			if last {
				b[w] = '/'
				w++
			}
		default:
			w += copy(b[w:], b[r:e])
		}
		r = e
	}
	if w == 0 {
		b = append(b[:0], '/')
		return b
	}
	return b[:w]
}

// mergeSlashes collapses each run of '/' in b into one, in place.
func mergeSlashes(b []byte) []byte {
	w := 0
	for r := 0; r < len(b); r++ {
		if b[r] == '/' && w > 0 && b[w-1] == '/' {
			continue
		}
		b[w] = b[r]
		w++
	}
	return b[:w]
}

const upperHex = "0123456789ABCDEF"

// isUnreserved reports whether c is an unreserved character of RFC 3986
// §2.3, which means the same encoded or not.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
