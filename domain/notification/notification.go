package notification

import (
	"errors"
	"fmt"
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
)

// Notification is the aggregate. Its state changes only through Apply.
type Notification struct {
	id          string
	recipientID string
	content     string
	category    string
	createdAt   time.Time
	readAt      time.Time
	canceledAt  time.Time
	version     int64
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
	case Read:
		n.readAt = e.ReadAt
	case Unread:
		n.readAt = time.Time{}
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
		if n.recipientID == args.RecipientID && n.content == args.Content && n.category == args.Category {
			return nil, nil
		}
		return nil, conflict("notification %s already exists with other content", n.id)
	}
	return []Event{Sent{NotificationID: n.id, RecipientID: args.RecipientID, Content: args.Content, Category: args.Category, SentAt: now}}, nil
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
