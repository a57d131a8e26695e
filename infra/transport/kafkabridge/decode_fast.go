package kafkabridge

import "unicode/utf8"

// decodeFlat is a fast path for the commands as producers write them: one flat JSON object
// whose members are all strings without escapes, named exactly as fields (names[i] fills
// *dst[i]). It reports false for anything else (another spelling of a name, an unknown
// member, a value that is not a string, an escape, invalid UTF-8, trailing data), and the
// caller then decodes with encoding/json, so the outcome is always encoding/json's. Decoding
// the seed's payload with encoding/json cost 7 µs of the 80 µs a command took at 20,000/s.
func decodeFlat(data []byte, names []string, dst []*string) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return skipSpace(data, i+1) == len(data)
	}
	for {
		key, next, ok := plainString(data, i)
		if !ok {
			return false
		}
		i = skipSpace(data, next)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		value, next, ok := plainString(data, skipSpace(data, i+1))
		if !ok {
			return false
		}
		field := -1
		for f, name := range names {
			if string(key) == name {
				field = f
				break
			}
		}
		if field < 0 {
			return false // encoding/json matches names case-insensitively and skips unknown ones: let it
		}
		*dst[field] = string(value) // a repeated name: the last wins, as in encoding/json
		i = skipSpace(data, next)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
			continue
		}
		if i < len(data) && data[i] == '}' {
			return skipSpace(data, i+1) == len(data)
		}
		return false
	}
}

// plainString reads the JSON string at data[i] if it holds no escape, no control character
// and only valid UTF-8: its bytes are then exactly what encoding/json decodes it to.
func plainString(data []byte, i int) ([]byte, int, bool) {
	if i >= len(data) || data[i] != '"' {
		return nil, i, false
	}
	ascii := true
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			s := data[i+1 : j]
			return s, j + 1, ascii || utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, i, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, i, false
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}
