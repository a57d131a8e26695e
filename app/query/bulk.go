package query

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/projections/inbox"
)

// SelectIDs finds the notifications of recipient that a bulk change's filter matches and
// its action would change, newest first, at most limit (command.BulkSelector): the inbox
// pages with the filter's status, category, tag and the action's archive state, and the
// sent-before time and (to see) the seen state checked on each. Taking only what the action
// changes is what lets a filter that matched more than the limit reach the rest next time.
func (q Inbox) SelectIDs(ctx context.Context, recipient string, f command.BulkFilter, limit int) ([]string, error) {
	pq := inbox.PageQuery{Recipient: recipient, Category: f.Category, Tag: f.Tag, Limit: MaxPage}
	switch f.Status {
	case "":
	case "unread", "sent":
		pq.Status = inbox.StatusSent
	case "read":
		pq.Status = inbox.StatusRead
	case "canceled":
		pq.Status = inbox.StatusCanceled
	default:
		return nil, fmt.Errorf("bulk filter: unknown status %q", f.Status)
	}
	// What the action changes narrows the status: reading takes unread ones, unreading read
	// ones (none if the filter asked for another status); seeing skips seen and canceled ones.
	var want inbox.Status
	switch f.Action {
	case command.BulkRead:
		want = inbox.StatusSent
	case command.BulkUnread:
		want = inbox.StatusRead
	}
	if want != "" {
		if pq.Status != "" && pq.Status != want {
			return nil, nil
		}
		pq.Status = want
	}
	if f.Action == command.BulkUnarchive {
		pq.Archived = inbox.ArchivedOnly
	}
	var ids []string
	for len(ids) < limit {
		page, err := q.Page(ctx, pq)
		if err != nil {
			return ids, err
		}
		for _, item := range page.Items {
			var v struct {
				ID        string       `json:"id"`
				Status    inbox.Status `json:"status"`
				CreatedAt time.Time    `json:"createdAt"`
				SeenAt    *time.Time   `json:"seenAt"`
			}
			if err := json.Unmarshal(item, &v); err != nil {
				return ids, fmt.Errorf("bulk filter: an inbox item does not decode: %w", err)
			}
			if !f.Before.IsZero() && !v.CreatedAt.Before(f.Before) {
				continue
			}
			if f.Action == command.BulkSeen && (v.SeenAt != nil || v.Status == inbox.StatusCanceled) {
				continue
			}
			if ids = append(ids, v.ID); len(ids) == limit {
				break
			}
		}
		if page.Next == 0 {
			break
		}
		pq.Before = page.Next
	}
	return ids, nil
}
