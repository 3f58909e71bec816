package proxy

import (
	"encoding/base64"
	"encoding/json"
	"time"
)

// appendJSON appends e as encoding/json would write it (the same fields,
// names and omissions, so json.Unmarshal reads it back into an equal
// envelope), without reflection: on the accept path json.Marshal was a
// quarter of the handler's own time. Header names are written in map
// order, which a decoder does not see.
func (e *envelope) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, e.ID)
	b = append(b, `,"route":`...)
	b = appendJSONString(b, e.Route)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, e.Method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, e.Path)
	if e.RawPath != "" {
		b = append(b, `,"raw_path":`...)
		b = appendJSONString(b, e.RawPath)
	}
	if e.Query != "" {
		b = append(b, `,"query":`...)
		b = appendJSONString(b, e.Query)
	}
	b = append(b, `,"host":`...)
	b = appendJSONString(b, e.Host)
	b = append(b, `,"header":`...)
	if e.Header == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '{')
		first := true
		for name, vs := range e.Header {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendJSONString(b, name)
			b = append(b, ':')
			if vs == nil {
				b = append(b, "null"...)
				continue
			}
			b = append(b, '[')
			for i, v := range vs {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, v)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	if len(e.Body) > 0 {
		b = append(b, `,"body":"`...)
		b = base64.StdEncoding.AppendEncode(b, e.Body)
		b = append(b, '"')
	}
	b = append(b, `,"accepted_at":"`...)
	b = e.AcceptedAt.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...)
}

// appendJSONString appends s as a JSON string: as it is when it is
// printable ASCII without a quote or backslash (what requests mostly
// carry), else as json.Marshal escapes it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
