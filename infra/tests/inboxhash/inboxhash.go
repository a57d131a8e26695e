// Package inboxhash is test support: the canonical form of an inbox read model, and its hash.
// Two read models that hash equal show every listed recipient the same counts and the same
// documents, byte for byte, in the same order. The replay-equivalence test compares a read
// model with its own replay by it; the compatibility test compares a read model built by this
// code from an old log with the one the old code built (in the old form: WriteV1).
//
// Only tests import it.
package inboxhash

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
// a line "<recipient> <total> <unread> <unseen> <canceled>", then every document of the
// recipient's inbox (archived ones too), newest first, each on its own line, as the read model
// serves it. It returns the counts, and fails unless a recipient's counts are those of its
// documents (inbox.Counts.Add over each document's standing): counts kept step by step must
// agree with where the steps ended.
func Write(ctx context.Context, w io.Writer, rm Reader, recipients []string) (map[string]inbox.Counts, error) {
	return write(ctx, w, rm, recipients, func(c inbox.Counts) string {
		return fmt.Sprintf("%d %d %d %d", c.Total, c.Unread, c.Unseen, c.Canceled)
	}, func(doc []byte) []byte { return doc })
}

// WriteV1 writes the canonical form as the code before issue #13 wrote it (the form of
// infra/tests/compat/testdata/v1): a line "<recipient> <total> <unread> <canceled>", then
// every document in the seed's shape (inbox.SeedJSON: the fields before #13, as they were).
// It checks the counts as Write does.
func WriteV1(ctx context.Context, w io.Writer, rm Reader, recipients []string) (map[string]inbox.Counts, error) {
	return write(ctx, w, rm, recipients, func(c inbox.Counts) string {
		return fmt.Sprintf("%d %d %d", c.Total, c.Unread, c.Canceled)
	}, inbox.SeedJSON)
}

func write(ctx context.Context, w io.Writer, rm Reader, recipients []string, countsLine func(inbox.Counts) string, shape func([]byte) []byte) (map[string]inbox.Counts, error) {
	counts := map[string]inbox.Counts{}
	for _, r := range slices.Sorted(slices.Values(recipients)) {
		c, err := rm.Count(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("count of %s: %w", r, err)
		}
		counts[r] = c
		if _, err := fmt.Fprintf(w, "%s %s\n", r, countsLine(c)); err != nil {
			return nil, err
		}
		q := inbox.PageQuery{Recipient: r, Limit: 100, Archived: inbox.ArchivedAll}
		var of inbox.Counts // what the documents count
		for {
			p, err := rm.Page(ctx, q)
			if err != nil {
				return nil, fmt.Errorf("page of %s before %d: %w", r, q.Before, err)
			}
			for _, doc := range p.Items {
				var v inbox.View
				if err := json.Unmarshal(doc, &v); err != nil {
					return nil, fmt.Errorf("%s: a document does not decode: %s: %w", r, doc, err)
				}
				of.Add(inbox.StandingOf(v), 1)
				out := shape(doc)
				if _, err := w.Write(append(out[:len(out):len(out)], '\n')); err != nil {
					return nil, err
				}
			}
			if p.Next == 0 {
				break
			}
			q.Before = p.Next
		}
		if of != c {
			return nil, fmt.Errorf("%s: counts %+v, its documents count %+v", r, c, of)
		}
	}
	return counts, nil
}

// Hash is the SHA-256 of the canonical form (Write), in hex, with the counts.
func Hash(ctx context.Context, rm Reader, recipients []string) (string, map[string]inbox.Counts, error) {
	return hash(ctx, rm, recipients, Write)
}

// HashV1 is the SHA-256 of the canonical form before issue #13 (WriteV1), in hex, with the
// counts.
func HashV1(ctx context.Context, rm Reader, recipients []string) (string, map[string]inbox.Counts, error) {
	return hash(ctx, rm, recipients, WriteV1)
}

func hash(ctx context.Context, rm Reader, recipients []string, write func(context.Context, io.Writer, Reader, []string) (map[string]inbox.Counts, error)) (string, map[string]inbox.Counts, error) {
	h := sha256.New()
	counts, err := write(ctx, h, rm, recipients)
	if err != nil {
		return "", nil, err
	}
	return hex.EncodeToString(h.Sum(nil)), counts, nil
}
