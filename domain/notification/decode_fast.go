package notification

import (
	"encoding/json"
	"time"
)

// decodeFast decodes the events as this service writes them, several times faster than
// encoding/json: one flat object of string fields, with exactly the field names of the event,
// ASCII only and no escapes; a sent notification's optional fields (title, data, …) are
// left to encoding/json too. A member the event does not have (a newer version's field: a
// name no field of the type matches, even case folded) goes to Extra as it is, its value
// checked by json.Valid. It reports ok=false for anything else (another spelling of a
// name, an escape, a non-ASCII byte, a value that is not a string, a malformed time), and
// Decode then uses encoding/json, so the result is always what decodeJSON gives.
func decodeFast(eventType string, data []byte) (Event, bool) {
	var (
		id, recipient, content, category string
		at                               time.Time
		timeField                        string
		extra                            []byte
	)
	switch eventType {
	case TypeSent:
		timeField = "sentAt"
	case TypeRead:
		timeField = "readAt"
	case TypeUnread:
		timeField = "unreadAt"
	case TypeCanceled:
		timeField = "canceledAt"
	case TypeSeen:
		timeField = "seenAt"
	case TypeArchived:
		timeField = "archivedAt"
	case TypeUnarchived:
		timeField = "unarchivedAt"
	default:
		return nil, false
	}
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		i++
	} else {
		for {
			keyStart := i
			key, keyEnd, ok := plainString(data, i)
			if !ok {
				return nil, false
			}
			next := keyEnd
			i = skipSpace(data, next)
			if i >= len(data) || data[i] != ':' {
				return nil, false
			}
			i = skipSpace(data, i+1)
			start := i
			value, next, ok := plainString(data, i)
			switch {
			case !ok && knownField(eventType, key):
				return nil, false
			case !ok: // a newer version's member, not a plain string: kept in Extra
				if next, ok = valueEnd(data, i); !ok || !json.Valid(data[i:next]) {
					return nil, false
				}
				extra = appendMember(extra, data[keyStart:keyEnd], data[i:next])
			case string(key) == "notificationId": // compared without a copy
				id = string(value)
			case string(key) == "recipientId":
				recipient = string(value)
			case string(key) == "content" && eventType == TypeSent:
				content = string(value)
			case string(key) == "category" && eventType == TypeSent:
				category = string(value)
			case string(key) == timeField:
				if err := at.UnmarshalJSON(data[start:next]); err != nil {
					return nil, false
				}
			case knownField(eventType, key):
				return nil, false // encoding/json matches names case-insensitively: let it
			default: // a newer version's member: kept in Extra
				extra = appendMember(extra, data[keyStart:keyEnd], data[start:next])
			}
			i = skipSpace(data, next)
			if i < len(data) && data[i] == ',' {
				i = skipSpace(data, i+1)
				continue
			}
			if i < len(data) && data[i] == '}' {
				i++
				break
			}
			return nil, false
		}
	}
	if skipSpace(data, i) != len(data) {
		return nil, false
	}
	if extra != nil {
		extra = append(extra, '}')
	}
	switch eventType {
	case TypeSent:
		return Sent{NotificationID: id, RecipientID: recipient, Content: content, Category: category, SentAt: at, Extra: extra}, true
	case TypeRead:
		return Read{NotificationID: id, RecipientID: recipient, ReadAt: at, Extra: extra}, true
	case TypeUnread:
		return Unread{NotificationID: id, RecipientID: recipient, UnreadAt: at, Extra: extra}, true
	case TypeSeen:
		return Seen{NotificationID: id, RecipientID: recipient, SeenAt: at, Extra: extra}, true
	case TypeArchived:
		return Archived{NotificationID: id, RecipientID: recipient, ArchivedAt: at, Extra: extra}, true
	case TypeUnarchived:
		return Unarchived{NotificationID: id, RecipientID: recipient, UnarchivedAt: at, Extra: extra}, true
	default:
		return Canceled{NotificationID: id, RecipientID: recipient, CanceledAt: at, Extra: extra}, true
	}
}

// plainString reads a JSON string at data[i] made of printable ASCII without escapes: its
// contents (a slice of data, not a copy) and the index after its closing quote.
func plainString(data []byte, i int) ([]byte, int, bool) {
	if i >= len(data) || data[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			return data[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return nil, i, false
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
