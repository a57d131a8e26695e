package command

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/domain/notification"
)

// SendNotification asks to notify a recipient. NotificationID may be empty: the id is then
// derived from the command id, so a redelivered send lands on the same stream.
type SendNotification struct {
	Meta           Meta
	NotificationID string
	RecipientID    string
	Content        string
	Category       string
	// Rich holds the optional title, data, action URL, actions and tags (seed-shaped sends
	// have none).
	Rich notification.Rich
}

// SendNotificationHandler handles SendNotification.
type SendNotificationHandler struct{ repo repository }

// NewSendNotificationHandler builds the handler; now may be nil for the wall clock.
func NewSendNotificationHandler(store EventStore, now func() time.Time) SendNotificationHandler {
	return SendNotificationHandler{repo: newRepository(store, now)}
}

// Handle sends the notification, or succeeds without change on a redelivery.
func (h SendNotificationHandler) Handle(ctx context.Context, cmd SendNotification) (Result, error) {
	args, err := notification.SendArgs{RecipientID: cmd.RecipientID, Content: cmd.Content, Category: cmd.Category, Rich: cmd.Rich}.Validate()
	if err != nil {
		return Result{}, err
	}
	if cmd.Meta.CommandID == "" {
		cmd.Meta.CommandID = uuid.NewString()
	}
	id, derived := cmd.NotificationID, cmd.NotificationID == ""
	if derived {
		id = uuid.NewSHA1(Namespace, []byte(cmd.Meta.CommandID)).String()
	} else if id, err = notification.ParseID(id); err != nil {
		return Result{}, err
	}
	// No command-id dedupe here: the domain compares a redelivered send with the original and
	// tells an identical redelivery (success) from a reused id with other content (conflict).
	res, err := h.repo.update(ctx, id, cmd.Meta, func(n *notification.Notification, now time.Time) ([]notification.Event, error) {
		return n.Send(args, now)
	}, false)
	if derived && errors.Is(err, notification.ErrConflict) {
		return res, fmt.Errorf("%w: command id %q was already used to send different content (notification %s)", notification.ErrConflict, cmd.Meta.CommandID, id)
	}
	return res, err
}
