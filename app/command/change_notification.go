package command

import (
	"context"
	"time"

	"github.com/eventnotify/notify/domain/notification"
)

// ReadNotification marks a notification read; reading a read notification changes nothing.
type ReadNotification struct {
	Meta           Meta
	NotificationID string
}

// UnreadNotification marks a read notification unread again; unreading an unread one changes
// nothing.
type UnreadNotification struct {
	Meta           Meta
	NotificationID string
}

// CancelNotification withdraws a notification for good; canceling twice changes nothing.
type CancelNotification struct {
	Meta           Meta
	NotificationID string
}

// SeeNotification marks a notification seen (shown to its recipient); seeing a seen or read
// one changes nothing.
type SeeNotification struct {
	Meta           Meta
	NotificationID string
}

// ArchiveNotification puts a notification away; archiving an archived one changes nothing.
type ArchiveNotification struct {
	Meta           Meta
	NotificationID string
}

// UnarchiveNotification takes a notification out of the archive; unarchiving one that is not
// archived changes nothing.
type UnarchiveNotification struct {
	Meta           Meta
	NotificationID string
}

func (c ReadNotification) target() (string, Meta)      { return c.NotificationID, c.Meta }
func (c UnreadNotification) target() (string, Meta)    { return c.NotificationID, c.Meta }
func (c CancelNotification) target() (string, Meta)    { return c.NotificationID, c.Meta }
func (c SeeNotification) target() (string, Meta)       { return c.NotificationID, c.Meta }
func (c ArchiveNotification) target() (string, Meta)   { return c.NotificationID, c.Meta }
func (c UnarchiveNotification) target() (string, Meta) { return c.NotificationID, c.Meta }

// change is a command that changes one existing notification.
type change interface {
	ReadNotification | UnreadNotification | CancelNotification | SeeNotification | ArchiveNotification | UnarchiveNotification
	target() (id string, meta Meta)
}

// ChangeHandler handles one of the commands that change an existing notification: it loads
// the notification, lets the aggregate decide (Read, Unread or Cancel) and appends.
type ChangeHandler[C change] struct {
	repo   repository
	decide decision
}

// Handle applies the command.
func (h ChangeHandler[C]) Handle(ctx context.Context, cmd C) (Result, error) {
	id, meta := cmd.target()
	return h.repo.change(ctx, id, meta, h.decide)
}

// The handlers of the change commands.
type (
	ReadNotificationHandler      = ChangeHandler[ReadNotification]
	UnreadNotificationHandler    = ChangeHandler[UnreadNotification]
	CancelNotificationHandler    = ChangeHandler[CancelNotification]
	SeeNotificationHandler       = ChangeHandler[SeeNotification]
	ArchiveNotificationHandler   = ChangeHandler[ArchiveNotification]
	UnarchiveNotificationHandler = ChangeHandler[UnarchiveNotification]
)

// NewReadNotificationHandler builds the handler; now may be nil for the wall clock.
func NewReadNotificationHandler(store EventStore, now func() time.Time) ReadNotificationHandler {
	return ReadNotificationHandler{repo: newRepository(store, now), decide: (*notification.Notification).Read}
}

// NewUnreadNotificationHandler builds the handler; now may be nil for the wall clock.
func NewUnreadNotificationHandler(store EventStore, now func() time.Time) UnreadNotificationHandler {
	return UnreadNotificationHandler{repo: newRepository(store, now), decide: (*notification.Notification).Unread}
}

// NewCancelNotificationHandler builds the handler; now may be nil for the wall clock.
func NewCancelNotificationHandler(store EventStore, now func() time.Time) CancelNotificationHandler {
	return CancelNotificationHandler{repo: newRepository(store, now), decide: (*notification.Notification).Cancel}
}

// NewSeeNotificationHandler builds the handler; now may be nil for the wall clock.
func NewSeeNotificationHandler(store EventStore, now func() time.Time) SeeNotificationHandler {
	return SeeNotificationHandler{repo: newRepository(store, now), decide: (*notification.Notification).See}
}

// NewArchiveNotificationHandler builds the handler; now may be nil for the wall clock.
func NewArchiveNotificationHandler(store EventStore, now func() time.Time) ArchiveNotificationHandler {
	return ArchiveNotificationHandler{repo: newRepository(store, now), decide: (*notification.Notification).Archive}
}

// NewUnarchiveNotificationHandler builds the handler; now may be nil for the wall clock.
func NewUnarchiveNotificationHandler(store EventStore, now func() time.Time) UnarchiveNotificationHandler {
	return UnarchiveNotificationHandler{repo: newRepository(store, now), decide: (*notification.Notification).Unarchive}
}
