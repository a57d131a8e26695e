package query_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/app/query"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/store/eventlog"
)

// TestHistory_RefusesAStreamItCannotReadWhole: the history of a notification lists every
// event with the state they fold to; when its stream holds an event of a type this version
// does not know (ErrUnknownEvent) or one that does not decode, it fails rather than state a
// fold that missed it.
func TestHistory_RefusesAStreamItCannotReadWhole(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, typ, data string
		want            error // nil: the history of both events; errAny: some other failure
	}{
		{"a known event", notification.TypeRead, `{"notificationId":"%s","recipientId":"r-1","readAt":"2026-12-01T00:00:00Z"}`, nil},
		{"a newer version's event type", "NotificationSnoozed", `{"notificationId":"%s","recipientId":"r-1","until":"2026-12-24T00:00:00Z"}`, notification.ErrUnknownEvent},
		{"a known type that does not decode", notification.TypeRead, `{"notificationId":"%s","recipientId":"r-1","readAt":5}`, errAny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log, err := eventlog.Open(filepath.Join(t.TempDir(), "events.db"), eventlog.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer log.Close()
			ctx := context.Background()
			sent, err := command.NewSendNotificationHandler(log, nil).Handle(ctx, command.SendNotification{RecipientID: "r-1", Content: "hello", Category: "c"})
			if err != nil {
				t.Fatal(err)
			}
			id := sent.Notification.ID()
			if _, err := log.Append(ctx, notification.Stream(id), eventstore.Any,
				eventstore.EventData{ID: uuid.New(), Type: tc.typ, Data: fmt.Appendf(nil, tc.data, id)}); err != nil {
				t.Fatal(err)
			}
			n, history, err := query.NewNotifications(log).History(ctx, id)
			switch {
			case tc.want == nil:
				if err != nil || len(history) != 2 || history[1].Type != tc.typ || n.ReadAt().IsZero() {
					t.Fatalf("history = %+v, %v; want Sent then %s, folded to read", history, err, tc.typ)
				}
			case tc.want == errAny:
				if err == nil || errors.Is(err, notification.ErrUnknownEvent) {
					t.Fatalf("history = %+v, %v; want a failure that is not ErrUnknownEvent", history, err)
				}
			default:
				if !errors.Is(err, tc.want) {
					t.Fatalf("history = %+v, %v; want %v", history, err, tc.want)
				}
			}
		})
	}
}

// errAny stands for a failure other than the named ones.
var errAny = errors.New("any other failure")
