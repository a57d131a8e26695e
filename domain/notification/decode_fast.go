package notification

import "time"

// decodeFast decodes the events as this service writes them, several times faster than
// encoding/json: one flat object of string fields, with exactly the field names of the event,
// ASCII only and no escapes; a sent notification's optional fields (title, data, …) are
// left to encoding/json too. It reports ok=false for anything else (another spelling of a
// name, an escape, a non-ASCII byte, a value that is not a string, a malformed time), and
// Decode then uses encoding/json, so the result is always what encoding/json gives.
func decodeFast(eventType string, data []byte) (Event, bool) {
	var (
		id, recipient, content, category string
		at                               time.Time
		timeField                        string
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
			key, next, ok := plainString(data, i)
			if !ok {
				return nil, false
			}
			i = skipSpace(data, next)
			if i >= len(data) || data[i] != ':' {
				return nil, false
			}
			i = skipSpace(data, i+1)
			start := i
			value, next, ok := plainString(data, i)
			if !ok {
				return nil, false
			}
			switch string(key) { // compared without a copy
			case "notificationId":
				id = string(value)
			case "recipientId":
				recipient = string(value)
			case "content":
				if eventType != TypeSent {
					return nil, false
				}
				content = string(value)
			case "category":
				if eventType != TypeSent {
					return nil, false
				}
				category = string(value)
			case timeField:
				if err := at.UnmarshalJSON(data[start:next]); err != nil {
					return nil, false
				}
			default:
				return nil, false // encoding/json matches names case-insensitively: let it
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
	switch eventType {
	case TypeSent:
		return Sent{NotificationID: id, RecipientID: recipient, Content: content, Category: category, SentAt: at}, true
	case TypeRead:
		return Read{NotificationID: id, RecipientID: recipient, ReadAt: at}, true
	case TypeUnread:
		return Unread{NotificationID: id, RecipientID: recipient, UnreadAt: at}, true
	case TypeSeen:
		return Seen{NotificationID: id, RecipientID: recipient, SeenAt: at}, true
	case TypeArchived:
		return Archived{NotificationID: id, RecipientID: recipient, ArchivedAt: at}, true
	case TypeUnarchived:
		return Unarchived{NotificationID: id, RecipientID: recipient, UnarchivedAt: at}, true
	default:
		return Canceled{NotificationID: id, RecipientID: recipient, CanceledAt: at}, true
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
