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

func (c ReadNotification) target() (string, Meta)   { return c.NotificationID, c.Meta }
func (c UnreadNotification) target() (string, Meta) { return c.NotificationID, c.Meta }
func (c CancelNotification) target() (string, Meta) { return c.NotificationID, c.Meta }

// change is a command that changes one existing notification.
type change interface {
	ReadNotification | UnreadNotification | CancelNotification
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

// The handlers of the three commands.
type (
	ReadNotificationHandler   = ChangeHandler[ReadNotification]
	UnreadNotificationHandler = ChangeHandler[UnreadNotification]
	CancelNotificationHandler = ChangeHandler[CancelNotification]
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
