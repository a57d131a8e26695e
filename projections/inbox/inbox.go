// Package inbox is the inbox projection: per recipient, their notifications newest first and
// their counts. It declares the read-model transaction it writes through; adapters (embedded,
// PostgreSQL) implement it and pass inboxtest.
package inbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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

// View is one notification as an inbox shows it. Its JSON is the published shape, stored as
// is so queries can serve it without re-encoding: the seed service's fields plus status first,
// then the fields of issue #13 (seenAt, archivedAt, title, data, actionUrl, actions, tags),
// each left out when empty, so that a notification without them reads exactly as before they
// existed (the seed routes' shape; see SeedJSON).
type View struct {
	ID          string     `json:"id"`
	RecipientID string     `json:"recipientId"`
	Content     string     `json:"content"`
	Category    string     `json:"category"`
	Status      Status     `json:"status"`
	ReadAt      *time.Time `json:"readAt"`
	CanceledAt  *time.Time `json:"canceledAt"`
	CreatedAt   time.Time  `json:"createdAt"`
	// SeenAt is when it was first seen; reading it counts, and marking it unread keeps it.
	SeenAt *time.Time `json:"seenAt,omitempty"`
	// ArchivedAt is when it was archived, nil when it is not.
	ArchivedAt *time.Time `json:"archivedAt,omitempty"`
	// What it was sent with besides its content and category, all optional.
	Title     string                `json:"title,omitempty"`
	Data      json.RawMessage       `json:"data,omitempty"`
	ActionURL string                `json:"actionUrl,omitempty"`
	Actions   []notification.Action `json:"actions,omitempty"`
	Tags      []string              `json:"tags,omitempty"`
	// Extra holds the members of its NotificationSent that this version does not know (a
	// newer version's fields, notification.Sent.Extra), less any named as a field of View: a
	// JSON object, written after the fields above as it was stored, so that a field a newer
	// writer added survives this version's projection and shows in the document. DecodeView
	// reads it back; json.Unmarshal leaves it nil.
	Extra json.RawMessage `json:"-"`
	// Seq orders the inbox: the log position of the NotificationSent event.
	Seq eventstore.Position `json:"-"`
}

// Standing is what a notification's counts depend on: its status, whether it was seen, and
// whether it is archived. The zero Standing (no status) is no notification.
type Standing struct {
	Status   Status
	Seen     bool
	Archived bool
}

// StandingOf returns what v counts as. A read notification is seen even if its view says
// nothing of it (one folded before seenAt existed): reading implies seeing.
func StandingOf(v View) Standing {
	return Standing{Status: v.Status, Seen: v.SeenAt != nil || v.Status == StatusRead, Archived: v.ArchivedAt != nil}
}

// Counts are a recipient's totals. Total counts every notification, Canceled the canceled
// ones; Unread those neither read, canceled nor archived, and Unseen those neither seen,
// canceled nor archived (the badge).
type Counts struct {
	Total    int `json:"total"`
	Unread   int `json:"unread"`
	Unseen   int `json:"unseen"`
	Canceled int `json:"canceled"`
}

// Add counts n more notifications of standing s (n < 0 counts them out). It is the one place
// that decides what counts where; every store keeps its counts with it (through Change), and
// the PostgreSQL one's summing SQL is held to it by the contract suites.
func (c *Counts) Add(s Standing, n int) {
	c.Total += n
	switch {
	case s.Status == StatusCanceled:
		c.Canceled += n
		return
	case s.Archived:
		return
	}
	if s.Status == StatusSent {
		c.Unread += n
	}
	if !s.Seen {
		c.Unseen += n
	}
}

// Change counts a notification moving from standing before to after; a zero before is a new
// one.
func (c *Counts) Change(before, after Standing) {
	if before != (Standing{}) {
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
	// Archived chooses by archive: the zero value (ArchivedHidden) leaves archived ones out.
	Archived Archived
	// Tag keeps only notifications with this tag ("" keeps all).
	Tag   string
	Limit int
}

// Archived is a page's archive filter.
type Archived uint8

// The archive filters.
const (
	ArchivedHidden Archived = iota // not archived (the default)
	ArchivedOnly                   // archived only
	ArchivedAll                    // both
)

// Keeps reports whether a page with filter a shows a notification archived or not.
func (a Archived) Keeps(archived bool) bool {
	switch a {
	case ArchivedOnly:
		return archived
	case ArchivedAll:
		return true
	}
	return !archived
}

// Keeps reports whether the query's filters (status, category, archive, tag) keep v; the
// recipient, Before and Limit are the store's to apply. Stores may filter otherwise (on the
// document's bytes, in SQL) as long as they agree with it; inboxtest holds them to that.
func (q PageQuery) Keeps(v View) bool {
	return (q.Status == "" || v.Status == q.Status) && (q.Category == "" || v.Category == q.Category) &&
		q.Archived.Keeps(v.ArchivedAt != nil) && (q.Tag == "" || slices.Contains(v.Tags, q.Tag))
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
	r := n.Rich()
	v := View{ID: n.ID(), RecipientID: n.RecipientID(), Content: n.Content(), Category: n.Category(), CreatedAt: n.CreatedAt(), Seq: seq,
		Title: r.Title, Data: r.Data, ActionURL: r.ActionURL, Actions: r.Actions, Tags: r.Tags, Extra: ExtraOf(n.Extra())}
	v.ReadAt = timePtr(n.ReadAt())
	v.CanceledAt = timePtr(n.CanceledAt())
	v.SeenAt = timePtr(n.SeenAt())
	v.ArchivedAt = timePtr(n.ArchivedAt())
	v.Status = statusOf(v)
	return v
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
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
	e, err := notification.DecodeStored(rec.Type, eventstore.SchemaVersionOf(rec.Metadata), rec.Data)
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
		return tx.Put(View{ID: s.NotificationID, RecipientID: s.RecipientID, Content: s.Content, Category: s.Category, Status: StatusSent, CreatedAt: s.SentAt, Seq: rec.Position,
			Title: s.Title, Data: s.Data, ActionURL: s.ActionURL, Actions: s.Actions, Tags: s.Tags, Extra: ExtraOf(s.Extra)})
	}
	v, ok, err := tx.Get(e.Notification())
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s for notification %s that the inbox does not have", projections.ErrBadEvent, rec.Type, e.Notification())
	}
	// The fold follows (*notification.Notification).Apply: the domain decided each event, so
	// a view never refuses one (a canceled notification may be archived, and an event the
	// domain would not emit on it is folded as it says all the same).
	switch e := e.(type) {
	case notification.Read:
		v.ReadAt = &e.ReadAt
		if v.SeenAt == nil { // reading implies seeing
			v.SeenAt = &e.ReadAt
		}
	case notification.Unread:
		v.ReadAt = nil // it stays seen
	case notification.Canceled:
		v.CanceledAt = &e.CanceledAt
	case notification.Seen:
		v.SeenAt = &e.SeenAt
	case notification.Archived:
		v.ArchivedAt = &e.ArchivedAt
	case notification.Unarchived:
		v.ArchivedAt = nil
	}
	v.Status = statusOf(v)
	return tx.Put(v)
}
