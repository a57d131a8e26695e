package command

import (
	"context"
	"time"

	"github.com/eventnotify/notify/domain/notification"
)

// UnreadNotification marks a notification unread again; unreading an unread notification changes nothing.
type UnreadNotification struct {
	Meta           Meta
	NotificationID string
}

// UnreadNotificationHandler handles UnreadNotification.
type UnreadNotificationHandler struct{ repo repository }

// NewUnreadNotificationHandler builds the handler; now may be nil for the wall clock.
func NewUnreadNotificationHandler(store EventStore, now func() time.Time) UnreadNotificationHandler {
	return UnreadNotificationHandler{repo: newRepository(store, now)}
}

// Handle applies the command.
func (h UnreadNotificationHandler) Handle(ctx context.Context, cmd UnreadNotification) (Result, error) {
	return h.repo.change(ctx, cmd.NotificationID, cmd.Meta, (*notification.Notification).Unread)
}
