package notification

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Input limits (README, Security).
const (
	MinContent   = 5
	MaxContent   = 240
	MaxRecipient = 128
	MaxCategory  = 64
	MaxTitle     = 120
	MaxDataBytes = 4 << 10
	MaxDataDepth = 8
	MaxURL       = 2048
	MaxActions   = 2
	MaxLabel     = 40
	MaxTags      = 10
	MaxTag       = 32
)

// Notification is the aggregate. Its state changes only through Apply.
type Notification struct {
	id          string
	recipientID string
	content     string
	category    string
	rich        Rich
	extra       json.RawMessage
	createdAt   time.Time
	readAt      time.Time
	seenAt      time.Time
	archivedAt  time.Time
	canceledAt  time.Time
	version     int64
}

// Rich is what a notification may carry besides its content and category, all optional.
type Rich struct {
	Title     string
	Data      json.RawMessage // a JSON object, compacted
	ActionURL string
	Actions   []Action
	Tags      []string
}

func (r Rich) equal(o Rich) bool {
	return r.Title == o.Title && bytes.Equal(r.Data, o.Data) && r.ActionURL == o.ActionURL &&
		slices.Equal(r.Actions, o.Actions) && slices.Equal(r.Tags, o.Tags)
}

// New returns the empty state of the notification with the given id, before any event.
func New(id string) *Notification { return &Notification{id: id, version: -1} }

// ID returns the notification id.
func (n *Notification) ID() string { return n.id }

// RecipientID returns the recipient.
func (n *Notification) RecipientID() string { return n.recipientID }

// Content returns the text.
func (n *Notification) Content() string { return n.content }

// Category returns the category.
func (n *Notification) Category() string { return n.category }

// Rich returns the optional fields it was sent with.
func (n *Notification) Rich() Rich { return n.rich }

// Extra returns the members its Sent event had that this version does not know (Sent.Extra):
// a newer version's fields, nil when none.
func (n *Notification) Extra() json.RawMessage { return n.extra }

// SeenAt returns when it was first seen (reading it counts), or the zero time.
func (n *Notification) SeenAt() time.Time { return n.seenAt }

// ArchivedAt returns when it was archived, or the zero time when it is not.
func (n *Notification) ArchivedAt() time.Time { return n.archivedAt }

// CreatedAt returns when it was sent.
func (n *Notification) CreatedAt() time.Time { return n.createdAt }

// ReadAt returns when it was read, or the zero time.
func (n *Notification) ReadAt() time.Time { return n.readAt }

// CanceledAt returns when it was canceled, or the zero time.
func (n *Notification) CanceledAt() time.Time { return n.canceledAt }

// Version is the revision of the last applied event; -1 when none was.
func (n *Notification) Version() int64 { return n.version }

// Exists reports whether the notification has been sent.
func (n *Notification) Exists() bool { return n.version >= 0 }

// Apply folds one event into the state. It is the only way state changes.
func (n *Notification) Apply(e Event) {
	switch e := e.(type) {
	case Sent:
		n.recipientID, n.content, n.category, n.createdAt = e.RecipientID, e.Content, e.Category, e.SentAt
		n.rich = Rich{Title: e.Title, Data: e.Data, ActionURL: e.ActionURL, Actions: e.Actions, Tags: e.Tags}
		n.extra = e.Extra
	case Read:
		n.readAt = e.ReadAt
		if n.seenAt.IsZero() { // reading implies seeing
			n.seenAt = e.ReadAt
		}
	case Unread:
		n.readAt = time.Time{} // it stays seen
	case Seen:
		n.seenAt = e.SeenAt
	case Archived:
		n.archivedAt = e.ArchivedAt
	case Unarchived:
		n.archivedAt = time.Time{}
	case Canceled:
		n.canceledAt = e.CanceledAt
	}
	n.version++
}

// SendArgs are the inputs of a send.
type SendArgs struct {
	RecipientID string
	Content     string
	Category    string
	Rich
}

// Validate checks the send rules and returns the normalized arguments (trimmed text). The
// error names every broken rule, the first one in Field and Rule.
func (a SendArgs) Validate() (SendArgs, error) {
	a.Content = strings.TrimSpace(a.Content)
	a.Category = strings.TrimSpace(a.Category)
	var broken []ValidationError
	add := func(err error) {
		var ve *ValidationError
		if errors.As(err, &ve) {
			broken = append(broken, *ve)
		}
	}
	add(ValidateRecipient(a.RecipientID))
	if c := utf8.RuneCountInString(a.Content); c < MinContent || c > MaxContent {
		add(invalid("content", "must be 5 to 240 characters after trimming"))
	} else if !printable(a.Content, true) {
		add(invalid("content", "must be valid UTF-8 without control characters other than newline and tab"))
	}
	if c := utf8.RuneCountInString(a.Category); c < 1 || c > MaxCategory {
		add(invalid("category", "must be 1 to 64 characters after trimming"))
	} else if !printable(a.Category, false) {
		add(invalid("category", "must be valid UTF-8 without control characters"))
	}
	var errs []error
	a.Rich, errs = a.Rich.validate()
	for _, err := range errs {
		add(err)
	}
	if len(broken) == 0 {
		return a, nil
	}
	first := broken[0]
	first.Others = broken[1:]
	return a, &first
}

// Send decides the events of sending this notification. Sending again with identical recipient,
// content and category is a redelivery: success with no new event.
func (n *Notification) Send(args SendArgs, now time.Time) ([]Event, error) {
	args, err := args.Validate()
	if err != nil {
		return nil, err
	}
	if n.Exists() {
		if n.recipientID == args.RecipientID && n.content == args.Content && n.category == args.Category && n.rich.equal(args.Rich) {
			return nil, nil
		}
		return nil, conflict("notification %s already exists with other content", n.id)
	}
	r := args.Rich
	return []Event{Sent{NotificationID: n.id, RecipientID: args.RecipientID, Content: args.Content, Category: args.Category, SentAt: now,
		Title: r.Title, Data: r.Data, ActionURL: r.ActionURL, Actions: r.Actions, Tags: r.Tags}}, nil
}

// Read decides the events of marking the notification read.
func (n *Notification) Read(now time.Time) ([]Event, error) {
	if err := n.changeable("read"); err != nil {
		return nil, err
	}
	if !n.readAt.IsZero() {
		return nil, nil
	}
	return []Event{Read{NotificationID: n.id, RecipientID: n.recipientID, ReadAt: now}}, nil
}

// Unread decides the events of marking the notification unread.
func (n *Notification) Unread(now time.Time) ([]Event, error) {
	if err := n.changeable("unread"); err != nil {
		return nil, err
	}
	if n.readAt.IsZero() {
		return nil, nil
	}
	return []Event{Unread{NotificationID: n.id, RecipientID: n.recipientID, UnreadAt: now}}, nil
}

// See decides the events of marking the notification seen: none when it was seen or read
// already (reading implies seeing).
func (n *Notification) See(now time.Time) ([]Event, error) {
	if err := n.changeable("seen"); err != nil {
		return nil, err
	}
	if !n.seenAt.IsZero() {
		return nil, nil
	}
	return []Event{Seen{NotificationID: n.id, RecipientID: n.recipientID, SeenAt: now}}, nil
}

// Archive decides the events of archiving the notification. A canceled one may be archived
// too (it is final, and putting it away is what a recipient does with it); archiving twice is
// a no-op.
func (n *Notification) Archive(now time.Time) ([]Event, error) {
	if !n.Exists() {
		return nil, n.notFound()
	}
	if !n.archivedAt.IsZero() {
		return nil, nil
	}
	return []Event{Archived{NotificationID: n.id, RecipientID: n.recipientID, ArchivedAt: now}}, nil
}

// Unarchive decides the events of taking the notification out of the archive; one not
// archived is a no-op.
func (n *Notification) Unarchive(now time.Time) ([]Event, error) {
	if !n.Exists() {
		return nil, n.notFound()
	}
	if n.archivedAt.IsZero() {
		return nil, nil
	}
	return []Event{Unarchived{NotificationID: n.id, RecipientID: n.recipientID, UnarchivedAt: now}}, nil
}

// Cancel decides the events of canceling the notification. Canceling twice is a no-op.
func (n *Notification) Cancel(now time.Time) ([]Event, error) {
	if !n.Exists() {
		return nil, n.notFound()
	}
	if !n.canceledAt.IsZero() {
		return nil, nil
	}
	return []Event{Canceled{NotificationID: n.id, RecipientID: n.recipientID, CanceledAt: now}}, nil
}

func (n *Notification) changeable(verb string) error {
	if !n.Exists() {
		return n.notFound()
	}
	if !n.canceledAt.IsZero() {
		return conflict("notification %s is canceled and cannot be marked %s", n.id, verb)
	}
	return nil
}

func (n *Notification) notFound() error {
	return fmt.Errorf("%w: no notification has id %s", ErrNotFound, n.id)
}

// ValidateRecipient checks a recipient id: 1–128 characters of [A-Za-z0-9._:@-].
func ValidateRecipient(id string) error {
	if len(id) < 1 || len(id) > MaxRecipient {
		return invalid("recipientId", "must be 1 to 128 characters")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == ':' || c == '@' || c == '-'
		if !ok {
			return invalid("recipientId", "may contain only letters, digits and . _ : @ -")
		}
	}
	return nil
}

// ParseID checks that id is a UUID (8-4-4-4-12 hex digits) and returns it in lower case.
func ParseID(id string) (string, error) {
	if len(id) != 36 {
		return "", invalid("id", "must be a UUID")
	}
	b := []byte(strings.ToLower(id))
	for i, c := range b {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", invalid("id", "must be a UUID")
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return "", invalid("id", "must be a UUID")
			}
		}
	}
	return string(b), nil
}

// printable reports whether s is valid UTF-8 free of control characters (newline and tab
// allowed when multiline).
func printable(s string, multiline bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) {
			return false
		}
	}
	return true
}

// StreamPrefix starts the name of every notification stream; it is the category filter on the
// global log.
const StreamPrefix = "notification-"

// Stream returns the event stream of notification id.
func Stream(id string) string { return StreamPrefix + id }
