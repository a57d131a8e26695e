package notification

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrUnknownEvent is matched by DecodeStored's (and Decode's) error for an event type this
// version does not know: one a newer version wrote, read here during a rolling deploy or after
// a rollback. What each reader of the log does with such an event is decided here, once, and
// each reader's tests hold it to that:
//
//   - The command load (app/command) refuses: a decision taken on a history that misses an
//     event could break a rule, so the command fails, and succeeds once an upgraded process
//     handles it.
//   - The history query (app/query) refuses too: it answers with the state folded from the
//     events, and a state folded without one of them would be stated as fact.
//   - The inbox projection (projections/inbox) skips the event, neither applying nor parking
//     it: the inbox shows what this version knows and stays current for everything else;
//     parking is for events no version can apply.
//   - The live hub (app/live) skips it: a live stream shows what this version knows.
//   - The Kafka relay publishes it as stored, like every event (its key read from the data's
//     recipientId): its consumers decide.
//
// A known type whose data does not decode is not this error: the command load and the history
// refuse it, the projection parks it, the live hub logs and skips it.
var ErrUnknownEvent = errors.New("unknown event type")

// Event type names, as stored in the event log and published on Kafka.
const (
	TypeSent     = "NotificationSent"
	TypeRead     = "NotificationRead"
	TypeUnread   = "NotificationUnread"
	TypeCanceled = "NotificationCanceled"
	// Seen, Archived and Unarchived came with issue #13; a version before it reads them as
	// ErrUnknownEvent says.
	TypeSeen       = "NotificationSeen"
	TypeArchived   = "NotificationArchived"
	TypeUnarchived = "NotificationUnarchived"
)

// Event is one fact about a notification. Every event names its recipient so that consumers
// never need a lookup.
type Event interface {
	Type() string
	Notification() string
	Recipient() string
}

// Sent records that a notification was created for a recipient. The fields after SentAt are
// optional (issue #13) and left out of the JSON when empty, so a notification without them is
// stored exactly as before they existed.
type Sent struct {
	NotificationID string    `json:"notificationId"`
	RecipientID    string    `json:"recipientId"`
	Content        string    `json:"content"`
	Category       string    `json:"category"`
	SentAt         time.Time `json:"sentAt"`
	Title          string    `json:"title,omitempty"`
	// Data is the sender's JSON object, compacted.
	Data      json.RawMessage `json:"data,omitempty"`
	ActionURL string          `json:"actionUrl,omitempty"`
	Actions   []Action        `json:"actions,omitempty"`
	Tags      []string        `json:"tags,omitempty"`
	// Extra holds the members of the stored JSON that this version does not know (a newer
	// version's fields): a JSON object of them, each in its order and bytes as stored, nil
	// when there are none. Decode fills it; AppendJSON writes them back after the known
	// fields, so an event read and written again keeps them. Every event type has it.
	Extra json.RawMessage `json:"-"`
}

// Action is a button a notification offers: its label and where it leads.
type Action struct {
	Label string `json:"label"`
	URL   string `json:"url"`
}

// rich reports whether the notification carries any of the optional fields.
func (e Sent) rich() bool {
	return e.Title != "" || len(e.Data) > 0 || e.ActionURL != "" || len(e.Actions) > 0 || len(e.Tags) > 0
}

// Read records that the recipient read the notification.
type Read struct {
	NotificationID string          `json:"notificationId"`
	RecipientID    string          `json:"recipientId"`
	ReadAt         time.Time       `json:"readAt"`
	Extra          json.RawMessage `json:"-"` // as Sent.Extra
}

// Unread records that the recipient marked the notification unread again.
type Unread struct {
	NotificationID string          `json:"notificationId"`
	RecipientID    string          `json:"recipientId"`
	UnreadAt       time.Time       `json:"unreadAt"`
	Extra          json.RawMessage `json:"-"` // as Sent.Extra
}

// Canceled records that the notification was withdrawn; canceled is final.
type Canceled struct {
	NotificationID string          `json:"notificationId"`
	RecipientID    string          `json:"recipientId"`
	CanceledAt     time.Time       `json:"canceledAt"`
	Extra          json.RawMessage `json:"-"` // as Sent.Extra
}

// Seen records that the notification was shown to the recipient (reading implies it).
type Seen struct {
	NotificationID string          `json:"notificationId"`
	RecipientID    string          `json:"recipientId"`
	SeenAt         time.Time       `json:"seenAt"`
	Extra          json.RawMessage `json:"-"` // as Sent.Extra
}

// Archived records that the recipient put the notification away: it leaves the default
// lists and the unread and unseen counts.
type Archived struct {
	NotificationID string          `json:"notificationId"`
	RecipientID    string          `json:"recipientId"`
	ArchivedAt     time.Time       `json:"archivedAt"`
	Extra          json.RawMessage `json:"-"` // as Sent.Extra
}

// Unarchived records that the recipient took the notification out of the archive.
type Unarchived struct {
	NotificationID string          `json:"notificationId"`
	RecipientID    string          `json:"recipientId"`
	UnarchivedAt   time.Time       `json:"unarchivedAt"`
	Extra          json.RawMessage `json:"-"` // as Sent.Extra
}

// Type returns the stored event type name.
func (Sent) Type() string { return TypeSent }

// Type returns the stored event type name.
func (Seen) Type() string { return TypeSeen }

// Type returns the stored event type name.
func (Archived) Type() string { return TypeArchived }

// Type returns the stored event type name.
func (Unarchived) Type() string { return TypeUnarchived }

// Notification returns the notification id.
func (e Seen) Notification() string { return e.NotificationID }

// Notification returns the notification id.
func (e Archived) Notification() string { return e.NotificationID }

// Notification returns the notification id.
func (e Unarchived) Notification() string { return e.NotificationID }

// Recipient returns the recipient id.
func (e Seen) Recipient() string { return e.RecipientID }

// Recipient returns the recipient id.
func (e Archived) Recipient() string { return e.RecipientID }

// Recipient returns the recipient id.
func (e Unarchived) Recipient() string { return e.RecipientID }

// Type returns the stored event type name.
func (Read) Type() string { return TypeRead }

// Type returns the stored event type name.
func (Unread) Type() string { return TypeUnread }

// Type returns the stored event type name.
func (Canceled) Type() string { return TypeCanceled }

// Notification returns the notification id.
func (e Sent) Notification() string { return e.NotificationID }

// Notification returns the notification id.
func (e Read) Notification() string { return e.NotificationID }

// Notification returns the notification id.
func (e Unread) Notification() string { return e.NotificationID }

// Notification returns the notification id.
func (e Canceled) Notification() string { return e.NotificationID }

// Recipient returns the recipient id.
func (e Sent) Recipient() string { return e.RecipientID }

// Recipient returns the recipient id.
func (e Read) Recipient() string { return e.RecipientID }

// Recipient returns the recipient id.
func (e Unread) Recipient() string { return e.RecipientID }

// Recipient returns the recipient id.
func (e Canceled) Recipient() string { return e.RecipientID }

// Decode turns an event's data, of the current SchemaVersion, back into an Event. Readers of
// stored events call DecodeStored, which brings older data up to date first. An unknown type
// fails with an error matching ErrUnknownEvent, whose doc says what each reader does with it.
// Members of the data that the type does not have (a newer version's fields) are kept in the
// event's Extra. The events as this service writes them take a fast path (decodeFast); anything
// else is left to encoding/json, with the same result.
func Decode(eventType string, data []byte) (Event, error) {
	if e, ok := decodeFast(eventType, data); ok {
		return e, nil
	}
	return decodeJSON(eventType, data)
}

// decodeJSON is Decode by encoding/json, and Extra by extraMembers.
func decodeJSON(eventType string, data []byte) (Event, error) {
	var (
		ev  Event
		err error
	)
	switch eventType {
	case TypeSent:
		var e Sent
		err = json.Unmarshal(data, &e)
		e.Extra = extraMembers(eventType, data, err)
		ev = e
	case TypeRead:
		var e Read
		err = json.Unmarshal(data, &e)
		e.Extra = extraMembers(eventType, data, err)
		ev = e
	case TypeUnread:
		var e Unread
		err = json.Unmarshal(data, &e)
		e.Extra = extraMembers(eventType, data, err)
		ev = e
	case TypeCanceled:
		var e Canceled
		err = json.Unmarshal(data, &e)
		e.Extra = extraMembers(eventType, data, err)
		ev = e
	case TypeSeen:
		var e Seen
		err = json.Unmarshal(data, &e)
		e.Extra = extraMembers(eventType, data, err)
		ev = e
	case TypeArchived:
		var e Archived
		err = json.Unmarshal(data, &e)
		e.Extra = extraMembers(eventType, data, err)
		ev = e
	case TypeUnarchived:
		var e Unarchived
		err = json.Unmarshal(data, &e)
		e.Extra = extraMembers(eventType, data, err)
		ev = e
	default:
		return nil, fmt.Errorf("%w %q", ErrUnknownEvent, eventType)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", eventType, err)
	}
	return ev, nil
}
