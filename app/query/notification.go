package query

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/projections/inbox"
)

// StreamReader reads a notification's events from the event store.
type StreamReader interface {
	ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.RecordedEvent, error)
}

// Notifications answers questions about one notification straight from its event stream,
// so they need no read model and see every acknowledged command.
type Notifications struct{ store StreamReader }

// NewNotifications builds the one-notification queries over the event store.
func NewNotifications(store StreamReader) Notifications {
	if store == nil {
		panic("query: nil stream reader")
	}
	return Notifications{store: store}
}

// HistoryEntry is one event of a notification's audit trail.
type HistoryEntry struct {
	Type       string              `json:"type"`
	Revision   uint64              `json:"revision"`
	Position   eventstore.Position `json:"position"`
	EventID    string              `json:"eventId"`
	RecordedAt time.Time           `json:"recordedAt"`
	Data       json.RawMessage     `json:"data"`
	Metadata   json.RawMessage     `json:"metadata,omitempty"`
}

// History returns the notification's state and its events, oldest first. An unknown id is
// notification.ErrNotFound; an event that does not decode, or of a type this version does not
// know (notification.ErrUnknownEvent), fails it.
func (q Notifications) History(ctx context.Context, id string) (*notification.Notification, []HistoryEntry, error) {
	id, err := notification.ParseID(id)
	if err != nil {
		return nil, nil, err
	}
	recs, err := q.store.ReadStream(ctx, notification.Stream(id), 0, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("read notification %s: %w", id, err)
	}
	if len(recs) == 0 {
		return nil, nil, fmt.Errorf("%w: no notification has id %s", notification.ErrNotFound, id)
	}
	n := notification.New(id)
	out := make([]HistoryEntry, 0, len(recs))
	for _, r := range recs {
		e, err := notification.DecodeStored(r.Type, eventstore.SchemaVersionOf(r.Metadata), r.Data)
		if err != nil { // an unknown type too: the state must fold every event (notification.ErrUnknownEvent)
			return nil, nil, fmt.Errorf("notification %s at revision %d: %w", id, r.Revision, err)
		}
		n.Apply(e)
		h := HistoryEntry{Type: r.Type, Revision: r.Revision, Position: r.Position, EventID: r.ID.String(), RecordedAt: r.Created, Data: r.Data}
		if json.Valid(r.Metadata) {
			h.Metadata = r.Metadata
		}
		out = append(out, h)
	}
	return n, out, nil
}

// View is one notification as GET /v1/notifications/:id shows it: the fields of the inbox's
// view (inbox.View, in its order) and what issue #13 added, folded from its stream. The
// optional fields are left out when the sender gave none; seenAt and archivedAt are null until
// it is seen or while it is not archived. The seed's routes answer inbox.View and never show
// these. (inbox.View is not embedded: its MarshalJSON would be promoted and drop the rest.)
type View struct {
	ID          string                `json:"id"`
	RecipientID string                `json:"recipientId"`
	Content     string                `json:"content"`
	Category    string                `json:"category"`
	Status      inbox.Status          `json:"status"`
	ReadAt      *time.Time            `json:"readAt"`
	CanceledAt  *time.Time            `json:"canceledAt"`
	CreatedAt   time.Time             `json:"createdAt"`
	Title       string                `json:"title,omitempty"`
	Data        json.RawMessage       `json:"data,omitempty"`
	ActionURL   string                `json:"actionUrl,omitempty"`
	Actions     []notification.Action `json:"actions,omitempty"`
	Tags        []string              `json:"tags,omitempty"`
	SeenAt      *time.Time            `json:"seenAt"`
	ArchivedAt  *time.Time            `json:"archivedAt"`
}

// ViewOf is n's view; seq is the position of its NotificationSent event.
func ViewOf(n *notification.Notification, seq eventstore.Position) View {
	iv, r := inbox.ViewOf(n, seq), n.Rich()
	v := View{ID: iv.ID, RecipientID: iv.RecipientID, Content: iv.Content, Category: iv.Category, Status: iv.Status,
		ReadAt: iv.ReadAt, CanceledAt: iv.CanceledAt, CreatedAt: iv.CreatedAt,
		Title: r.Title, Data: r.Data, ActionURL: r.ActionURL, Actions: r.Actions, Tags: r.Tags}
	if t := n.SeenAt(); !t.IsZero() {
		v.SeenAt = &t
	}
	if t := n.ArchivedAt(); !t.IsZero() {
		v.ArchivedAt = &t
	}
	return v
}
