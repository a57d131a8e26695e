package notification

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// The fast path either declines or gives exactly what the encoding/json path gives, Extra
// included; that path's known fields are encoding/json's; and an event decoded, encoded and
// decoded again encodes to the same bytes, Extra kept.
func FuzzDecodeFastMatchesEncodingJSON(f *testing.F) {
	at := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
	for _, e := range []Event{
		Sent{NotificationID: "5f0c2a3e-1111-4a4a-9b9b-000000000001", RecipientID: "alice", Content: "You have a new follower", Category: "social", SentAt: at},
		Sent{NotificationID: "x", RecipientID: "bob", Content: `quote " and <tag> & ünïcode`, Category: "c", SentAt: at.In(time.FixedZone("", 7200))},
		Read{NotificationID: "n", RecipientID: "r", ReadAt: at},
		Unread{NotificationID: "n", RecipientID: "r", UnreadAt: at},
		Canceled{NotificationID: "n", RecipientID: "r", CanceledAt: at},
		Seen{NotificationID: "n", RecipientID: "r", SeenAt: at},
		Archived{NotificationID: "n", RecipientID: "r", ArchivedAt: at},
		Unarchived{NotificationID: "n", RecipientID: "r", UnarchivedAt: at},
		Sent{NotificationID: "n", RecipientID: "r", Content: "hello world", Category: "c", SentAt: at, Title: "Hi", Tags: []string{"a"}},
	} {
		b, _ := json.Marshal(e)
		f.Add(e.Type(), b)
	}
	f.Add(TypeSent, []byte(`{"NotificationId":"a","content":"b"}`))
	f.Add(TypeRead, []byte(` { "notificationId" : "a" , "readAt" : "2026-01-02T03:04:05Z" , "notificationId":"b"} `))
	f.Add(TypeRead, []byte(`{"notificationId":"a","readAt":"2026-13-02T03:04:05Z"}`))
	f.Add(TypeSent, []byte(`{}`))
	// A newer version's members: strings, numbers, objects, arrays, escapes, space, repeats.
	f.Add(TypeSent, []byte(`{"notificationId":"n","recipientId":"r","content":"hello","category":"c","sentAt":"2026-01-02T03:04:05Z","priority":"high","snoozeUntil":null}`))
	f.Add(TypeRead, []byte(`{"notificationId":"n","via" : { "device": ["web", 1.5e3, true] } ,"recipientId":"r","readAt":"2026-01-02T03:04:05Z","note":"a\"b","via":-0}`))
	f.Add(TypeSeen, []byte(`{"notificationId":"n","content":"not a Seen field","seenAt":"2026-01-02T03:04:05Z","x":[{"}":"]"}]}`))
	f.Add(TypeSent, []byte(`{"notificationId":"n","title":"t","priority":{"level":2},"Tags":["a"]}`))
	f.Add(TypeCanceled, []byte(`{"notificationId":"n","x":[1,}`))
	f.Fuzz(func(t *testing.T, eventType string, data []byte) {
		slow, slowErr := decodeJSON(eventType, data)
		if slowErr == nil {
			checkJSONPath(t, eventType, data, slow)
			checkRoundTrip(t, slow)
		}
		fast, ok := decodeFast(eventType, data)
		if !ok {
			return
		}
		if !known(eventType) {
			t.Fatalf("fast path accepted unknown type %q", eventType)
		}
		if slowErr != nil {
			t.Fatalf("fast path accepted %s that encoding/json refuses (%v)", data, slowErr)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%s %s:\nfast %#v\njson %#v", eventType, data, fast, slow)
		}
	})
}

// checkJSONPath: the encoding/json path's event is encoding/json's, Extra aside, and its Extra
// is an object of members no field of the type has.
func checkJSONPath(t *testing.T, eventType string, data []byte, got Event) {
	t.Helper()
	var want Event
	var err error
	switch eventType {
	case TypeSent:
		var e Sent
		err, want = json.Unmarshal(data, &e), e
	case TypeRead:
		var e Read
		err, want = json.Unmarshal(data, &e), e
	case TypeUnread:
		var e Unread
		err, want = json.Unmarshal(data, &e), e
	case TypeCanceled:
		var e Canceled
		err, want = json.Unmarshal(data, &e), e
	case TypeSeen:
		var e Seen
		err, want = json.Unmarshal(data, &e), e
	case TypeArchived:
		var e Archived
		err, want = json.Unmarshal(data, &e), e
	case TypeUnarchived:
		var e Unarchived
		err, want = json.Unmarshal(data, &e), e
	}
	if err != nil {
		t.Fatalf("decodeJSON accepted %s that encoding/json refuses (%v)", data, err)
	}
	extra := extraOf(got)
	if !reflect.DeepEqual(withExtra(got, nil), want) {
		t.Fatalf("%s %s:\ngot  %#v\njson %#v", eventType, data, got, want)
	}
	if extra == nil {
		return
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(extra, &members); err != nil || len(members) == 0 {
		t.Fatalf("Extra %s of %s is no object of members (%v)", extra, data, err)
	}
	for k := range members {
		if knownField(eventType, []byte(k)) {
			t.Fatalf("Extra %s of %s holds the known field %q", extra, data, k)
		}
	}
}

// checkRoundTrip: encoding e and decoding it again gives an event that encodes the same, with
// the same Extra.
func checkRoundTrip(t *testing.T, e Event) {
	t.Helper()
	once, err := AppendJSON(nil, e)
	if err != nil {
		return // a time encoding/json refuses to write
	}
	again, err := Decode(e.Type(), once)
	if err != nil {
		t.Fatalf("%s does not decode again: %v", once, err)
	}
	twice, err := AppendJSON(nil, again)
	if err != nil || !bytes.Equal(once, twice) {
		t.Fatalf("encoded %s, then %s (%v)", once, twice, err)
	}
	if !bytes.Equal(extraOf(e), extraOf(again)) {
		t.Fatalf("Extra %s, after a round trip %s", extraOf(e), extraOf(again))
	}
}

func extraOf(e Event) json.RawMessage {
	switch e := e.(type) {
	case Sent:
		return e.Extra
	case Read:
		return e.Extra
	case Unread:
		return e.Extra
	case Canceled:
		return e.Extra
	case Seen:
		return e.Extra
	case Archived:
		return e.Extra
	case Unarchived:
		return e.Extra
	}
	return nil
}

func withExtra(e Event, extra json.RawMessage) Event {
	switch e := e.(type) {
	case Sent:
		e.Extra = extra
		return e
	case Read:
		e.Extra = extra
		return e
	case Unread:
		e.Extra = extra
		return e
	case Canceled:
		e.Extra = extra
		return e
	case Seen:
		e.Extra = extra
		return e
	case Archived:
		e.Extra = extra
		return e
	case Unarchived:
		e.Extra = extra
		return e
	}
	return e
}

// A version 2 event with a field this version does not know decodes, keeps the field and
// writes it back, through both paths.
func TestDecode_KeepsUnknownFields(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name, eventType, data, extra string
		want                         Event
	}{
		{"fast", TypeSent, `{"notificationId":"n","recipientId":"r","content":"hello","category":"c","sentAt":"2026-01-02T03:04:05Z","priority":"high","snooze":{"until":"2026-02-01T00:00:00Z","times":[1, 2]}}`,
			`{"priority":"high","snooze":{"until":"2026-02-01T00:00:00Z","times":[1, 2]}}`,
			Sent{NotificationID: "n", RecipientID: "r", Content: "hello", Category: "c", SentAt: at}},
		{"encoding/json, a rich sent", TypeSent, `{"notificationId":"n","recipientId":"r","content":"hello","category":"c","sentAt":"2026-01-02T03:04:05Z","title":"Hi","tags":["a"],"priority":"high"}`,
			`{"priority":"high"}`,
			Sent{NotificationID: "n", RecipientID: "r", Content: "hello", Category: "c", SentAt: at, Title: "Hi", Tags: []string{"a"}}},
		{"a read", TypeRead, `{"notificationId":"n","recipientId":"r","readAt":"2026-01-02T03:04:05Z","via":"push"}`, `{"via":"push"}`,
			Read{NotificationID: "n", RecipientID: "r", ReadAt: at}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeStored(tc.eventType, SchemaVersion, []byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if string(extraOf(got)) != tc.extra {
				t.Fatalf("Extra %s, want %s", extraOf(got), tc.extra)
			}
			if !reflect.DeepEqual(withExtra(got, nil), tc.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tc.want)
			}
			enc, err := AppendJSON(nil, got)
			if err != nil {
				t.Fatal(err)
			}
			var before, after map[string]json.RawMessage
			_ = json.Unmarshal([]byte(tc.data), &before)
			if err := json.Unmarshal(enc, &after); err != nil || !reflect.DeepEqual(before, after) {
				t.Fatalf("encoded again: %s (%v)\nwas %s", enc, err, tc.data)
			}
			if !bytes.HasSuffix(enc, []byte(","+tc.extra[1:])) {
				t.Fatalf("encoded again %s, want the extra members last, as stored", enc)
			}
		})
	}
}

// AppendJSON refuses an Extra that is not a JSON object, and writes nothing for an empty one.
func TestAppendJSON_Extra(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, bad := range []string{`[1]`, `{"a":}`, `"x"`, `{`} {
		if _, err := AppendJSON(nil, Read{NotificationID: "n", RecipientID: "r", ReadAt: at, Extra: json.RawMessage(bad)}); err == nil {
			t.Errorf("Extra %s accepted", bad)
		}
	}
	got, err := AppendJSON(nil, Read{NotificationID: "n", RecipientID: "r", ReadAt: at, Extra: json.RawMessage(` { } `)})
	if want := `{"notificationId":"n","recipientId":"r","readAt":"2026-01-02T03:04:05Z"}`; err != nil || string(got) != want {
		t.Errorf("got %s (%v), want %s", got, err, want)
	}
}

func BenchmarkDecode(b *testing.B) {
	data, _ := json.Marshal(Sent{NotificationID: "5f0c2a3e-1111-4a4a-9b9b-000000000001", RecipientID: "r-42", Content: "You have a new follower number 42", Category: "social", SentAt: time.Now().UTC()})
	b.Run("fast", func(b *testing.B) {
		for range b.N {
			if _, err := Decode(TypeSent, data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for range b.N {
			var e Sent
			if err := json.Unmarshal(data, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// What finding the extra members of an object costs (an inbox document's size, none extra).
func BenchmarkUnknownMembers(b *testing.B) {
	doc := []byte(`{"id":"5f0c2a3e-1111-4a4a-9b9b-000000000001","recipientId":"r-42","content":"You have a new follower number 42","category":"social","status":"read","readAt":"2026-01-02T03:04:05.123456789Z","canceledAt":null,"createdAt":"2026-01-02T03:04:05.123456789Z","seenAt":"2026-01-02T03:04:05.123456789Z"}`)
	known := func(key []byte) bool { return len(key) > 0 }
	for range b.N {
		if UnknownMembers(doc, known) != nil {
			b.Fatal("extra")
		}
	}
}
