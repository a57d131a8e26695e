package notification

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// table is an upcaster table for the tests: upcasters keyed by type and from-version.
type table map[string]map[int]upcaster

func (t table) lookup(eventType string, from int) (upcaster, bool) {
	up, ok := t[eventType][from]
	return up, ok
}

// rename is the upcaster of a field renamed from old to new (both plain keys).
func rename(old, new string) upcaster {
	return func(data []byte) ([]byte, error) {
		return bytes.Replace(data, []byte(`"`+old+`":`), []byte(`"`+new+`":`), 1), nil
	}
}

// The mechanism, on tables made for it: a field renamed at version 2 and a category renamed
// at version 3 are read into today's struct from each version; versions 0 and missing are 1;
// a newer version is decoded as is; a missing or failing step and an unknown type fail.
func TestDecodeWith_Upcasts(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	read := Read{NotificationID: "n", RecipientID: "r", ReadAt: at}
	sent := Sent{NotificationID: "n", RecipientID: "r", Content: "hello", Category: "billing", SentAt: at}
	fail := errors.New("refused")
	chain := table{
		TypeRead: {1: rename("read_at", "readAt"), 2: unchanged},
		TypeSent: {
			1: unchanged,
			2: func(data []byte) ([]byte, error) { // version 3 calls the "invoices" category "billing"
				return bytes.Replace(data, []byte(`"category":"invoices"`), []byte(`"category":"billing"`), 1), nil
			},
		},
	}
	for _, tc := range []struct {
		name      string
		table     table
		current   int
		eventType string
		version   int
		data      string
		want      Event
		err       string
	}{
		{"v1 renamed field", chain, 2, TypeRead, 1, `{"notificationId":"n","recipientId":"r","read_at":"2026-01-02T03:04:05Z"}`, read, ""},
		{"v0 is v1", chain, 2, TypeRead, 0, `{"notificationId":"n","recipientId":"r","read_at":"2026-01-02T03:04:05Z"}`, read, ""},
		{"negative is v1", chain, 2, TypeRead, -4, `{"notificationId":"n","recipientId":"r","read_at":"2026-01-02T03:04:05Z"}`, read, ""},
		{"current as is", chain, 2, TypeRead, 2, `{"notificationId":"n","recipientId":"r","readAt":"2026-01-02T03:04:05Z"}`, read, ""},
		{"v1 through two steps", chain, 3, TypeRead, 1, `{"notificationId":"n","recipientId":"r","read_at":"2026-01-02T03:04:05Z"}`, read, ""},
		{"v1 sent to v3", chain, 3, TypeSent, 1, `{"notificationId":"n","recipientId":"r","content":"hello","category":"invoices","sentAt":"2026-01-02T03:04:05Z"}`, sent, ""},
		{"v2 sent to v3", chain, 3, TypeSent, 2, `{"notificationId":"n","recipientId":"r","content":"hello","category":"invoices","sentAt":"2026-01-02T03:04:05Z"}`, sent, ""},
		{"v3 sent as is", chain, 3, TypeSent, 3, `{"notificationId":"n","recipientId":"r","content":"hello","category":"billing","sentAt":"2026-01-02T03:04:05Z"}`, sent, ""},
		{"newer than current: as is, its new field kept", chain, 2, TypeRead, 7, `{"notificationId":"n","recipientId":"r","readAt":"2026-01-02T03:04:05Z","via":"email"}`,
			Read{NotificationID: "n", RecipientID: "r", ReadAt: at, Extra: []byte(`{"via":"email"}`)}, ""},
		{"no step", chain, 2, TypeCanceled, 1, `{}`, nil, "no upcaster from schema version 1 to 2"},
		{"failing step", table{TypeRead: {1: func([]byte) ([]byte, error) { return nil, fail }}}, 2, TypeRead, 1, `{}`, nil, "refused"},
		{"unknown type", chain, 2, "NotificationSnoozed", 1, `{}`, nil, "unknown event type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeWith(tc.table.lookup, tc.current, tc.eventType, tc.version, []byte(tc.data))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
	if _, err := decodeWith(chain.lookup, 2, "NotificationSnoozed", 1, nil); !errors.Is(err, ErrUnknownEvent) {
		t.Fatalf("unknown type: %v, want ErrUnknownEvent", err)
	}
}

// The production table has a step for every type this code knows from every version before
// SchemaVersion, and none beyond it.
func TestUpcasters_Complete(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{TypeSent, TypeRead, TypeUnread, TypeCanceled, TypeSeen, TypeArchived, TypeUnarchived} {
		if !known(typ) {
			t.Errorf("%s not known", typ)
		}
		for v := 1; v < SchemaVersion; v++ {
			if _, ok := upcastersOf(typ, v); !ok {
				t.Errorf("no upcaster of %s from version %d", typ, v)
			}
		}
		if _, ok := upcastersOf(typ, SchemaVersion); ok {
			t.Errorf("an upcaster of %s from the current version %d", typ, SchemaVersion)
		}
	}
}

// Version 1 → 2 changes no data: every version 1 event decodes as it did, through DecodeStored.
func TestDecodeStored_V1AsBefore(t *testing.T) {
	t.Parallel()
	for _, data := range []struct{ typ, json string }{
		{TypeSent, `{"notificationId":"n","recipientId":"alice","content":"Your order shipped","category":"sales","sentAt":"2025-12-31T23:30:20.123456789Z"}`},
		{TypeRead, `{"notificationId":"n","recipientId":"alice","readAt":"2025-12-31T23:30:20Z"}`},
		{TypeUnread, `{"notificationId":"n","recipientId":"alice","unreadAt":"2025-12-31T23:30:20Z"}`},
		{TypeCanceled, `{"notificationId":"n","recipientId":"alice","canceledAt":"2025-12-31T23:30:20Z"}`},
	} {
		want, err := Decode(data.typ, []byte(data.json))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []int{0, 1, SchemaVersion, SchemaVersion + 1} {
			got, err := DecodeStored(data.typ, v, []byte(data.json))
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("%s at version %d: %#v, %v; want %#v", data.typ, v, got, err, want)
			}
		}
	}
}
