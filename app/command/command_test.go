package command_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/store/eventlog"
)

var now = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

type handlers struct {
	store  *eventlog.Store
	send   command.SendNotificationHandler
	read   command.ReadNotificationHandler
	unread command.UnreadNotificationHandler
	cancel command.CancelNotificationHandler
	see    command.SeeNotificationHandler
	arch   command.ArchiveNotificationHandler
	unarch command.UnarchiveNotificationHandler
}

func setup(t *testing.T) handlers {
	t.Helper()
	s, err := eventlog.Open(filepath.Join(t.TempDir(), "events.db"), eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	clock := func() time.Time { return now }
	return handlers{
		store:  s,
		send:   command.NewSendNotificationHandler(s, clock),
		read:   command.NewReadNotificationHandler(s, clock),
		unread: command.NewUnreadNotificationHandler(s, clock),
		cancel: command.NewCancelNotificationHandler(s, clock),
		see:    command.NewSeeNotificationHandler(s, clock),
		arch:   command.NewArchiveNotificationHandler(s, clock),
		unarch: command.NewUnarchiveNotificationHandler(s, clock),
	}
}

func (h handlers) types(t *testing.T, id string) []string {
	t.Helper()
	recs, err := h.store.ReadStream(context.Background(), notification.Stream(id), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.Type)
	}
	return out
}

// sent sends a notification (to r-1) with the command id and returns the notification's id.
func (h handlers) sent(t *testing.T, commandID string) string {
	t.Helper()
	res, err := h.send.Handle(context.Background(), sendCmd(commandID))
	if err != nil {
		t.Fatal(err)
	}
	return res.Notification.ID()
}

// change runs the read, unread or cancel command named verb.
func (h handlers) change(ctx context.Context, verb string, meta command.Meta, id string) (command.Result, error) {
	switch verb {
	case "read":
		return h.read.Handle(ctx, command.ReadNotification{Meta: meta, NotificationID: id})
	case "unread":
		return h.unread.Handle(ctx, command.UnreadNotification{Meta: meta, NotificationID: id})
	case "cancel":
		return h.cancel.Handle(ctx, command.CancelNotification{Meta: meta, NotificationID: id})
	case "see":
		return h.see.Handle(ctx, command.SeeNotification{Meta: meta, NotificationID: id})
	case "archive":
		return h.arch.Handle(ctx, command.ArchiveNotification{Meta: meta, NotificationID: id})
	case "unarchive":
		return h.unarch.Handle(ctx, command.UnarchiveNotification{Meta: meta, NotificationID: id})
	}
	panic("unknown verb " + verb)
}

func sendCmd(commandID string) command.SendNotification {
	return command.SendNotification{Meta: command.Meta{CommandID: commandID}, RecipientID: "r-1", Content: "You have a new sale", Category: "sales"}
}

func TestSend_DerivesIDFromCommandAndIsIdempotent(t *testing.T) {
	t.Parallel()
	h := setup(t)
	ctx := context.Background()
	first, err := h.send.Handle(ctx, sendCmd("order-42"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := h.send.Handle(ctx, sendCmd("order-42"))
	if err != nil {
		t.Fatalf("redelivered send failed: %v", err)
	}
	id := first.Notification.ID()
	if again.Notification.ID() != id || again.Changed || again.Position != first.Position {
		t.Fatalf("redelivery = id %s changed %v position %d; want id %s unchanged at %d", again.Notification.ID(), again.Changed, again.Position, id, first.Position)
	}
	if got := h.types(t, id); len(got) != 1 {
		t.Fatalf("stream holds %v, want one NotificationSent", got)
	}
	recs, _ := h.store.ReadStream(ctx, notification.Stream(id), 0, 0)
	if recs[0].ID != command.EventID("order-42", 0) {
		t.Fatalf("event id %s is not derived from the command id", recs[0].ID)
	}
	var md map[string]any
	if err := json.Unmarshal(recs[0].Metadata, &md); err != nil {
		t.Fatal(err)
	}
	if md["commandId"] != "order-42" || md["correlationId"] != "order-42" || md["schemaVersion"] != float64(notification.SchemaVersion) {
		t.Fatalf("metadata = %v", md)
	}
	other := sendCmd("order-42")
	other.Content = "Different content"
	if _, err := h.send.Handle(ctx, other); !errors.Is(err, notification.ErrConflict) {
		t.Fatalf("same command id with other content: %v, want conflict", err)
	}
}

func TestCommands_Lifecycle(t *testing.T) {
	t.Parallel()
	h := setup(t)
	id := h.sent(t, "c-1")
	unknown := "00000000-0000-4000-8000-000000000000"
	steps := []struct {
		name, verb, commandID, id string
		changed                   bool
		wantErr                   error
	}{
		{"see", "see", "c-s1", id, true, nil},
		{"see again", "see", "c-s2", id, false, nil},
		{"archive", "archive", "c-a1", id, true, nil},
		{"archive again", "archive", "c-a2", id, false, nil},
		{"unarchive", "unarchive", "c-a3", id, true, nil},
		{"unarchive again", "unarchive", "c-a4", id, false, nil},
		{"archive redelivered after unarchive is a no-op", "archive", "c-a1", id, false, nil},
		{"read", "read", "c-2", id, true, nil},
		{"read again", "read", "c-3", id, false, nil},
		{"unread", "unread", "c-4", id, true, nil},
		{"cancel", "cancel", "c-5", id, true, nil},
		{"cancel again", "cancel", "c-6", id, false, nil},
		{"read canceled", "read", "c-7", id, false, notification.ErrConflict},
		{"read unknown", "read", "c-8", unknown, false, notification.ErrNotFound},
		{"read bad id", "read", "c-9", "nope", false, notification.ErrInvalid},
		{"see canceled", "see", "c-s3", id, false, notification.ErrConflict},
		{"archive canceled", "archive", "c-a5", id, true, nil},
		{"see unknown", "see", "c-s4", unknown, false, notification.ErrNotFound},
	}
	for _, s := range steps {
		res, err := h.change(context.Background(), s.verb, command.Meta{CommandID: s.commandID}, s.id)
		if s.wantErr != nil {
			if !errors.Is(err, s.wantErr) {
				t.Fatalf("%s: error %v, want %v", s.name, err, s.wantErr)
			}
			continue
		}
		if err != nil || res.Changed != s.changed {
			t.Fatalf("%s: changed=%v err=%v, want changed=%v", s.name, res.Changed, err, s.changed)
		}
	}
	want := []string{notification.TypeSent, notification.TypeSeen, notification.TypeArchived, notification.TypeUnarchived,
		notification.TypeRead, notification.TypeUnread, notification.TypeCanceled, notification.TypeArchived}
	if got := h.types(t, id); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stream = %v, want %v", got, want)
	}
}

// N readers of one notification race; the optimistic append plus retry must leave exactly one
// NotificationRead, and every reader must succeed.
func TestRead_ConcurrentReadersOneEvent(t *testing.T) {
	t.Parallel()
	h := setup(t)
	ctx := context.Background()
	id := h.sent(t, "c-1")
	const n = 20
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	changed := make(chan bool, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := h.read.Handle(ctx, command.ReadNotification{Meta: command.Meta{CommandID: fmt.Sprintf("reader-%d", i)}, NotificationID: id})
			errs <- err
			changed <- res.Changed
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	close(changed)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent read failed: %v", err)
		}
	}
	winners := 0
	for c := range changed {
		if c {
			winners++
		}
	}
	if got := h.types(t, id); len(got) != 2 || winners != 1 {
		t.Fatalf("stream = %v with %d winners, want Sent+Read and exactly one winner", got, winners)
	}
}

func TestSend_InvalidNamesField(t *testing.T) {
	t.Parallel()
	h := setup(t)
	cmd := sendCmd("c-1")
	cmd.Content = "hey"
	_, err := h.send.Handle(context.Background(), cmd)
	var ve *notification.ValidationError
	if !errors.As(err, &ve) || ve.Field != "content" {
		t.Fatalf("error = %v, want a validation error on content", err)
	}
}

// A command redelivered after other commands changed the notification is still recognised by
// its id and changes nothing: read(k), unread, read(k) again leaves the notification unread.
func TestChange_RedeliveredAfterLaterChangesIsANoop(t *testing.T) {
	t.Parallel()
	h := setup(t)
	ctx := context.Background()
	id := h.sent(t, "c-1")
	readK := command.ReadNotification{Meta: command.Meta{CommandID: "k"}, NotificationID: id}
	if _, err := h.read.Handle(ctx, readK); err != nil {
		t.Fatal(err)
	}
	if _, err := h.unread.Handle(ctx, command.UnreadNotification{Meta: command.Meta{CommandID: "u"}, NotificationID: id}); err != nil {
		t.Fatal(err)
	}
	again, err := h.read.Handle(ctx, readK)
	if err != nil || again.Changed || !again.Notification.ReadAt().IsZero() {
		t.Fatalf("redelivered read: changed=%v readAt=%v err=%v; want a no-op leaving it unread", again.Changed, again.Notification.ReadAt(), err)
	}
	want := []string{notification.TypeSent, notification.TypeRead, notification.TypeUnread}
	if got := h.types(t, id); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stream = %v, want %v", got, want)
	}
}

func TestChange_ForARecipient_OnlyTheirOwn(t *testing.T) {
	t.Parallel()
	h := setup(t)
	ctx := context.Background()
	id := h.sent(t, "send-own") // recipient r-1
	owner, stranger := command.Meta{CommandID: "c-owner", Recipient: "r-1"}, command.Meta{CommandID: "c-stranger", Recipient: "r-2"}

	_, errRead := h.read.Handle(ctx, command.ReadNotification{Meta: stranger, NotificationID: id})
	_, errUnknown := h.read.Handle(ctx, command.ReadNotification{Meta: stranger, NotificationID: "00000000-0000-4000-8000-000000000000"})
	if !errors.Is(errRead, notification.ErrNotFound) || !errors.Is(errUnknown, notification.ErrNotFound) {
		t.Fatalf("another recipient's read = %v, unknown = %v; want ErrNotFound for both", errRead, errUnknown)
	}
	if _, err := h.cancel.Handle(ctx, command.CancelNotification{Meta: stranger, NotificationID: id}); !errors.Is(err, notification.ErrNotFound) {
		t.Fatalf("another recipient's cancel = %v, want ErrNotFound", err)
	}
	if _, err := h.read.Handle(ctx, command.ReadNotification{Meta: owner, NotificationID: id}); err != nil {
		t.Fatalf("the owner's read = %v", err)
	}
	// Reusing the owner's command id (a replayed Idempotency-Key) does not get past the check.
	replay := command.Meta{CommandID: "c-owner", Recipient: "r-2"}
	if _, err := h.unread.Handle(ctx, command.UnreadNotification{Meta: replay, NotificationID: id}); !errors.Is(err, notification.ErrNotFound) {
		t.Fatalf("a stranger replaying the owner's command id = %v, want ErrNotFound", err)
	}
	if got := h.types(t, id); len(got) != 2 {
		t.Fatalf("events = %v, want Sent and Read only", got)
	}
}

// TestChange_RefusesAStreamItCannotReadWhole: a command on a notification whose stream holds
// an event of a type this version does not know, or one that does not decode, fails (the
// former with ErrUnknownEvent) and appends nothing: it is never decided on part of a history.
func TestChange_RefusesAStreamItCannotReadWhole(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, typ, data string
		unknown         bool
	}{
		{"a newer version's event type", "NotificationSnoozed", `{"notificationId":"%s","recipientId":"r-1","until":"2026-12-24T00:00:00Z"}`, true},
		{"a known type that does not decode", notification.TypeUnread, `{"notificationId":"%s","recipientId":"r-1","unreadAt":5}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := setup(t)
			ctx := context.Background()
			sent, err := h.send.Handle(ctx, sendCmd("send-"+tc.name))
			if err != nil {
				t.Fatal(err)
			}
			id := sent.Notification.ID()
			if _, err := h.store.Append(ctx, notification.Stream(id), eventstore.Any,
				eventstore.EventData{ID: uuid.New(), Type: tc.typ, Data: fmt.Appendf(nil, tc.data, id)}); err != nil {
				t.Fatal(err)
			}
			_, err = h.read.Handle(ctx, command.ReadNotification{Meta: command.Meta{CommandID: "read-" + tc.name}, NotificationID: id})
			if err == nil || errors.Is(err, notification.ErrUnknownEvent) != tc.unknown {
				t.Fatalf("read = %v; want a failure, matching ErrUnknownEvent: %v", err, tc.unknown)
			}
			if got, want := h.types(t, id), []string{notification.TypeSent, tc.typ}; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("stream = %v, want %v: nothing appended", got, want)
			}
		})
	}
}
