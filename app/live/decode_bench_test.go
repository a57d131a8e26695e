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
// record to the payload every subscriber of its recipient shares.
func BenchmarkDecode(b *testing.B) {
	data, err := json.Marshal(notification.Sent{NotificationID: "5f0c2a3e-1111-4a4a-9b9b-000000000001", RecipientID: "r-42",
		Content: "You have a new follower number 42", Category: "social", SentAt: time.Now().UTC()})
	if err != nil {
		b.Fatal(err)
	}
	h := NewHub(nopLog{}, 0, Options{Ring: 1})
	rec := eventstore.RecordedEvent{Stream: notification.Stream("5f0c2a3e-1111-4a4a-9b9b-000000000001"), Position: 123456, Type: notification.TypeSent, Data: data}
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
