package inbox_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/readmodel/inboxdb"
	"github.com/eventnotify/notify/infra/store/eventlog"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

// TestRunner_SkipsUnknownEventTypes: an event of a type this version does not know, on a
// notification the inbox has, is neither applied nor parked; the events around it are.
func TestRunner_SkipsUnknownEventTypes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log, err := eventlog.Open(filepath.Join(dir, "events.db"), eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	ctx := context.Background()
	send := command.NewSendNotificationHandler(log, nil)
	first, err := send.Handle(ctx, command.SendNotification{RecipientID: "carol", Content: "first", Category: "c"})
	if err != nil {
		t.Fatal(err)
	}
	id := first.Notification.ID()
	if _, err := log.Append(ctx, notification.Stream(id), eventstore.Any, eventstore.EventData{ID: uuid.New(), Type: "NotificationSnoozed",
		Data: []byte(`{"notificationId":"` + id + `","recipientId":"carol","until":"2026-12-24T00:00:00Z"}`)}); err != nil {
		t.Fatal(err)
	}
	last, err := send.Handle(ctx, command.SendNotification{RecipientID: "carol", Content: "second", Category: "c"})
	if err != nil {
		t.Fatal(err)
	}

	rm, err := inboxdb.Open(filepath.Join(dir, "inbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	pk := projections.NewParking()
	r := projections.NewRunner(log, rm, inbox.Projection(), nil).ParkInto(pk)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	defer func() { cancel(); <-done }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := r.WaitFor(wctx, last.Position); err != nil {
		t.Fatalf("the projection did not get past the unknown event: %v (parked %+v)", err, pk.List())
	}
	if pk.Count() != 0 {
		t.Fatalf("parked %+v; an unknown event type is skipped, not parked", pk.List())
	}
	if c, err := rm.Count(ctx, "carol"); err != nil || c.Total != 2 || c.Unread != 2 {
		t.Fatalf("carol's counts = %+v, %v; want both notifications, unread", c, err)
	}
}
