// Package query answers inbox questions from the read model: a recipient's notifications and
// counts. It checks the recipient id and caps page sizes; the read model does the rest.
package query

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/projections/inbox"
)

// MaxList caps how many notifications one list answer carries.
const MaxList = 1000

// ReadModel is what the queries need of the inbox read model.
type ReadModel interface {
	List(ctx context.Context, recipient string, limit int) ([]json.RawMessage, error)
	Count(ctx context.Context, recipient string) (inbox.Counts, error)
}

// Inbox answers inbox queries.
type Inbox struct{ rm ReadModel }

// NewInbox builds the query side over a read model.
func NewInbox(rm ReadModel) Inbox {
	if rm == nil {
		panic("query: nil read model")
	}
	return Inbox{rm: rm}
}

// List returns the recipient's newest notifications (at most MaxList) as published JSON.
func (q Inbox) List(ctx context.Context, recipient string, limit int) ([]json.RawMessage, error) {
	if err := notification.ValidateRecipient(recipient); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > MaxList {
		limit = MaxList
	}
	docs, err := q.rm.List(ctx, recipient, limit)
	if err != nil {
		return nil, fmt.Errorf("list inbox of %s: %w", recipient, err)
	}
	return docs, nil
}

// Count returns the recipient's counts.
func (q Inbox) Count(ctx context.Context, recipient string) (inbox.Counts, error) {
	if err := notification.ValidateRecipient(recipient); err != nil {
		return inbox.Counts{}, err
	}
	c, err := q.rm.Count(ctx, recipient)
	if err != nil {
		return c, fmt.Errorf("count inbox of %s: %w", recipient, err)
	}
	return c, nil
}
