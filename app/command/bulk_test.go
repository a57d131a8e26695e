package command_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/domain/notification"
)

// selector is the read model's side of a bulk change, as a test states it: the ids a filter
// matches, and the filter it was asked for.
type selector struct {
	ids   []string
	asked []command.BulkFilter
}

func (s *selector) SelectIDs(_ context.Context, _ string, f command.BulkFilter, limit int) ([]string, error) {
	s.asked = append(s.asked, f)
	return s.ids[:min(limit, len(s.ids))], nil
}

func (h handlers) bulk(sel command.BulkSelector) command.BulkChangeHandler {
	return command.NewBulkChangeHandler(h.see, h.read, h.unread, h.arch, h.unarch, sel)
}

func TestBulk_ChangesEachOnceAndSaysHowMany(t *testing.T) {
	t.Parallel()
	h := setup(t)
	a, b, c := h.sent(t, "b-1"), h.sent(t, "b-2"), h.sent(t, "b-3")
	other, err := h.send.Handle(context.Background(), command.SendNotification{Meta: command.Meta{CommandID: "b-4"}, RecipientID: "r-2", Content: "not yours at all", Category: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.read.Handle(context.Background(), command.ReadNotification{Meta: command.Meta{CommandID: "b-5"}, NotificationID: b}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.cancel.Handle(context.Background(), command.CancelNotification{Meta: command.Meta{CommandID: "b-6"}, NotificationID: c}); err != nil {
		t.Fatal(err)
	}
	bulk := h.bulk(&selector{})
	steps := []struct {
		name               string
		cmd                command.BulkChange
		matched, changed   int
		wantErr, wantField string
	}{
		{name: "seen: the read one is seen already, the canceled one refuses, the foreign one is not found",
			cmd: command.BulkChange{Meta: command.Meta{CommandID: "k-1"}, RecipientID: "r-1", Action: command.BulkSeen, IDs: []string{a, b, c, other.Notification.ID()}}, matched: 4, changed: 1},
		{name: "the same request again changes nothing",
			cmd: command.BulkChange{Meta: command.Meta{CommandID: "k-1"}, RecipientID: "r-1", Action: command.BulkSeen, IDs: []string{a, b, c, other.Notification.ID()}}, matched: 4, changed: 0},
		{name: "archive, ids repeated and in upper case counted once",
			cmd: command.BulkChange{Meta: command.Meta{CommandID: "k-2"}, RecipientID: "r-1", Action: command.BulkArchive, IDs: []string{a, b, c, upper(a)}}, matched: 3, changed: 3},
		{name: "unarchive one",
			cmd: command.BulkChange{Meta: command.Meta{CommandID: "k-3"}, RecipientID: "r-1", Action: command.BulkUnarchive, IDs: []string{a}}, matched: 1, changed: 1},
		{name: "the archive retried after the unarchive changes nothing: its command ids were used",
			cmd: command.BulkChange{Meta: command.Meta{CommandID: "k-2"}, RecipientID: "r-1", Action: command.BulkArchive, IDs: []string{a, b, c}}, matched: 3, changed: 0},
		{name: "unknown action", cmd: command.BulkChange{RecipientID: "r-1", Action: "explode", IDs: []string{a}}, wantErr: "invalid", wantField: "action"},
		{name: "bad id", cmd: command.BulkChange{RecipientID: "r-1", Action: command.BulkRead, IDs: []string{a, "nope"}}, wantErr: "invalid", wantField: "ids[1]"},
		{name: "bad recipient", cmd: command.BulkChange{RecipientID: "a b", Action: command.BulkRead, IDs: []string{a}}, wantErr: "invalid", wantField: "recipientId"},
	}
	for _, s := range steps {
		res, err := bulk.Handle(context.Background(), s.cmd)
		if s.wantErr != "" {
			var ve *notification.ValidationError
			if !errors.Is(err, notification.ErrInvalid) || !errors.As(err, &ve) || ve.Field != s.wantField {
				t.Fatalf("%s: error %v, want invalid %s", s.name, err, s.wantField)
			}
			continue
		}
		if err != nil || res.Matched != s.matched || res.Changed != s.changed {
			t.Fatalf("%s: %+v, %v; want matched %d, changed %d", s.name, res, err, s.matched, s.changed)
		}
	}
	want := fmt.Sprint([]string{notification.TypeSent, notification.TypeSeen, notification.TypeArchived, notification.TypeUnarchived})
	if got := fmt.Sprint(h.types(t, a)); got != want {
		t.Fatalf("stream of a = %s, want %s", got, want)
	}
	if got := fmt.Sprint(h.types(t, other.Notification.ID())); got != fmt.Sprint([]string{notification.TypeSent}) {
		t.Fatalf("the other recipient's notification changed: %s", got)
	}
}

// A filter selects from the read model; more than MaxBulk matches change MaxBulk and say
// there are more. Unarchive asks for archived ones.
func TestBulk_FilterIsBounded(t *testing.T) {
	t.Parallel()
	h := setup(t)
	sel := &selector{}
	for range command.MaxBulk + 5 {
		sel.ids = append(sel.ids, uuid.NewString()) // not in the log: matched, not changed
	}
	res, err := h.bulk(sel).Handle(context.Background(), command.BulkChange{RecipientID: "r-1", Action: command.BulkUnarchive, Filter: command.BulkFilter{Tag: "orders"}})
	if err != nil || res.Matched != command.MaxBulk || !res.More || res.Changed != 0 {
		t.Fatalf("%+v, %v; want %d matched, more, none changed", res, err, command.MaxBulk)
	}
	if len(sel.asked) != 1 || sel.asked[0].Action != command.BulkUnarchive || sel.asked[0].Tag != "orders" {
		t.Fatalf("the selector was asked %+v, want one unarchive filter by tag", sel.asked)
	}
	ids := make([]string, command.MaxBulk+1)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	if _, err := h.bulk(sel).Handle(context.Background(), command.BulkChange{RecipientID: "r-1", Action: command.BulkRead, IDs: ids}); !errors.Is(err, notification.ErrInvalid) {
		t.Fatalf("%d ids: %v, want invalid", len(ids), err)
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 32
		}
	}
	return string(b)
}
