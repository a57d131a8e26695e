package command

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
)

// UnreadLister finds a recipient's unread notifications (from the read model).
type UnreadLister interface {
	UnreadIDs(ctx context.Context, recipient string) ([]string, error)
}

// ReadAllNotifications marks every unread notification of a recipient read.
type ReadAllNotifications struct {
	Meta        Meta
	RecipientID string
}

// ReadAllResult says how many notifications the command changed and where the last change
// landed in the log.
type ReadAllResult struct {
	Read     int
	Position eventstore.Position
}

// ReadAllNotificationsHandler handles ReadAllNotifications: one NotificationRead per unread
// notification, each its own append. Every per-notification command id derives from the
// command's, so a retried read-all changes nothing it already changed.
type ReadAllNotificationsHandler struct {
	read   ReadNotificationHandler
	unread UnreadLister
}

// NewReadAllNotificationsHandler builds the handler.
func NewReadAllNotificationsHandler(read ReadNotificationHandler, unread UnreadLister) ReadAllNotificationsHandler {
	if unread == nil {
		panic("command: nil unread lister")
	}
	return ReadAllNotificationsHandler{read: read, unread: unread}
}

// Handle reads what the read model lists as unread. A notification canceled or already read
// meanwhile is skipped; one created after the listing is left for the next read-all.
func (h ReadAllNotificationsHandler) Handle(ctx context.Context, cmd ReadAllNotifications) (ReadAllResult, error) {
	if err := notification.ValidateRecipient(cmd.RecipientID); err != nil {
		return ReadAllResult{}, err
	}
	if cmd.Meta.CommandID == "" {
		cmd.Meta.CommandID = uuid.NewString()
	}
	ids, err := h.unread.UnreadIDs(ctx, cmd.RecipientID)
	if err != nil {
		return ReadAllResult{}, fmt.Errorf("list unread of %s: %w", cmd.RecipientID, err)
	}
	var out ReadAllResult
	for _, id := range ids {
		meta := cmd.Meta
		meta.CommandID = cmd.Meta.CommandID + ":" + id
		meta.CausationID = cmd.Meta.CommandID
		meta.CorrelationID = orDefault(cmd.Meta.CorrelationID, cmd.Meta.CommandID)
		meta.Recipient = cmd.RecipientID
		res, err := h.read.Handle(ctx, ReadNotification{Meta: meta, NotificationID: id})
		switch {
		case errors.Is(err, notification.ErrConflict), errors.Is(err, notification.ErrNotFound):
			continue // canceled meanwhile, or not the recipient's
		case err != nil:
			return out, err
		}
		if res.Changed {
			out.Read++
		}
		out.Position = max(out.Position, res.Position)
	}
	return out, nil
}
