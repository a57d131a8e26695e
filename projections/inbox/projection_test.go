package inbox_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// openInbox opens an embedded read model in dir, closed when the test ends.
func openInbox(t *testing.T, dir string) *inboxdb.Store {
	t.Helper()
	rm, err := inboxdb.Open(filepath.Join(dir, "inbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rm.Close() })
	return rm
}

// project runs the inbox projection over log into rm (parking into pk, if not nil) until it
// reaches position until, then stops it.
func project(t *testing.T, log projections.Log, rm *inboxdb.Store, pk *projections.Parking, until eventstore.Position) error {
	t.Helper()
	r := projections.NewRunner(log, rm, inbox.Projection(), nil)
	if pk != nil {
		r.ParkInto(pk)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	err := r.WaitFor(wctx, until)
	cancel()
	if rerr := <-done; err == nil {
		err = rerr
	}
	return err
}

// Given commands in the log, a runner builds the inbox; stopped and started again it resumes
// from its checkpoint, so events applied before the stop are not applied twice.
func TestRunner_ResumesFromCheckpoint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log, err := eventlog.Open(filepath.Join(dir, "events.db"), eventlog.Options{ReadBatch: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	rm := openInbox(t, dir)
	send := command.NewSendNotificationHandler(log, nil)
	read := command.NewReadNotificationHandler(log, nil)
	ctx := context.Background()

	sendN := func(from, n int) (last command.Result) {
		for i := from; i < from+n; i++ {
			res, err := send.Handle(ctx, command.SendNotification{RecipientID: "alice", Content: fmt.Sprintf("message %d", i), Category: "c"})
			if err != nil {
				t.Fatal(err)
			}
			last = res
		}
		return last
	}
	run := func(until command.Result) {
		t.Helper()
		if err := project(t, log, rm, nil, until.Position); err != nil {
			t.Fatal(err)
		}
	}

	first := sendN(0, 30)
	run(first)
	if _, err := read.Handle(ctx, command.ReadNotification{NotificationID: first.Notification.ID()}); err != nil {
		t.Fatal(err)
	}
	last := sendN(30, 20)
	run(last)

	c, err := rm.Count(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if c != (inbox.Counts{Total: 50, Unread: 49, Unseen: 49}) {
		t.Fatalf("counts after restart = %+v, want total 50, unread and unseen 49", c)
	}
	docs, _ := rm.List(ctx, "alice", 100)
	if len(docs) != 50 {
		t.Fatalf("inbox lists %d, want 50", len(docs))
	}
	if cp, _ := rm.Checkpoint(ctx, inbox.Name); cp != last.Position {
		t.Fatalf("checkpoint %d, want %d", cp, last.Position)
	}
}

// One bad event never stops the projection: a record the log reports corrupt, an event whose
// data does not decode and one for a notification the inbox does not have are each parked,
// and every other event, before and after them, is applied.
func TestRunner_ParksBadEventsAndGoesOn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "events.db")
	log, err := eventlog.Open(path, eventlog.Options{ReadBatch: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	send := command.NewSendNotificationHandler(log, nil)
	for i := range 10 {
		if _, err := send.Handle(ctx, command.SendNotification{RecipientID: "bob", Content: fmt.Sprintf("message number %d", i), Category: "c"}); err != nil {
			t.Fatal(err)
		}
	}
	undecodable, err := log.Append(ctx, notification.Stream(uuid.NewString()), eventstore.NoStream,
		eventstore.EventData{ID: uuid.New(), Type: notification.TypeSent, Data: []byte(`{"notificationId":`)})
	if err != nil {
		t.Fatal(err)
	}
	stray := uuid.NewString()
	unknown, err := log.Append(ctx, notification.Stream(stray), eventstore.NoStream, eventstore.EventData{ID: uuid.New(), Type: notification.TypeRead,
		Data: []byte(`{"notificationId":"` + stray + `","recipientId":"bob","readAt":"2026-12-01T00:00:00Z"}`)})
	if err != nil {
		t.Fatal(err)
	}
	var last command.Result
	for i := 10; i < 15; i++ {
		if last, err = send.Handle(ctx, command.SendNotification{RecipientID: "bob", Content: fmt.Sprintf("message number %d", i), Category: "c"}); err != nil {
			t.Fatal(err)
		}
	}
	log.Close()
	b, _ := os.ReadFile(path) // a flipped byte in message number 3
	i := bytes.Index(b, []byte("message number 3"))
	b[i] ^= 0x20
	os.WriteFile(path, b, 0o600)
	log, err = eventlog.Open(path, eventlog.Options{ReadBatch: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	corrupt := log.Health().Corrupt[0].Position

	rm := openInbox(t, dir)
	pk := projections.NewParking()
	if err := project(t, log, rm, pk, last.Position); err != nil {
		t.Fatalf("the projection did not get past the bad events: %v (parked %+v)", err, pk.List())
	}
	var parked []eventstore.Position
	for _, p := range pk.List() {
		parked = append(parked, p.Position)
	}
	if want := []eventstore.Position{corrupt, undecodable.Position, unknown.Position}; !slices.Equal(parked, want) {
		t.Fatalf("parked %v (%+v), want %v", parked, pk.List(), want)
	}
	if c, _ := rm.Count(ctx, "bob"); c.Total != 14 {
		t.Fatalf("bob has %d notifications, want the 14 that are not damaged", c.Total)
	}
}

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

	rm := openInbox(t, dir)
	pk := projections.NewParking()
	if err := project(t, log, rm, pk, last.Position); err != nil {
		t.Fatalf("the projection did not get past the unknown event: %v (parked %+v)", err, pk.List())
	}
	if pk.Count() != 0 {
		t.Fatalf("parked %+v; an unknown event type is skipped, not parked", pk.List())
	}
	if c, err := rm.Count(ctx, "carol"); err != nil || c.Total != 2 || c.Unread != 2 {
		t.Fatalf("carol's counts = %+v, %v; want both notifications, unread", c, err)
	}
}

// A NotificationSent of a newer schema version with a field this version does not know is
// projected with the field kept: the document shows it after the known fields, as stored, and
// it survives a later event's fold (the document read back and written again). A member named
// as a field of the view is not taken.
func TestRunner_KeepsANewerVersionsFields(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log, err := eventlog.Open(filepath.Join(dir, "events.db"), eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	ctx := context.Background()
	id := "5f0c2a3e-1111-4a4a-9b9b-000000000077"
	md := []byte(fmt.Sprintf(`{"commandId":"c","correlationId":"c","causationId":"c","schemaVersion":%d}`, notification.SchemaVersion+1))
	sent, err := log.Append(ctx, notification.Stream(id), eventstore.NoStream, eventstore.EventData{ID: uuid.New(), Type: notification.TypeSent, Metadata: md,
		Data: []byte(`{"notificationId":"` + id + `","recipientId":"dana","content":"hello there","category":"c","sentAt":"2026-01-02T03:04:05Z","priority":{"level":2},"status":"bogus"}`)})
	if err != nil {
		t.Fatal(err)
	}
	rm := openInbox(t, dir)
	if err := project(t, log, rm, nil, sent.Position); err != nil { // the Sent in a batch of its own
		t.Fatal(err)
	}
	read := command.NewReadNotificationHandler(log, nil)
	res, err := read.Handle(ctx, command.ReadNotification{NotificationID: id})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(res.Notification.Extra()); got != `{"priority":{"level":2},"status":"bogus"}` {
		t.Fatalf("the command load's notification has Extra %s", got)
	}
	if err := project(t, log, rm, nil, res.Position); err != nil {
		t.Fatal(err)
	}
	page, err := rm.Page(ctx, inbox.PageQuery{Recipient: "dana", Limit: 10})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("page %v, %v", page, err)
	}
	doc := string(page.Items[0])
	if !bytes.HasSuffix([]byte(doc), []byte(`"createdAt":"2026-01-02T03:04:05Z","seenAt":"`+res.Notification.ReadAt().Format(time.RFC3339Nano)+`","priority":{"level":2}}`)) ||
		!bytes.Contains([]byte(doc), []byte(`"status":"read"`)) {
		t.Fatalf("document %s: want status read and the newer field kept last", doc)
	}
}
