package notification

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// The fast path either declines or gives exactly what encoding/json gives.
func FuzzDecodeFastMatchesEncodingJSON(f *testing.F) {
	at := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
	for _, e := range []Event{
		Sent{NotificationID: "5f0c2a3e-1111-4a4a-9b9b-000000000001", RecipientID: "alice", Content: "You have a new follower", Category: "social", SentAt: at},
		Sent{NotificationID: "x", RecipientID: "bob", Content: `quote " and <tag> & ünïcode`, Category: "c", SentAt: at.In(time.FixedZone("", 7200))},
		Read{NotificationID: "n", RecipientID: "r", ReadAt: at},
		Unread{NotificationID: "n", RecipientID: "r", UnreadAt: at},
		Canceled{NotificationID: "n", RecipientID: "r", CanceledAt: at},
		Seen{NotificationID: "n", RecipientID: "r", SeenAt: at},
		Archived{NotificationID: "n", RecipientID: "r", ArchivedAt: at},
		Unarchived{NotificationID: "n", RecipientID: "r", UnarchivedAt: at},
		Sent{NotificationID: "n", RecipientID: "r", Content: "hello world", Category: "c", SentAt: at, Title: "Hi", Tags: []string{"a"}},
	} {
		b, _ := json.Marshal(e)
		f.Add(e.Type(), b)
	}
	f.Add(TypeSent, []byte(`{"NotificationId":"a","content":"b"}`))
	f.Add(TypeRead, []byte(` { "notificationId" : "a" , "readAt" : "2026-01-02T03:04:05Z" , "notificationId":"b"} `))
	f.Add(TypeRead, []byte(`{"notificationId":"a","readAt":"2026-13-02T03:04:05Z"}`))
	f.Add(TypeSent, []byte(`{}`))
	f.Fuzz(func(t *testing.T, eventType string, data []byte) {
		fast, ok := decodeFast(eventType, data)
		if !ok {
			return
		}
		var want Event
		var err error
		switch eventType {
		case TypeSent:
			var e Sent
			err, want = json.Unmarshal(data, &e), e
		case TypeRead:
			var e Read
			err, want = json.Unmarshal(data, &e), e
		case TypeUnread:
			var e Unread
			err, want = json.Unmarshal(data, &e), e
		case TypeCanceled:
			var e Canceled
			err, want = json.Unmarshal(data, &e), e
		case TypeSeen:
			var e Seen
			err, want = json.Unmarshal(data, &e), e
		case TypeArchived:
			var e Archived
			err, want = json.Unmarshal(data, &e), e
		case TypeUnarchived:
			var e Unarchived
			err, want = json.Unmarshal(data, &e), e
		default:
			t.Fatalf("fast path accepted unknown type %q", eventType)
		}
		if err != nil {
			t.Fatalf("fast path accepted %s that encoding/json refuses (%v)", data, err)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("%s %s:\nfast %#v\njson %#v", eventType, data, fast, want)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	data, _ := json.Marshal(Sent{NotificationID: "5f0c2a3e-1111-4a4a-9b9b-000000000001", RecipientID: "r-42", Content: "You have a new follower number 42", Category: "social", SentAt: time.Now().UTC()})
	b.Run("fast", func(b *testing.B) {
		for range b.N {
			if _, err := Decode(TypeSent, data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for range b.N {
			var e Sent
			if err := json.Unmarshal(data, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
