package notification

import (
	"bytes"
	"encoding/json"
	"errors"
)

// knownField reports whether encoding/json would decode the member named key (unescaped) into
// a field of eventType's struct: whether it matches one of the field names, case folded as
// encoding/json folds them (bytes.EqualFold). The members that do not are the event's Extra.
func knownField(eventType string, key []byte) bool {
	switch string(key) { // the names as written: no folding needed
	case "notificationId", "recipientId", "content", "category", "title", "data", "actionUrl", "actions", "tags":
		if eventType == TypeSent || string(key) == "notificationId" || string(key) == "recipientId" {
			return true
		}
	}
	if fold(key, "notificationId") || fold(key, "recipientId") {
		return true
	}
	switch eventType {
	case TypeSent:
		return fold(key, "content") || fold(key, "category") || fold(key, "sentAt") || fold(key, "title") ||
			fold(key, "data") || fold(key, "actionUrl") || fold(key, "actions") || fold(key, "tags")
	case TypeRead:
		return fold(key, "readAt")
	case TypeUnread:
		return fold(key, "unreadAt")
	case TypeCanceled:
		return fold(key, "canceledAt")
	case TypeSeen:
		return fold(key, "seenAt")
	case TypeArchived:
		return fold(key, "archivedAt")
	case TypeUnarchived:
		return fold(key, "unarchivedAt")
	}
	return false
}

func fold(key []byte, name string) bool { return bytes.EqualFold(key, []byte(name)) }

// extraMembers returns the members of the JSON object data that eventType's struct does not
// have (UnknownMembers); nil when decoding failed (err).
func extraMembers(eventType string, data []byte, err error) json.RawMessage {
	if err != nil {
		return nil
	}
	return UnknownMembers(data, func(key []byte) bool { return knownField(eventType, key) })
}

// UnknownMembers returns the members of data, a JSON object that encoding/json has read, whose
// (unescaped) names known reports false for: a JSON object of them in their order, each key
// and value in its bytes as stored; nil when there are none. It is how an Extra is found.
func UnknownMembers(data []byte, known func(key []byte) bool) json.RawMessage {
	var extra []byte
	members(data, func(rawKey, value []byte) {
		key := rawKey[1 : len(rawKey)-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var s string
			if json.Unmarshal(rawKey, &s) != nil {
				return // cannot be: encoding/json read it
			}
			key = []byte(s)
		}
		if !known(key) {
			extra = appendMember(extra, rawKey, value)
		}
	})
	if extra == nil {
		return nil
	}
	return append(extra, '}')
}

// appendMember appends "key":value to an object being built (nil: none yet), without its
// closing brace.
func appendMember(extra, rawKey, value []byte) []byte {
	if extra == nil {
		extra = append(make([]byte, 0, len(rawKey)+len(value)+3), '{')
	} else {
		extra = append(extra, ',')
	}
	extra = append(extra, rawKey...)
	extra = append(extra, ':')
	return append(extra, value...)
}

// members calls fn with each member of the JSON object data, which encoding/json has read
// (anything else, null included, has no members): its key as stored, quotes included, and its
// value's bytes without the space around them.
func members(data []byte, fn func(rawKey, value []byte)) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return
	}
	i++
	for {
		i = skipSpace(data, i)
		if i >= len(data) || data[i] != '"' {
			return // '}'
		}
		keyEnd, ok := valueEnd(data, i)
		if !ok {
			return
		}
		key := data[i:keyEnd]
		i = skipSpace(data, keyEnd)
		if i >= len(data) || data[i] != ':' {
			return
		}
		i = skipSpace(data, i+1)
		end, ok := valueEnd(data, i)
		if !ok {
			return
		}
		fn(key, data[i:end])
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ',' {
			return
		}
		i++
	}
}

// valueEnd returns the index just after the JSON value starting at data[i], for a valid
// value: the closing quote of a string, the bracket matching an object's or array's, the
// first delimiter after a number or literal. For an invalid one it may be anywhere, which
// its callers check (json.Valid, or encoding/json having read data).
func valueEnd(data []byte, i int) (int, bool) {
	depth := 0
	for j := i; j < len(data); j++ {
		switch data[j] {
		case '"':
			open := j
			for { // to the next quote not escaped: one after an even run of backslashes
				k := bytes.IndexByte(data[j+1:], '"')
				if k < 0 {
					return 0, false
				}
				j += 1 + k
				n := 0
				for p := j - 1; p > open && data[p] == '\\'; p-- {
					n++
				}
				if n%2 == 0 {
					break
				}
			}
			if depth == 0 {
				return j + 1, true
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return j, j > i
			}
			if depth--; depth == 0 {
				return j + 1, true
			}
		case ',', ' ', '\t', '\n', '\r', ':':
			if depth == 0 {
				return j, j > i
			}
		}
	}
	return len(data), depth == 0 && len(data) > i
}

// errExtra is AppendJSON's error for an Extra that is not a JSON object.
var errExtra = errors.New("notification: an event's Extra is not a JSON object")

// AppendMembers appends the members of extra (a JSON object, or empty) to an object being
// written after at least one member: a comma and them, before its closing brace, which the
// caller writes. An extra that is not a JSON object is an error.
func AppendMembers(b []byte, extra json.RawMessage) ([]byte, error) {
	if len(extra) == 0 {
		return b, nil
	}
	// Valid first, on the whole: JSON's whitespace is narrower than bytes.TrimSpace's (a
	// vertical tab around the object is not JSON).
	if !json.Valid(extra) {
		return b, errExtra
	}
	inner := bytes.TrimSpace(extra)
	if len(inner) < 2 || inner[0] != '{' || inner[len(inner)-1] != '}' {
		return b, errExtra
	}
	inner = bytes.TrimSpace(inner[1 : len(inner)-1])
	if len(inner) == 0 {
		return b, nil
	}
	return append(append(b, ','), inner...), nil
}
