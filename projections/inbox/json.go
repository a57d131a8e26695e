package inbox

import (
	"encoding/json"
	"time"
)

// AppendJSON appends the view's published JSON to b: byte for byte what encoding/json writes
// for View's fields (a fuzz test holds it to that), several times faster. Strings of plain
// printable ASCII are copied as they are; any other string, and any time RFC 3339 cannot
// express (which encoding/json refuses too), is left to encoding/json.
func AppendJSON(b []byte, v View) ([]byte, error) {
	var err error
	b = append(b, `{"id":`...)
	b = appendString(b, v.ID)
	b = append(b, `,"recipientId":`...)
	b = appendString(b, v.RecipientID)
	b = append(b, `,"content":`...)
	b = appendString(b, v.Content)
	b = append(b, `,"category":`...)
	b = appendString(b, v.Category)
	b = append(b, `,"status":`...)
	b = appendString(b, string(v.Status))
	b = append(b, `,"readAt":`...)
	if b, err = appendTimePtr(b, v.ReadAt); err != nil {
		return b, err
	}
	b = append(b, `,"canceledAt":`...)
	if b, err = appendTimePtr(b, v.CanceledAt); err != nil {
		return b, err
	}
	b = append(b, `,"createdAt":`...)
	if b, err = appendTime(b, v.CreatedAt); err != nil {
		return b, err
	}
	return append(b, '}'), nil
}

// MarshalJSON is AppendJSON for encoding/json.
func (v View) MarshalJSON() ([]byte, error) { return AppendJSON(nil, v) }

func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		// encoding/json escapes quotes, backslashes, controls, <, > and & (HTML safety), and
		// rewrites invalid UTF-8; none of those, and nothing beyond ASCII, is copied as is.
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			enc, _ := json.Marshal(s) // a string always encodes
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendTimePtr(b []byte, t *time.Time) ([]byte, error) {
	if t == nil {
		return append(b, "null"...), nil
	}
	return appendTime(b, *t)
}

func appendTime(b []byte, t time.Time) ([]byte, error) {
	_, offset := t.Zone()
	if y := t.Year(); y < 0 || y > 9999 || offset <= -24*3600 || offset >= 24*3600 {
		enc, err := t.MarshalJSON()
		return append(b, enc...), err
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}
