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
	Page(ctx context.Context, q inbox.PageQuery) (inbox.Page, error)
	// UnreadIDs returns the ids of up to limit of the recipient's unread notifications,
	// newest first.
	UnreadIDs(ctx context.Context, recipient string, limit int) ([]string, error)
}

// Page sizes of the /v1 inbox.
const (
	DefaultPage = 20
	MaxPage     = 100
)

// Inbox answers inbox queries.
type Inbox struct{ rm ReadModel }

// NewInbox builds the query side over a read model.
func NewInbox(rm ReadModel) Inbox {
	if rm == nil {
		panic("query: nil read model")
	}
	return Inbox{rm: rm}
}

// List returns the recipient's newest notifications (at most MaxList), every one (archived
// too: the seed API has no archive), in the seed service's shape (inbox.SeedJSON: the
// published JSON without the fields issue #13 added), which the seed routes serve unchanged.
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
	for i, d := range docs {
		docs[i] = inbox.SeedJSON(d)
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

// Page returns a page of the recipient's inbox; a zero limit means DefaultPage. The filters
// are pq's: status, category, archive (by default archived notifications are left out) and
// tag (a tag as notifications carry them: ValidTag). Counts ignore every filter.
func (q Inbox) Page(ctx context.Context, pq inbox.PageQuery) (inbox.Page, error) {
	if err := notification.ValidateRecipient(pq.Recipient); err != nil {
		return inbox.Page{}, err
	}
	if pq.Tag != "" && !notification.ValidTag(pq.Tag) {
		return inbox.Page{}, &notification.ValidationError{Field: "tag", Rule: fmt.Sprintf("must be a tag: 1 to %d characters of a-z, 0-9, _ and -, the first a letter or digit", notification.MaxTag)}
	}
	if pq.Archived > inbox.ArchivedAll {
		return inbox.Page{}, &notification.ValidationError{Field: "archived", Rule: "must be true, false or all"}
	}
	switch {
	case pq.Limit == 0:
		pq.Limit = DefaultPage
	case pq.Limit < 0 || pq.Limit > MaxPage:
		return inbox.Page{}, &notification.ValidationError{Field: "limit", Rule: fmt.Sprintf("must be 1 to %d", MaxPage)}
	}
	page, err := q.rm.Page(ctx, pq)
	if err != nil {
		return page, fmt.Errorf("inbox page of %s: %w", pq.Recipient, err)
	}
	return page, nil
}

// ParseArchived reads an archive filter as /v1 takes it (?archived=): "" and "false" leave
// archived notifications out (the default), "true" keeps only them, "all" keeps both.
// Anything else is a validation error of the field archived.
func ParseArchived(s string) (inbox.Archived, error) {
	switch s {
	case "", "false":
		return inbox.ArchivedHidden, nil
	case "true":
		return inbox.ArchivedOnly, nil
	case "all":
		return inbox.ArchivedAll, nil
	}
	return inbox.ArchivedHidden, &notification.ValidationError{Field: "archived", Rule: "must be true, false (the default) or all"}
}

// MaxReadAll caps how many notifications one read-all marks read.
const MaxReadAll = 10000

// UnreadIDs lists the recipient's unread notifications, newest first, at most MaxReadAll.
func (q Inbox) UnreadIDs(ctx context.Context, recipient string) ([]string, error) {
	if err := notification.ValidateRecipient(recipient); err != nil {
		return nil, err
	}
	ids, err := q.rm.UnreadIDs(ctx, recipient, MaxReadAll)
	if err != nil {
		return ids, fmt.Errorf("unread of %s: %w", recipient, err)
	}
	return ids, nil
}
