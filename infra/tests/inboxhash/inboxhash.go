// Package inboxhash is test support: the canonical form of an inbox read model, and its hash.
// Two read models that hash equal show every listed recipient the same counts and the same
// documents, byte for byte, in the same order. The replay-equivalence test compares a read
// model with its own replay by it; the compatibility test compares a read model built by this
// code from an old log with the one the old code built.
//
// Only tests import it.
package inboxhash

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"

	"github.com/eventnotify/notify/projections/inbox"
)

// Reader is what the canonical form reads of a read model.
type Reader interface {
	Count(ctx context.Context, recipient string) (inbox.Counts, error)
	Page(ctx context.Context, q inbox.PageQuery) (inbox.Page, error)
}

// Write writes the canonical form of the recipients' inboxes to w: in recipient order (sorted),
// a line "<recipient> <total> <unread> <canceled>", then every document of the recipient's
// inbox, newest first, each on its own line. It returns the counts, and fails if a recipient's
// documents are not as many as its counts say.
func Write(ctx context.Context, w io.Writer, rm Reader, recipients []string) (map[string]inbox.Counts, error) {
	counts := map[string]inbox.Counts{}
	for _, r := range slices.Sorted(slices.Values(recipients)) {
		c, err := rm.Count(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("count of %s: %w", r, err)
		}
		counts[r] = c
		if _, err := fmt.Fprintf(w, "%s %d %d %d\n", r, c.Total, c.Unread, c.Canceled); err != nil {
			return nil, err
		}
		q := inbox.PageQuery{Recipient: r, Limit: 100}
		items := 0
		for {
			p, err := rm.Page(ctx, q)
			if err != nil {
				return nil, fmt.Errorf("page of %s before %d: %w", r, q.Before, err)
			}
			for _, doc := range p.Items {
				if _, err := w.Write(append(doc[:len(doc):len(doc)], '\n')); err != nil {
					return nil, err
				}
			}
			items += len(p.Items)
			if p.Next == 0 {
				break
			}
			q.Before = p.Next
		}
		if items != c.Total {
			return nil, fmt.Errorf("%s: %d documents, counts say %d", r, items, c.Total)
		}
	}
	return counts, nil
}

// Hash is the SHA-256 of the canonical form (Write), in hex, with the counts.
func Hash(ctx context.Context, rm Reader, recipients []string) (string, map[string]inbox.Counts, error) {
	h := sha256.New()
	counts, err := Write(ctx, h, rm, recipients)
	if err != nil {
		return "", nil, err
	}
	return hex.EncodeToString(h.Sum(nil)), counts, nil
}
