package command

import (
	"context"
	"time"

	"github.com/eventnotify/notify/domain/notification"
)

// CancelNotification withdraws a notification for good; canceling twice changes nothing.
type CancelNotification struct {
	Meta           Meta
	NotificationID string
}

// CancelNotificationHandler handles CancelNotification.
type CancelNotificationHandler struct{ repo repository }

// NewCancelNotificationHandler builds the handler; now may be nil for the wall clock.
func NewCancelNotificationHandler(store EventStore, now func() time.Time) CancelNotificationHandler {
	return CancelNotificationHandler{repo: newRepository(store, now)}
}

// Handle applies the command.
func (h CancelNotificationHandler) Handle(ctx context.Context, cmd CancelNotification) (Result, error) {
	return h.repo.change(ctx, cmd.NotificationID, cmd.Meta, (*notification.Notification).Cancel)
}
