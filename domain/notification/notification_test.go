package notification_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eventnotify/notify/domain/notification"
)

const id = "0b0f3c8e-8a1e-4f51-9a55-3f0c1b2a7d10"

var (
	t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	t1 = t0.Add(time.Minute)
)

func sent() notification.Event {
	return notification.Sent{NotificationID: id, RecipientID: "r-1", Content: "hello world", Category: "social", SentAt: t0}
}
func read() notification.Event {
	return notification.Read{NotificationID: id, RecipientID: "r-1", ReadAt: t0}
}
func canceled() notification.Event {
	return notification.Canceled{NotificationID: id, RecipientID: "r-1", CanceledAt: t0}
}

func TestDecisions(t *testing.T) {
	t.Parallel()
	send := func(a notification.SendArgs) func(*notification.Notification) ([]notification.Event, error) {
		return func(n *notification.Notification) ([]notification.Event, error) { return n.Send(a, t1) }
	}
	okSend := notification.SendArgs{RecipientID: "r-1", Content: "hello world", Category: "social"}
	readCmd := func(n *notification.Notification) ([]notification.Event, error) { return n.Read(t1) }
	unreadCmd := func(n *notification.Notification) ([]notification.Event, error) { return n.Unread(t1) }
	cancelCmd := func(n *notification.Notification) ([]notification.Event, error) { return n.Cancel(t1) }
	seeCmd := func(n *notification.Notification) ([]notification.Event, error) { return n.See(t1) }
	archiveCmd := func(n *notification.Notification) ([]notification.Event, error) { return n.Archive(t1) }
	unarchiveCmd := func(n *notification.Notification) ([]notification.Event, error) { return n.Unarchive(t1) }
	seen := notification.Seen{NotificationID: id, RecipientID: "r-1", SeenAt: t0}
	archived := notification.Archived{NotificationID: id, RecipientID: "r-1", ArchivedAt: t0}
	unarchived := notification.Unarchived{NotificationID: id, RecipientID: "r-1", UnarchivedAt: t0}
	rich := func(r notification.Rich) notification.SendArgs {
		return notification.SendArgs{RecipientID: "r-1", Content: "hello world", Category: "social", Rich: r}
	}
	okRich := notification.Rich{Title: " Your order ", Data: []byte(`{ "order": 7, "items": [1, 2] }`), ActionURL: "https://shop.example/orders/7",
		Actions: []notification.Action{{Label: " Track ", URL: "/orders/7/track"}, {Label: "Help", URL: "http://help.example/"}}, Tags: []string{"orders", "eu-west_1"}}
	richSent := notification.Sent{NotificationID: id, RecipientID: "r-1", Content: "hello world", Category: "social", SentAt: t1,
		Title: "Your order", Data: []byte(`{"order":7,"items":[1,2]}`), ActionURL: "https://shop.example/orders/7",
		Actions: []notification.Action{{Label: "Track", URL: "/orders/7/track"}, {Label: "Help", URL: "http://help.example/"}}, Tags: []string{"orders", "eu-west_1"}}
	deep := strings.Repeat(`{"a":`, 9) + "1" + strings.Repeat("}", 9)

	tests := []struct {
		name    string
		given   []notification.Event
		when    func(*notification.Notification) ([]notification.Event, error)
		then    []notification.Event
		wantErr error
		field   string
	}{
		{name: "send new", when: send(okSend),
			then: []notification.Event{notification.Sent{NotificationID: id, RecipientID: "r-1", Content: "hello world", Category: "social", SentAt: t1}}},
		{name: "send trims content and category", when: send(notification.SendArgs{RecipientID: "r-1", Content: "  hello world \n", Category: " social "}),
			then: []notification.Event{notification.Sent{NotificationID: id, RecipientID: "r-1", Content: "hello world", Category: "social", SentAt: t1}}},
		{name: "send redelivered identical is a no-op", given: []notification.Event{sent()}, when: send(okSend)},
		{name: "send same id other content conflicts", given: []notification.Event{sent()},
			when: send(notification.SendArgs{RecipientID: "r-1", Content: "other text", Category: "social"}), wantErr: notification.ErrConflict},
		{name: "send same id other recipient conflicts", given: []notification.Event{sent()},
			when: send(notification.SendArgs{RecipientID: "r-2", Content: "hello world", Category: "social"}), wantErr: notification.ErrConflict},
		{name: "content too short after trim", when: send(notification.SendArgs{RecipientID: "r", Content: "  abcd  ", Category: "c"}), wantErr: notification.ErrInvalid, field: "content"},
		{name: "content 5 runes of multibyte is enough", when: send(notification.SendArgs{RecipientID: "r-1", Content: "ééééé", Category: "c"}),
			then: []notification.Event{notification.Sent{NotificationID: id, RecipientID: "r-1", Content: "ééééé", Category: "c", SentAt: t1}}},
		{name: "content 241 runes too long", when: send(notification.SendArgs{RecipientID: "r", Content: strings.Repeat("é", 241), Category: "c"}), wantErr: notification.ErrInvalid, field: "content"},
		{name: "empty recipient", when: send(notification.SendArgs{Content: "hello world", Category: "c"}), wantErr: notification.ErrInvalid, field: "recipientId"},
		{name: "recipient with space", when: send(notification.SendArgs{RecipientID: "a b", Content: "hello world", Category: "c"}), wantErr: notification.ErrInvalid, field: "recipientId"},
		{name: "recipient 129 chars", when: send(notification.SendArgs{RecipientID: strings.Repeat("a", 129), Content: "hello world", Category: "c"}), wantErr: notification.ErrInvalid, field: "recipientId"},
		{name: "content with a NUL", when: send(notification.SendArgs{RecipientID: "r", Content: "hello\x00world", Category: "c"}), wantErr: notification.ErrInvalid, field: "content"},
		{name: "content not UTF-8", when: send(notification.SendArgs{RecipientID: "r", Content: "hello \xff there", Category: "c"}), wantErr: notification.ErrInvalid, field: "content"},
		{name: "content keeps newlines and tabs", when: send(notification.SendArgs{RecipientID: "r-1", Content: "line one\n\tline two", Category: "c"}),
			then: []notification.Event{notification.Sent{NotificationID: id, RecipientID: "r-1", Content: "line one\n\tline two", Category: "c", SentAt: t1}}},
		{name: "category with a newline", when: send(notification.SendArgs{RecipientID: "r", Content: "hello world", Category: "a\nb"}), wantErr: notification.ErrInvalid, field: "category"},
		{name: "blank category", when: send(notification.SendArgs{RecipientID: "r", Content: "hello world", Category: "   "}), wantErr: notification.ErrInvalid, field: "category"},
		{name: "category 65 chars", when: send(notification.SendArgs{RecipientID: "r", Content: "hello world", Category: strings.Repeat("c", 65)}), wantErr: notification.ErrInvalid, field: "category"},

		{name: "read unknown", when: readCmd, wantErr: notification.ErrNotFound},
		{name: "read sent", given: []notification.Event{sent()}, when: readCmd,
			then: []notification.Event{notification.Read{NotificationID: id, RecipientID: "r-1", ReadAt: t1}}},
		{name: "read of read is a no-op", given: []notification.Event{sent(), read()}, when: readCmd},
		{name: "read of canceled conflicts", given: []notification.Event{sent(), canceled()}, when: readCmd, wantErr: notification.ErrConflict},

		{name: "unread unknown", when: unreadCmd, wantErr: notification.ErrNotFound},
		{name: "unread of read", given: []notification.Event{sent(), read()}, when: unreadCmd,
			then: []notification.Event{notification.Unread{NotificationID: id, RecipientID: "r-1", UnreadAt: t1}}},
		{name: "unread of unread is a no-op", given: []notification.Event{sent()}, when: unreadCmd},
		{name: "unread after unread is a no-op", given: []notification.Event{sent(), read(), notification.Unread{NotificationID: id, RecipientID: "r-1", UnreadAt: t0}}, when: unreadCmd},
		{name: "unread of canceled conflicts", given: []notification.Event{sent(), read(), canceled()}, when: unreadCmd, wantErr: notification.ErrConflict},

		{name: "cancel unknown", when: cancelCmd, wantErr: notification.ErrNotFound},
		{name: "cancel sent", given: []notification.Event{sent()}, when: cancelCmd,
			then: []notification.Event{notification.Canceled{NotificationID: id, RecipientID: "r-1", CanceledAt: t1}}},
		{name: "cancel read", given: []notification.Event{sent(), read()}, when: cancelCmd,
			then: []notification.Event{notification.Canceled{NotificationID: id, RecipientID: "r-1", CanceledAt: t1}}},
		{name: "cancel of canceled is a no-op", given: []notification.Event{sent(), canceled()}, when: cancelCmd},

		{name: "send with every optional field, normalized", when: send(rich(okRich)), then: []notification.Event{richSent}},
		{name: "send rich redelivered identical is a no-op", given: []notification.Event{richSent}, when: send(rich(okRich))},
		{name: "send with data holding & < > and U+2028 stores it as encoding/json does",
			when: send(rich(notification.Rich{Data: []byte(`{"url":"/a?x=1&y=<2>","s":"` + "\u2028" + `"}`)})),
			then: []notification.Event{notification.Sent{NotificationID: id, RecipientID: "r-1", Content: "hello world", Category: "social", SentAt: t1,
				Data: []byte(`{"url":"/a?x=1\u0026y=\u003c2\u003e","s":"\u2028"}`)}}},
		{name: "send rich redelivered with other data conflicts", given: []notification.Event{richSent},
			when: send(rich(notification.Rich{Title: "Your order", Data: []byte(`{"order":8}`)})), wantErr: notification.ErrConflict},
		{name: "title 121 characters", when: send(rich(notification.Rich{Title: strings.Repeat("t", 121)})), wantErr: notification.ErrInvalid, field: "title"},
		{name: "title with a newline", when: send(rich(notification.Rich{Title: "a\nb"})), wantErr: notification.ErrInvalid, field: "title"},
		{name: "data not an object", when: send(rich(notification.Rich{Data: []byte(`[1,2]`)})), wantErr: notification.ErrInvalid, field: "data"},
		{name: "data malformed", when: send(rich(notification.Rich{Data: []byte(`{"a":`)})), wantErr: notification.ErrInvalid, field: "data"},
		{name: "data over 4 KiB", when: send(rich(notification.Rich{Data: []byte(`{"a":"` + strings.Repeat("x", 4096) + `"}`)})), wantErr: notification.ErrInvalid, field: "data"},
		{name: "data nested 9 deep", when: send(rich(notification.Rich{Data: []byte(deep)})), wantErr: notification.ErrInvalid, field: "data"},
		{name: "action URL not http", when: send(rich(notification.Rich{ActionURL: "javascript:alert(1)"})), wantErr: notification.ErrInvalid, field: "actionUrl"},
		{name: "action URL with user info", when: send(rich(notification.Rich{ActionURL: "https://bank.example@evil.example/"})), wantErr: notification.ErrInvalid, field: "actionUrl"},
		{name: "action URL with a non-ASCII host", when: send(rich(notification.Rich{ActionURL: "https://exa\u00a0mple.com/"})), wantErr: notification.ErrInvalid, field: "actionUrl"},
		{name: "action URL with a zero-width space", when: send(rich(notification.Rich{ActionURL: "/a\u200bb"})), wantErr: notification.ErrInvalid, field: "actionUrl"},
		{name: "title with a right-to-left override", when: send(rich(notification.Rich{Title: "invoice \u202Efdp.exe"})), wantErr: notification.ErrInvalid, field: "title"},
		{name: "label with a zero-width joiner", when: send(rich(notification.Rich{Actions: []notification.Action{{"Op\u200den", "/a"}}})), wantErr: notification.ErrInvalid, field: "actions[0].label"},
		{name: "action URL percent-encoded and punycode is fine", when: send(rich(notification.Rich{ActionURL: "https://xn--bcher-kva.example/%C3%A9"})),
			then: []notification.Event{notification.Sent{NotificationID: id, RecipientID: "r-1", Content: "hello world", Category: "social", SentAt: t1, ActionURL: "https://xn--bcher-kva.example/%C3%A9"}}},
		{name: "action URL protocol-relative", when: send(rich(notification.Rich{ActionURL: "//evil.example/x"})), wantErr: notification.ErrInvalid, field: "actionUrl"},
		{name: "three actions", when: send(rich(notification.Rich{Actions: []notification.Action{{"a", "/a"}, {"b", "/b"}, {"c", "/c"}}})), wantErr: notification.ErrInvalid, field: "actions"},
		{name: "action without a label", when: send(rich(notification.Rich{Actions: []notification.Action{{"", "/a"}}})), wantErr: notification.ErrInvalid, field: "actions[0].label"},
		{name: "action with a bad URL", when: send(rich(notification.Rich{Actions: []notification.Action{{"ok", "/a"}, {"b", "ftp://x"}}})), wantErr: notification.ErrInvalid, field: "actions[1].url"},
		{name: "eleven tags", when: send(rich(notification.Rich{Tags: strings.Split("a,b,c,d,e,f,g,h,i,j,k", ",")})), wantErr: notification.ErrInvalid, field: "tags"},
		{name: "tag with capitals", when: send(rich(notification.Rich{Tags: []string{"Orders"}})), wantErr: notification.ErrInvalid, field: "tags[0]"},
		{name: "tag repeated", when: send(rich(notification.Rich{Tags: []string{"a", "a"}})), wantErr: notification.ErrInvalid, field: "tags[1]"},

		{name: "seen unknown", when: seeCmd, wantErr: notification.ErrNotFound},
		{name: "seen sent", given: []notification.Event{sent()}, when: seeCmd,
			then: []notification.Event{notification.Seen{NotificationID: id, RecipientID: "r-1", SeenAt: t1}}},
		{name: "seen of seen is a no-op", given: []notification.Event{sent(), seen}, when: seeCmd},
		{name: "seen of read is a no-op: reading implies seeing", given: []notification.Event{sent(), read()}, when: seeCmd},
		{name: "seen after read and unread is a no-op: it stays seen", given: []notification.Event{sent(), read(), notification.Unread{NotificationID: id, RecipientID: "r-1", UnreadAt: t0}}, when: seeCmd},
		{name: "seen of canceled conflicts", given: []notification.Event{sent(), canceled()}, when: seeCmd, wantErr: notification.ErrConflict},
		{name: "read of seen reads", given: []notification.Event{sent(), seen}, when: readCmd,
			then: []notification.Event{notification.Read{NotificationID: id, RecipientID: "r-1", ReadAt: t1}}},

		{name: "archive unknown", when: archiveCmd, wantErr: notification.ErrNotFound},
		{name: "archive sent", given: []notification.Event{sent()}, when: archiveCmd,
			then: []notification.Event{notification.Archived{NotificationID: id, RecipientID: "r-1", ArchivedAt: t1}}},
		{name: "archive of archived is a no-op", given: []notification.Event{sent(), archived}, when: archiveCmd},
		{name: "archive of canceled is allowed", given: []notification.Event{sent(), canceled()}, when: archiveCmd,
			then: []notification.Event{notification.Archived{NotificationID: id, RecipientID: "r-1", ArchivedAt: t1}}},
		{name: "archive after unarchive archives again", given: []notification.Event{sent(), archived, unarchived}, when: archiveCmd,
			then: []notification.Event{notification.Archived{NotificationID: id, RecipientID: "r-1", ArchivedAt: t1}}},
		{name: "read of archived reads: archive does not freeze it", given: []notification.Event{sent(), archived}, when: readCmd,
			then: []notification.Event{notification.Read{NotificationID: id, RecipientID: "r-1", ReadAt: t1}}},

		{name: "unarchive unknown", when: unarchiveCmd, wantErr: notification.ErrNotFound},
		{name: "unarchive of archived", given: []notification.Event{sent(), archived}, when: unarchiveCmd,
			then: []notification.Event{notification.Unarchived{NotificationID: id, RecipientID: "r-1", UnarchivedAt: t1}}},
		{name: "unarchive of not archived is a no-op", given: []notification.Event{sent()}, when: unarchiveCmd},
		{name: "unarchive of unarchived is a no-op", given: []notification.Event{sent(), archived, unarchived}, when: unarchiveCmd},
		{name: "unarchive of canceled archived is allowed", given: []notification.Event{sent(), canceled(), archived}, when: unarchiveCmd,
			then: []notification.Event{notification.Unarchived{NotificationID: id, RecipientID: "r-1", UnarchivedAt: t1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := notification.New(id)
			for _, e := range tt.given {
				n.Apply(e)
			}
			got, err := tt.when(n)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				var ve *notification.ValidationError
				if tt.field != "" && (!errors.As(err, &ve) || ve.Field != tt.field) {
					t.Fatalf("error %v does not name field %q", err, tt.field)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tt.then) {
				t.Fatalf("events = %#v\nwant     %#v", got, tt.then)
			}
		})
	}
}

func TestApplyFoldsState(t *testing.T) {
	t.Parallel()
	n := notification.New(id)
	if n.Exists() || n.Version() != -1 {
		t.Fatalf("new notification exists=%v version=%d", n.Exists(), n.Version())
	}
	n.Apply(sent())
	n.Apply(read())
	if !n.ReadAt().Equal(t0) || n.Version() != 1 || n.RecipientID() != "r-1" {
		t.Fatalf("after read: readAt=%v version=%d recipient=%q", n.ReadAt(), n.Version(), n.RecipientID())
	}
	n.Apply(notification.Unread{NotificationID: id, RecipientID: "r-1", UnreadAt: t1})
	if !n.ReadAt().IsZero() {
		t.Fatalf("unread left readAt=%v", n.ReadAt())
	}
	if !n.SeenAt().Equal(t0) {
		t.Fatalf("read then unread: seenAt=%v, want the read's time (reading implies seeing, unread keeps it)", n.SeenAt())
	}
	n.Apply(notification.Archived{NotificationID: id, RecipientID: "r-1", ArchivedAt: t1})
	if !n.ArchivedAt().Equal(t1) {
		t.Fatalf("archived: archivedAt=%v", n.ArchivedAt())
	}
	n.Apply(notification.Unarchived{NotificationID: id, RecipientID: "r-1", UnarchivedAt: t1})
	if !n.ArchivedAt().IsZero() {
		t.Fatalf("unarchived: archivedAt=%v", n.ArchivedAt())
	}
	n.Apply(canceled())
	if !n.CanceledAt().Equal(t0) || n.Version() != 5 {
		t.Fatalf("after cancel: canceledAt=%v version=%d", n.CanceledAt(), n.Version())
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	for _, e := range []notification.Event{sent(), read(), notification.Unread{NotificationID: id, RecipientID: "r-1", UnreadAt: t1}, canceled(),
		notification.Seen{NotificationID: id, RecipientID: "r-1", SeenAt: t1}, notification.Archived{NotificationID: id, RecipientID: "r-1", ArchivedAt: t1},
		notification.Unarchived{NotificationID: id, RecipientID: "r-1", UnarchivedAt: t1},
		notification.Sent{NotificationID: id, RecipientID: "r-1", Content: "hello world", Category: "social", SentAt: t0, Title: "Hi", Data: []byte(`{"a":1}`),
			ActionURL: "/x", Actions: []notification.Action{{Label: "Go", URL: "/go"}}, Tags: []string{"t"}}} {
		data := mustJSON(t, e)
		got, err := notification.Decode(e.Type(), data)
		if err != nil {
			t.Fatalf("decode %s: %v", e.Type(), err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("round trip %s: got %#v want %#v", e.Type(), got, e)
		}
	}
	if _, err := notification.Decode("NotificationExploded", []byte(`{}`)); err == nil || !errors.Is(err, notification.ErrUnknownEvent) {
		t.Fatalf("unknown event type: %v, want ErrUnknownEvent", err)
	}
	if _, err := notification.Decode(notification.TypeSent, []byte(`{`)); err == nil || errors.Is(err, notification.ErrUnknownEvent) {
		t.Fatalf("malformed data: %v, want an error that is not ErrUnknownEvent", err)
	}
}

func TestParseID(t *testing.T) {
	t.Parallel()
	for in, ok := range map[string]bool{
		"0B0F3C8E-8A1E-4F51-9A55-3F0C1B2A7D10": true,
		id:                                     true,
		"0b0f3c8e8a1e4f519a553f0c1b2a7d10":     false,
		"0b0f3c8e-8a1e-4f51-9a55-3f0c1b2a7d1g": false,
		"":                                     false,
	} {
		got, err := notification.ParseID(in)
		if (err == nil) != ok {
			t.Errorf("ParseID(%q) error = %v, want ok=%v", in, err, ok)
		}
		if ok && got != strings.ToLower(in) {
			t.Errorf("ParseID(%q) = %q, want lower case", in, got)
		}
	}
}
