package notification

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrUnknownEvent is matched by Decode's error for an event type this version does not know:
// one a newer version wrote, read here during a rolling deploy or after a rollback. What each
// reader of the log does with such an event is decided here, once, and each reader's tests
// hold it to that:
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
)

// Event is one fact about a notification. Every event names its recipient so that consumers
// never need a lookup.
type Event interface {
	Type() string
	Notification() string
	Recipient() string
}

// Sent records that a notification was created for a recipient.
type Sent struct {
	NotificationID string    `json:"notificationId"`
	RecipientID    string    `json:"recipientId"`
	Content        string    `json:"content"`
	Category       string    `json:"category"`
	SentAt         time.Time `json:"sentAt"`
}

// Read records that the recipient read the notification.
type Read struct {
	NotificationID string    `json:"notificationId"`
	RecipientID    string    `json:"recipientId"`
	ReadAt         time.Time `json:"readAt"`
}

// Unread records that the recipient marked the notification unread again.
type Unread struct {
	NotificationID string    `json:"notificationId"`
	RecipientID    string    `json:"recipientId"`
	UnreadAt       time.Time `json:"unreadAt"`
}

// Canceled records that the notification was withdrawn; canceled is final.
type Canceled struct {
	NotificationID string    `json:"notificationId"`
	RecipientID    string    `json:"recipientId"`
	CanceledAt     time.Time `json:"canceledAt"`
}

// Type returns the stored event type name.
func (Sent) Type() string { return TypeSent }

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

// Decode turns a stored event (type name + JSON data) back into an Event: the one decoder of
// stored events. An unknown type fails with an error matching ErrUnknownEvent, whose doc says
// what each reader does with it. The events as this service writes them take a fast path
// (decodeFast); anything else is left to encoding/json, with the same result.
func Decode(eventType string, data []byte) (Event, error) {
	if e, ok := decodeFast(eventType, data); ok {
		return e, nil
	}
	var (
		ev  Event
		err error
	)
	switch eventType {
	case TypeSent:
		var e Sent
		err = json.Unmarshal(data, &e)
		ev = e
	case TypeRead:
		var e Read
		err = json.Unmarshal(data, &e)
		ev = e
	case TypeUnread:
		var e Unread
		err = json.Unmarshal(data, &e)
		ev = e
	case TypeCanceled:
		var e Canceled
		err = json.Unmarshal(data, &e)
		ev = e
	default:
		return nil, fmt.Errorf("%w %q", ErrUnknownEvent, eventType)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", eventType, err)
	}
	return ev, nil
}
