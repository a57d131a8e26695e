package notification

import "fmt"

// SchemaVersion is the version of the event schema this code writes (app/command puts it in
// every event's metadata as "schemaVersion"); readers bring older events up to it with the
// upcasters below before decoding them. The versions:
//
//   - 1: the seed's four events (Sent with content and category; Read, Unread, Canceled).
//     Events written without a schemaVersion, or with 0, are version 1.
//   - 2: issue #13. Sent may carry the optional title, data, actionUrl, actions and tags, and
//     three types exist: Seen, Archived, Unarchived.
//
// A version only ever adds: optional fields (which an older reader keeps in the event's Extra,
// untouched) and event types (which an older reader treats as ErrUnknownEvent says). A change
// an older reader could not read as is (a field renamed, removed or retyped) needs a new event
// type, or every reader upgraded before any writer writes it; its upcaster still reads the
// old events, which are never rewritten. docs/ARCHITECTURE.md, "Evolving an event".
const SchemaVersion = 2

// An upcaster turns the data of one event type at one version into that of the next version.
// It must not modify data in place (it may return it as is).
type upcaster func(data []byte) ([]byte, error)

// upcasters finds the upcaster of eventType from version from to from+1.
type upcasters func(eventType string, from int) (upcaster, bool)

// unchanged is the upcaster of a version that did not change a type's data.
func unchanged(data []byte) ([]byte, error) { return data, nil }

// upcastersOf is the production table: for every event type this code knows and every
// version before SchemaVersion, the step to the next (TestUpcasters_Complete holds it to
// that). It is a function, not a registry: nothing adds to it at run time.
//
// 1 → 2 changes nothing: version 2 only added optional fields to Sent, left out of the JSON
// when empty, so version 1 data is version 2 data without them; and the three types version
// 2 added have no version 1 data (one stored without a version, read as 1, is taken as is).
func upcastersOf(eventType string, from int) (upcaster, bool) {
	switch from {
	case 1:
		switch eventType {
		case TypeSent, TypeRead, TypeUnread, TypeCanceled, TypeSeen, TypeArchived, TypeUnarchived:
			return unchanged, true
		}
	}
	return nil, false
}

// known reports whether this code knows eventType.
func known(eventType string) bool {
	switch eventType {
	case TypeSent, TypeRead, TypeUnread, TypeCanceled, TypeSeen, TypeArchived, TypeUnarchived:
		return true
	}
	return false
}

// DecodeStored decodes a stored event: its type, the schemaVersion of its metadata
// (eventstore.SchemaVersionOf) and its data. Data of an older version is first brought up to
// SchemaVersion through the upcasters, one version at a time; old events are read this way,
// never rewritten. Version 0 (none written) counts as 1. Data of a newer version than this
// code's is decoded as is: a newer version only adds (see SchemaVersion), so what this code
// knows of the event is there, and the fields it does not know are kept in the event's Extra;
// a type it does not know fails with ErrUnknownEvent, whose doc says what each reader does.
func DecodeStored(eventType string, version int, data []byte) (Event, error) {
	return decodeWith(upcastersOf, SchemaVersion, eventType, version, data)
}

// decodeWith is DecodeStored with the upcaster table and the current version given, for the
// tests.
func decodeWith(table upcasters, current int, eventType string, version int, data []byte) (Event, error) {
	if !known(eventType) {
		return nil, fmt.Errorf("%w %q", ErrUnknownEvent, eventType)
	}
	for v := max(version, 1); v < current; v++ {
		up, ok := table(eventType, v)
		if !ok {
			return nil, fmt.Errorf("decode %s: no upcaster from schema version %d to %d", eventType, v, v+1)
		}
		var err error
		if data, err = up(data); err != nil {
			return nil, fmt.Errorf("decode %s: upcast from schema version %d to %d: %w", eventType, v, v+1, err)
		}
	}
	return Decode(eventType, data)
}
