package live

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
)

// BenchmarkDecode is the hub's work per event of the log before any fan-out: from the stored
// record (its metadata as the command side writes it) to the payload every subscriber of its
// recipient shares.
func BenchmarkDecode(b *testing.B) {
	data, err := json.Marshal(notification.Sent{NotificationID: "5f0c2a3e-1111-4a4a-9b9b-000000000001", RecipientID: "r-42",
		Content: "You have a new follower number 42", Category: "social", SentAt: time.Now().UTC()})
	if err != nil {
		b.Fatal(err)
	}
	h := NewHub(nopLog{}, 0, Options{Ring: 1})
	md := []byte(`{"commandId":"940fff38-a38b-4bc8-ba2a-192230848a35","correlationId":"940fff38-a38b-4bc8-ba2a-192230848a35","causationId":"940fff38-a38b-4bc8-ba2a-192230848a35","schemaVersion":2}`)
	rec := eventstore.RecordedEvent{Stream: notification.Stream("5f0c2a3e-1111-4a4a-9b9b-000000000001"), Position: 123456, Type: notification.TypeSent, Data: data, Metadata: md}
	b.ReportAllocs()
	for range b.N {
		if _, ok := h.decode(rec); !ok {
			b.Fatal("not decoded")
		}
	}
}

// nopLog is a log the benchmark's hub never follows.
type nopLog struct{}

func (nopLog) Subscribe(context.Context, eventstore.Position, eventstore.Filter, func(context.Context, eventstore.Batch) error) error {
	return nil
}

// TestWithPosition: the position goes in as the object's last field, whatever the spacing,
// and anything but an object is refused.
func TestWithPosition(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{`{"a":"b"}`, `{"a":"b","position":7}`},
		{`{}`, `{"position":7}`},
		{" { \n} ", `{ ` + "\n" + `"position":7}`},
		{"\t{\"a\":1 }\r\n", `{"a":1 ,"position":7}`},
		{`null`, ""},
		{`[]`, ""},
		{`{`, ""},
		{``, ""},
	} {
		got, ok := withPosition([]byte(tc.in), 7)
		if string(got) != tc.want || ok != (tc.want != "") {
			t.Errorf("withPosition(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

// TestNames: every event type of the domain has its SSE event name (a missing one would go
// out with an empty event: line).
func TestNames(t *testing.T) {
	t.Parallel()
	for typ, want := range map[string]string{
		notification.TypeSent: "notification.sent", notification.TypeRead: "notification.read",
		notification.TypeUnread: "notification.unread", notification.TypeCanceled: "notification.canceled",
		notification.TypeSeen: "notification.seen", notification.TypeArchived: "notification.archived",
		notification.TypeUnarchived: "notification.unarchived",
	} {
		if names[typ] != want {
			t.Errorf("names[%s] = %q, want %q", typ, names[typ], want)
		}
	}
}
