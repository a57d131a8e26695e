package notification_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/eventnotify/notify/domain/notification"
)

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzAppendJSONMatchesEncodingJSON: every event encodes byte for byte as encoding/json
// encodes it, escapes, invalid UTF-8, zones and out-of-range years included; an Extra that is a
// JSON object follows, its members as they are, and one that is not fails the encoding.
func FuzzAppendJSONMatchesEncodingJSON(f *testing.F) {
	f.Add(uint8(0), "5f0c2a3e-1111-4a4a-9b9b-000000000001", "alice", "You have a new follower", "social", int64(1767225600123456789), int32(0), "")
	f.Add(uint8(1), "x", "r", `quote " back\ <tag> & ünïcode `+"\u2028\n\t\x01\xff", "c", int64(-62135596800000000), int32(7200), `{"via":"push"}`)
	f.Add(uint8(3), "", "", "", "", int64(0), int32(-3600*23-59*60), ` { "a" : [1, {"b":null}] , "c":"<&>" } `)
	f.Add(uint8(2), "n", "r", "", "", int64(253402300800000000), int32(0), "") // year 10000: refused
	for kind := uint8(4); kind < 8; kind++ {
		f.Add(kind, "5f0c2a3e-1111-4a4a-9b9b-000000000001", "alice", "Your order shipped", "orders", int64(1767225600123456789), int32(3600), `{"priority":2}`)
	}
	f.Add(uint8(7), "n", "r", "c", "c", int64(0), int32(0), `[1]`)
	f.Add(uint8(0), "n", "r", "c", "c", int64(0), int32(0), `{}`)
	f.Fuzz(func(t *testing.T, kind uint8, id, recipient, content, category string, nanos int64, offset int32, extra string) {
		at := time.Unix(0, nanos).In(time.FixedZone("", int(offset)))
		var e notification.Event
		switch kind % 8 {
		case 0:
			e = notification.Sent{NotificationID: id, RecipientID: recipient, Content: content, Category: category, SentAt: at}
		case 1:
			e = notification.Read{NotificationID: id, RecipientID: recipient, ReadAt: at}
		case 2:
			e = notification.Unread{NotificationID: id, RecipientID: recipient, UnreadAt: at}
		case 3:
			e = notification.Canceled{NotificationID: id, RecipientID: recipient, CanceledAt: at}
		case 4:
			e = notification.Seen{NotificationID: id, RecipientID: recipient, SeenAt: at}
		case 5:
			e = notification.Archived{NotificationID: id, RecipientID: recipient, ArchivedAt: at}
		case 6:
			e = notification.Unarchived{NotificationID: id, RecipientID: recipient, UnarchivedAt: at}
		default: // the optional fields
			e = notification.Sent{NotificationID: id, RecipientID: recipient, Content: content, Category: category, SentAt: at,
				Title: content, ActionURL: "/" + category, Actions: []notification.Action{{Label: category, URL: content}}, Tags: []string{category},
				Data: mustJSON(t, map[string]string{"k": content})}
		}
		want, wantErr := json.Marshal(e) // Extra is json:"-"
		if extra != "" {
			e = withExtra(e, json.RawMessage(extra))
			var members map[string]json.RawMessage
			switch trimmed := strings.TrimSpace(extra); {
			case json.Unmarshal([]byte(extra), &members) != nil || trimmed[0] != '{':
				wantErr = errors.New("not an object")
			case wantErr == nil && len(members) > 0:
				inner := strings.TrimSpace(trimmed[1 : len(trimmed)-1])
				want = append(append(want[:len(want)-1:len(want)-1], ","+inner...), '}')
			}
		}
		got, err := notification.AppendJSON([]byte("prefix"), e)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("error %v, encoding/json's %v", err, wantErr)
		}
		if wantErr == nil && !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Fatalf("\ngot  %s\nwant prefix%s", got, want)
		}
	})
}

func withExtra(e notification.Event, extra json.RawMessage) notification.Event {
	switch e := e.(type) {
	case notification.Sent:
		e.Extra = extra
		return e
	case notification.Read:
		e.Extra = extra
		return e
	case notification.Unread:
		e.Extra = extra
		return e
	case notification.Canceled:
		e.Extra = extra
		return e
	case notification.Seen:
		e.Extra = extra
		return e
	case notification.Archived:
		e.Extra = extra
		return e
	case notification.Unarchived:
		e.Extra = extra
		return e
	}
	return e
}
