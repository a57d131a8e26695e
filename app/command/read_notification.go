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

// ReadNotificationHandler handles ReadNotification.
type ReadNotificationHandler struct{ repo repository }

// NewReadNotificationHandler builds the handler; now may be nil for the wall clock.
func NewReadNotificationHandler(store EventStore, now func() time.Time) ReadNotificationHandler {
	return ReadNotificationHandler{repo: newRepository(store, now)}
}

// Handle applies the command.
func (h ReadNotificationHandler) Handle(ctx context.Context, cmd ReadNotification) (Result, error) {
	return h.repo.change(ctx, cmd.NotificationID, cmd.Meta, (*notification.Notification).Read)
}
