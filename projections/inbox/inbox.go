// Package inbox is the inbox projection: per recipient, their notifications newest first and
// their counts. It declares the read-model transaction it writes through; adapters (embedded,
// PostgreSQL) implement it and pass inboxtest.
package inbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/projections"
)

// Name is the projection's name, under which its checkpoint is kept.
const Name = "inbox"

// Status is where a notification stands for its recipient.
type Status string

// The statuses.
const (
	StatusSent     Status = "sent"
	StatusRead     Status = "read"
	StatusCanceled Status = "canceled"
)

// View is one notification as an inbox shows it. Its JSON is the published shape (the seed
// service's fields plus status), stored as is so queries can serve it without re-encoding.
type View struct {
	ID          string     `json:"id"`
	RecipientID string     `json:"recipientId"`
	Content     string     `json:"content"`
	Category    string     `json:"category"`
	Status      Status     `json:"status"`
	ReadAt      *time.Time `json:"readAt"`
	CanceledAt  *time.Time `json:"canceledAt"`
	CreatedAt   time.Time  `json:"createdAt"`
	// Seq orders the inbox: the log position of the NotificationSent event.
	Seq eventstore.Position `json:"-"`
}

// Counts are a recipient's totals. Unread counts notifications neither read nor canceled.
type Counts struct {
	Total    int `json:"total"`
	Unread   int `json:"unread"`
	Canceled int `json:"canceled"`
}

// Add counts n more notifications of status s (n < 0 counts them out): each is in Total;
// a sent one, neither read nor canceled, is Unread.
func (c *Counts) Add(s Status, n int) {
	c.Total += n
	switch s {
	case StatusSent:
		c.Unread += n
	case StatusCanceled:
		c.Canceled += n
	}
}

// Change counts a notification moving from status before to after; before "" is a new one.
func (c *Counts) Change(before, after Status) {
	if before != "" {
		c.Add(before, -1)
	}
	c.Add(after, 1)
}

// PageQuery selects a page of a recipient's inbox, newest first.
type PageQuery struct {
	Recipient string
	// Before continues after a previous page: only notifications older than this Seq (0: from
	// the newest).
	Before eventstore.Position
	// Status and Category keep only matching notifications ("" keeps all).
	Status   Status
	Category string
	Limit    int
}

// Page is one page of an inbox. Next is the Before of the following page, 0 when this page
// is the last.
type Page struct {
	Items []json.RawMessage
	Next  eventstore.Position
}

// Tx is the read-model transaction the projection writes through, one per batch. The batch
// first declares the notifications it touches (Load), which the store reads in one go; the
// fold then works on those views in memory (Get, Put), and the store writes the views put,
// with the counts, when the batch commits.
type Tx interface {
	// Load reads the views of ids, those the inbox has, into the transaction. Ids already
	// loaded or put are skipped, so a batch may load more than once.
	Load(ids []string) error
	// Get returns the view of notification id, if the inbox has it. An id not loaded is read
	// on its own: correct, but a round trip per id for a store across the network.
	Get(id string) (View, bool, error)
	// Put inserts or replaces a view; the store keeps its indexes and counts in step.
	Put(v View) error
}

// ViewOf returns the view of a notification's current state.
func ViewOf(n *notification.Notification, seq eventstore.Position) View {
	v := View{ID: n.ID(), RecipientID: n.RecipientID(), Content: n.Content(), Category: n.Category(), CreatedAt: n.CreatedAt(), Seq: seq}
	if t := n.ReadAt(); !t.IsZero() {
		v.ReadAt = &t
	}
	if t := n.CanceledAt(); !t.IsZero() {
		v.CanceledAt = &t
	}
	v.Status = statusOf(v)
	return v
}

func statusOf(v View) Status {
	switch {
	case v.CanceledAt != nil:
		return StatusCanceled
	case v.ReadAt != nil:
		return StatusRead
	}
	return StatusSent
}

// Projection returns the inbox projection over the notification streams.
func Projection() projections.Projection[Tx] {
	return projections.Projection[Tx]{
		Name:   Name,
		Filter: eventstore.Filter{StreamPrefix: notification.StreamPrefix},
		Apply: func(tx Tx, rec eventstore.RecordedEvent) error {
			e, err := decode(rec)
			if err != nil {
				return err
			}
			if err := tx.Load(touched([]any{e})); err != nil {
				return err
			}
			return fold(tx, rec, e)
		},
		Decode:  decode,
		Preload: func(tx Tx, decoded []any) error { return tx.Load(touched(decoded)) },
		Fold:    fold,
	}
}

// touched lists, once each, the notifications decoded events are about.
func touched(decoded []any) []string {
	ids := make([]string, 0, len(decoded))
	seen := make(map[string]struct{}, len(decoded))
	for _, d := range decoded {
		e, ok := d.(notification.Event)
		if !ok {
			continue
		}
		id := e.Notification()
		if _, dup := seen[id]; !dup {
			seen[id] = struct{}{}
			ids = append(ids, id)
		}
	}
	return ids
}

// decode reads an event's payload: a notification.Event, or nil for an event type this
// version does not know, which the inbox skips without parking it (the policy of
// notification.ErrUnknownEvent). Any other failure parks the event.
func decode(rec eventstore.RecordedEvent) (any, error) {
	e, err := notification.Decode(rec.Type, rec.Data)
	if errors.Is(err, notification.ErrUnknownEvent) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return e, nil
}

func fold(tx Tx, rec eventstore.RecordedEvent, decoded any) error {
	e, ok := decoded.(notification.Event)
	if !ok {
		return nil // an unknown event type
	}
	if s, ok := e.(notification.Sent); ok {
		if _, exists, err := tx.Get(s.NotificationID); err != nil || exists {
			return err // a second Sent on one stream cannot happen; keep the first
		}
		return tx.Put(View{ID: s.NotificationID, RecipientID: s.RecipientID, Content: s.Content, Category: s.Category, Status: StatusSent, CreatedAt: s.SentAt, Seq: rec.Position})
	}
	v, ok, err := tx.Get(e.Notification())
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s for notification %s that the inbox does not have", projections.ErrBadEvent, rec.Type, e.Notification())
	}
	switch e := e.(type) {
	case notification.Read:
		v.ReadAt = &e.ReadAt
	case notification.Unread:
		v.ReadAt = nil
	case notification.Canceled:
		v.CanceledAt = &e.CanceledAt
	}
	v.Status = statusOf(v)
	return tx.Put(v)
}
