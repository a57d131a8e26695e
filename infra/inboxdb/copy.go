package inboxdb

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

// MemoryCopyLimit is how many notifications a replay folds in memory before it writes its
// copy to the file. Folding in memory and writing the result in key order is an order of
// magnitude faster than inserting into the file's B+trees event by event (about 300 bytes a
// notification: 1M notifications take about 300 MB while the copy is built). Past the limit
// the copy is written out and the replay goes on in the file.
const MemoryCopyLimit = 1 << 20

// Fresh creates an empty copy for a replay of the named projection, dropping any copy left
// unfinished; queries go on reading the live copy until the new one is promoted. A copy is
// built in memory (see MemoryCopyLimit) and written to the file when it is promoted; a copy
// that never was is lost with the process, like an unfinished one in the file, which the next
// Open drops.
func (s *Store) Fresh(_ context.Context, name string) (projections.Copy[inbox.Tx], error) {
	c := &Copy{s: s, name: name, mem: newMemCopy()}
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if b := meta.Get(keyBuilding); b != nil {
			if err := dropCopy(tx, b); err != nil {
				return err
			}
		}
		var err error
		if c.bucket, err = newCopy(tx); err != nil {
			return err
		}
		return meta.Put(keyBuilding, c.bucket)
	})
	if err != nil {
		return nil, fmt.Errorf("inboxdb: fresh copy: %w", err)
	}
	return c, nil
}

// Copy is a copy of the read model being rebuilt by a replay.
type Copy struct {
	s      *Store
	name   string // the projection being replayed
	bucket []byte

	mu  sync.Mutex
	mem *memCopy // the copy while it is built in memory; nil once in the file
}

var errCopyGone = errors.New("inboxdb: the copy was dropped (another replay replaced it)")

// Checkpoint returns the position the copy has been built up to.
func (c *Copy) Checkpoint(_ context.Context, name string) (eventstore.Position, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mem != nil {
		return c.mem.checkpoints[name], nil
	}
	var p eventstore.Position
	err := c.s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(c.bucket)
		if b == nil {
			return errCopyGone
		}
		p = decodePosition(b.Bucket(bucketCPs).Get([]byte(name)))
		return nil
	})
	return p, err
}

// Apply runs fn on the copy and moves its checkpoint, all or nothing.
func (c *Copy) Apply(_ context.Context, name string, from, to eventstore.Position, fn func(inbox.Tx) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mem != nil {
		if err := c.mem.apply(name, from, to, fn); err != nil {
			return err
		}
		if len(c.mem.views) < MemoryCopyLimit {
			return nil
		}
		return c.writeOut()
	}
	return c.s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(c.bucket)
		if b == nil {
			return errCopyGone
		}
		return applyTo(b, name, from, to, fn)
	})
}

// Promote writes the copy to the file if it was built in memory, then makes it live and
// deletes the old live copy, in one transaction.
func (c *Copy) Promote(_ context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mem != nil {
		if err := c.writeOut(); err != nil {
			return err
		}
	}
	return c.s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if !bytes.Equal(meta.Get(keyBuilding), c.bucket) {
			return errCopyGone
		}
		old := bytes.Clone(meta.Get(keyLive))
		want := decodePosition(tx.Bucket(old).Bucket(bucketCPs).Get([]byte(c.name)))
		have := decodePosition(tx.Bucket(c.bucket).Bucket(bucketCPs).Get([]byte(c.name)))
		if have < want {
			return fmt.Errorf("inboxdb: %w: copy at %d, live at %d", projections.ErrBehind, have, want)
		}
		if err := meta.Put(keyLive, c.bucket); err != nil {
			return err
		}
		if err := meta.Delete(keyBuilding); err != nil {
			return err
		}
		return tx.DeleteBucket(old)
	})
}

// Drop deletes the copy unless it was promoted.
func (c *Copy) Drop(_ context.Context) error {
	c.mu.Lock()
	c.mem = nil
	c.mu.Unlock()
	return c.s.db.Update(func(tx *bolt.Tx) error {
		if !bytes.Equal(tx.Bucket(bucketMeta).Get(keyBuilding), c.bucket) {
			return nil // promoted, or already replaced
		}
		return dropCopy(tx, c.bucket)
	})
}

// writeOut writes the copy built in memory to its bucket in key order, in transactions of
// writeChunk keys; the checkpoints go last, so a copy is never ahead of what it holds.
func (c *Copy) writeOut() error {
	m := c.mem
	type kv struct{ k, v []byte }
	docs := make([]kv, 0, len(m.views))
	ids := make([]kv, 0, len(m.views))
	for id, v := range m.views {
		doc, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("inboxdb: encode %s: %w", id, err)
		}
		key := docKey(v.RecipientID, v.Seq)
		docs = append(docs, kv{key, doc})
		ids = append(ids, kv{[]byte(id), key})
	}
	totals := make([]kv, 0, len(m.counts))
	for r, n := range m.counts {
		totals = append(totals, kv{[]byte(r), encodeCounts(counts(n))})
	}
	byKey := func(a, b kv) int { return bytes.Compare(a.k, b.k) }
	slices.SortFunc(docs, byKey)
	slices.SortFunc(ids, byKey)
	slices.SortFunc(totals, byKey)
	for _, part := range []struct {
		bucket []byte
		rows   []kv
	}{{bucketDocs, docs}, {bucketByID, ids}, {bucketCounts, totals}} {
		for rows := part.rows; len(rows) > 0; {
			n := min(len(rows), writeChunk)
			chunk := rows[:n]
			rows = rows[n:]
			err := c.s.db.Update(func(tx *bolt.Tx) error {
				cb := tx.Bucket(c.bucket)
				if cb == nil {
					return errCopyGone
				}
				b := cb.Bucket(part.bucket)
				b.FillPercent = 1 // keys arrive in order: fill each page
				for _, r := range chunk {
					if err := b.Put(r.k, r.v); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("inboxdb: write the copy: %w", err)
			}
		}
	}
	err := c.s.db.Update(func(tx *bolt.Tx) error {
		cb := tx.Bucket(c.bucket)
		if cb == nil {
			return errCopyGone
		}
		names := slices.SortedFunc(func(yield func(string) bool) {
			for n := range m.checkpoints {
				if !yield(n) {
					return
				}
			}
		}, cmp.Compare)
		for _, n := range names {
			if err := cb.Bucket(bucketCPs).Put([]byte(n), binary.BigEndian.AppendUint64(nil, uint64(m.checkpoints[n]))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("inboxdb: write the copy's checkpoints: %w", err)
	}
	c.mem = nil
	return nil
}

// writeChunk is how many keys one transaction of writeOut puts.
const writeChunk = 100_000

// memCopy is a copy being built in memory: each notification's view and each recipient's
// counts.
type memCopy struct {
	views       map[string]inbox.View
	counts      map[string]inbox.Counts
	checkpoints map[string]eventstore.Position
}

func newMemCopy() *memCopy {
	return &memCopy{views: map[string]inbox.View{}, counts: map[string]inbox.Counts{}, checkpoints: map[string]eventstore.Position{}}
}

// apply runs fn against an overlay of the copy and merges it only if fn succeeds.
func (m *memCopy) apply(name string, from, to eventstore.Position, fn func(inbox.Tx) error) error {
	if at := m.checkpoints[name]; at != from {
		return fmt.Errorf("inboxdb: %w: %s is at %d, not %d", projections.ErrMoved, name, at, from)
	}
	t := &memTxn{base: m.views, put: map[string]inbox.View{}}
	if err := fn(t); err != nil {
		return err
	}
	for id, v := range t.put {
		c := counts(m.counts[v.RecipientID])
		if old, ok := m.views[id]; ok {
			c.add(old.Status, -1)
		}
		c.add(v.Status, 1)
		m.counts[v.RecipientID] = inbox.Counts(c)
		m.views[id] = v
	}
	m.checkpoints[name] = to
	return nil
}

// memTxn is the inbox projection's view of a memCopy: reads see the transaction's own puts.
type memTxn struct {
	base, put map[string]inbox.View
}

func (t *memTxn) Get(id string) (inbox.View, bool, error) {
	if v, ok := t.put[id]; ok {
		return v, true, nil
	}
	v, ok := t.base[id]
	return v, ok, nil
}

func (t *memTxn) Put(v inbox.View) error {
	if old, ok, _ := t.Get(v.ID); ok && (old.RecipientID != v.RecipientID || old.Seq != v.Seq) {
		return fmt.Errorf("inboxdb: notification %s cannot move between recipients or positions", v.ID)
	}
	t.put[v.ID] = v
	return nil
}
