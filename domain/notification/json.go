package notification

import (
	"encoding/json"
	"time"
)

// AppendJSON appends the event's JSON to b: byte for byte what encoding/json writes for its
// fields (a fuzz test holds it to that), then the members of its Extra as they are, so that
// an event decoded and encoded again keeps the fields a newer version wrote. It is several
// times faster than encoding/json and has no second pass over the output. Event types it does
// not know are left to encoding/json.
func AppendJSON(b []byte, e Event) ([]byte, error) {
	var (
		at    time.Time
		field string
		extra json.RawMessage
	)
	switch e := e.(type) {
	case Sent:
		if e.rich() { // the optional fields: rare enough for encoding/json
			data, err := json.Marshal(e)
			if err != nil {
				return b, err
			}
			b, err = AppendMembers(append(b, data[:len(data)-1]...), e.Extra)
			return append(b, '}'), err
		}
		extra = e.Extra
		b = appendIDs(b, e.NotificationID, e.RecipientID)
		b = append(b, `,"content":`...)
		b = AppendJSONString(b, e.Content)
		b = append(b, `,"category":`...)
		b = AppendJSONString(b, e.Category)
		at, field = e.SentAt, `,"sentAt":`
	case Read:
		b = appendIDs(b, e.NotificationID, e.RecipientID)
		at, field = e.ReadAt, `,"readAt":`
		extra = e.Extra
	case Unread:
		b = appendIDs(b, e.NotificationID, e.RecipientID)
		at, field = e.UnreadAt, `,"unreadAt":`
		extra = e.Extra
	case Canceled:
		b = appendIDs(b, e.NotificationID, e.RecipientID)
		at, field = e.CanceledAt, `,"canceledAt":`
		extra = e.Extra
	case Seen:
		b = appendIDs(b, e.NotificationID, e.RecipientID)
		at, field = e.SeenAt, `,"seenAt":`
		extra = e.Extra
	case Archived:
		b = appendIDs(b, e.NotificationID, e.RecipientID)
		at, field = e.ArchivedAt, `,"archivedAt":`
		extra = e.Extra
	case Unarchived:
		b = appendIDs(b, e.NotificationID, e.RecipientID)
		at, field = e.UnarchivedAt, `,"unarchivedAt":`
		extra = e.Extra
	default:
		data, err := json.Marshal(e)
		return append(b, data...), err
	}
	b = append(b, field...)
	b, err := AppendJSONTime(b, at)
	if err != nil {
		return b, err
	}
	b, err = AppendMembers(b, extra)
	return append(b, '}'), err
}

func appendIDs(b []byte, notification, recipient string) []byte {
	b = append(b, `{"notificationId":`...)
	b = AppendJSONString(b, notification)
	b = append(b, `,"recipientId":`...)
	return AppendJSONString(b, recipient)
}

// AppendJSONString appends s as encoding/json writes a string. Plain printable ASCII is copied
// as it is; any other string is left to encoding/json (which escapes quotes, backslashes,
// controls, <, > and &, and rewrites invalid UTF-8).
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			enc, _ := json.Marshal(s) // a string always encodes
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// AppendJSONTime appends t as encoding/json writes a time.Time: RFC 3339 with nanoseconds, or
// encoding/json's own error for a time RFC 3339 cannot express.
func AppendJSONTime(b []byte, t time.Time) ([]byte, error) {
	_, offset := t.Zone()
	if y := t.Year(); y < 0 || y > 9999 || offset <= -24*3600 || offset >= 24*3600 {
		enc, err := t.MarshalJSON()
		return append(b, enc...), err
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}
