package command

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
)

// MaxBulk bounds how many notifications one bulk change may change: a filter matching more
// changes the first MaxBulk (newest first) and says so (BulkResult.More); explicit ids beyond
// it are refused.
const MaxBulk = 1000

// The bulk actions.
const (
	BulkSeen      = "seen"
	BulkRead      = "read"
	BulkUnread    = "unread"
	BulkArchive   = "archive"
	BulkUnarchive = "unarchive"
)

// BulkActions are the actions a bulk change may take.
var BulkActions = []string{BulkSeen, BulkRead, BulkUnread, BulkArchive, BulkUnarchive}

// BulkFilter selects a recipient's notifications from the read model; empty fields do not
// filter. Status is a list status (unread, read, canceled); Before keeps notifications sent
// before that time.
type BulkFilter struct {
	Category string
	Tag      string
	Status   string
	Before   time.Time
	// Action is the bulk action, set by the handler: the selector takes only notifications
	// it would change (unseen ones to see, unread ones to read, read ones to unread, archived
	// ones to unarchive, the others to archive), so a filter matching more than MaxBulk
	// reaches the rest when sent again.
	Action string
}

// BulkSelector finds the notifications of a recipient a filter matches, newest first, at
// most limit of them (from the read model).
type BulkSelector interface {
	SelectIDs(ctx context.Context, recipient string, f BulkFilter, limit int) ([]string, error)
}

// BulkChange applies one action to many notifications of one recipient: those listed in IDs,
// or, with no ids, those Filter matches. Every per-notification command id derives from the
// command's id, the action and the notification, so the same bulk request again (its
// Idempotency-Key) changes nothing it already changed.
type BulkChange struct {
	Meta        Meta
	RecipientID string
	Action      string
	IDs         []string
	Filter      BulkFilter
}

// BulkResult says how many notifications the change matched and changed, whether a filter
// matched more than MaxBulk (call again for the rest), and where the last change landed.
type BulkResult struct {
	Matched  int
	Changed  int
	More     bool
	Position eventstore.Position
}

// BulkChangeHandler handles BulkChange with the single-notification handlers: one event per
// notification that changes, each its own append.
type BulkChangeHandler struct {
	change map[string]func(context.Context, Meta, string) (Result, error)
	sel    BulkSelector
}

// NewBulkChangeHandler builds the handler over the change handlers of each action.
func NewBulkChangeHandler(see SeeNotificationHandler, read ReadNotificationHandler, unread UnreadNotificationHandler,
	archive ArchiveNotificationHandler, unarchive UnarchiveNotificationHandler, sel BulkSelector) BulkChangeHandler {
	if sel == nil {
		panic("command: nil bulk selector")
	}
	return BulkChangeHandler{sel: sel, change: map[string]func(context.Context, Meta, string) (Result, error){
		BulkSeen: func(ctx context.Context, m Meta, id string) (Result, error) {
			return see.Handle(ctx, SeeNotification{Meta: m, NotificationID: id})
		},
		BulkRead: func(ctx context.Context, m Meta, id string) (Result, error) {
			return read.Handle(ctx, ReadNotification{Meta: m, NotificationID: id})
		},
		BulkUnread: func(ctx context.Context, m Meta, id string) (Result, error) {
			return unread.Handle(ctx, UnreadNotification{Meta: m, NotificationID: id})
		},
		BulkArchive: func(ctx context.Context, m Meta, id string) (Result, error) {
			return archive.Handle(ctx, ArchiveNotification{Meta: m, NotificationID: id})
		},
		BulkUnarchive: func(ctx context.Context, m Meta, id string) (Result, error) {
			return unarchive.Handle(ctx, UnarchiveNotification{Meta: m, NotificationID: id})
		},
	}}
}

func invalidBulk(field, rule string) error {
	return &notification.ValidationError{Field: field, Rule: rule}
}

// Handle changes what the ids or the filter name. A notification of another recipient, one
// that does not exist and one the action does not apply to (a canceled one read) is skipped:
// it counts as matched, not changed.
func (h BulkChangeHandler) Handle(ctx context.Context, cmd BulkChange) (BulkResult, error) {
	if err := notification.ValidateRecipient(cmd.RecipientID); err != nil {
		return BulkResult{}, err
	}
	change, ok := h.change[cmd.Action]
	if !ok {
		return BulkResult{}, invalidBulk("action", "must be one of seen, read, unread, archive, unarchive")
	}
	if cmd.Meta.CommandID == "" {
		cmd.Meta.CommandID = uuid.NewString()
	}
	ids := cmd.IDs
	var out BulkResult
	if len(ids) > 0 {
		if len(ids) > MaxBulk {
			return BulkResult{}, invalidBulk("ids", fmt.Sprintf("may list at most %d notifications", MaxBulk))
		}
		norm := make([]string, 0, len(ids))
		for i, id := range ids {
			id, err := notification.ParseID(id)
			if err != nil {
				return BulkResult{}, invalidBulk(fmt.Sprintf("ids[%d]", i), "must be a UUID")
			}
			norm = append(norm, id)
		}
		slices.Sort(norm)
		ids = slices.Compact(norm)
	} else {
		f := cmd.Filter
		f.Action = cmd.Action
		var err error
		if ids, err = h.sel.SelectIDs(ctx, cmd.RecipientID, f, MaxBulk+1); err != nil {
			return BulkResult{}, fmt.Errorf("select notifications of %s: %w", cmd.RecipientID, err)
		}
		if len(ids) > MaxBulk {
			ids, out.More = ids[:MaxBulk], true
		}
	}
	out.Matched = len(ids)
	for _, id := range ids {
		meta := cmd.Meta
		meta.CommandID = cmd.Meta.CommandID + ":" + cmd.Action + ":" + id
		meta.CausationID = cmd.Meta.CommandID
		meta.CorrelationID = orDefault(cmd.Meta.CorrelationID, cmd.Meta.CommandID)
		meta.Recipient = cmd.RecipientID
		res, err := change(ctx, meta, id)
		switch {
		case errors.Is(err, notification.ErrConflict), errors.Is(err, notification.ErrNotFound):
			continue // canceled, gone or not the recipient's: nothing to change
		case err != nil:
			return out, err
		}
		if res.Changed {
			out.Changed++
		}
		out.Position = max(out.Position, res.Position)
	}
	return out, nil
}
