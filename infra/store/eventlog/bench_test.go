package eventlog_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/infra/store/eventlog"
)

// BenchmarkAppendNewStreams measures durable appends of one event to a new stream each (the
// shape of a send), from 32 concurrent appenders, so group commit is exercised.
func BenchmarkAppendNewStreams(b *testing.B) {
	for _, appenders := range []int{32, 1024} {
		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) { benchAppendNewStreams(b, appenders) })
	}
}

// With 1,024 appenders, as the Kafka subscriber keeps in flight on one partition, a commit
// carries up to MaxGroup appends.
func benchAppendNewStreams(b *testing.B, appenders int) {
	s, err := eventlog.Open(filepath.Join(b.TempDir(), "events.db"), eventlog.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := []byte(`{"notificationId":"0b0f3c8e-8a1e-4f51-9a55-3f0c1b2a7d10","recipientId":"bench-1","content":"Your order has shipped","category":"orders","sentAt":"2026-11-27T10:00:00Z"}`)
	meta := []byte(`{"commandId":"c","correlationId":"c","causationId":"c","schemaVersion":1}`)
	b.SetParallelism(max(1, appenders/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			id := uuid.New()
			if _, err := s.Append(ctx, "notification-"+id.String(), eventstore.NoStream, eventstore.EventData{ID: id, Type: "NotificationSent", Data: data, Metadata: meta}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
