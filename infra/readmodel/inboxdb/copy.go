package inboxdb

// Copy lifecycle: a replay's fresh copy, its batches, its promotion and its drop.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/infra/platform/boltfile"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

// MemoryCopyLimit is how many notifications a replay folds in memory before it writes its
// copy to the file. Folding in memory and writing the result in key order is an order of
// magnitude faster than inserting into the file's B+trees event by event (a notification
// takes about 100 bytes and its content while the copy is built, and about 500 bytes more
// while it is written out). Past the limit the copy is written out and the replay goes on
// in the file.
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

// errNotCanonical stops a batch in a copy built in memory: it touches a notification id that
// is not a canonical UUID, so the copy is written out and goes on in the file.
var errNotCanonical = errors.New("inboxdb: a notification id that is not a canonical UUID")

var errCopyGone = fmt.Errorf("inboxdb: the copy was dropped (another replay replaced it): %w", projections.ErrCopyGone)

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
		err := c.s.db.View(func(tx *bolt.Tx) error {
			if !bytes.Equal(tx.Bucket(bucketMeta).Get(keyBuilding), c.bucket) {
				return errCopyGone // replaced by a newer Fresh, or dropped
			}
			return nil
		})
		if err != nil {
			return err
		}
		applied := c.mem.apply(name, from, to, fn)
		switch {
		case applied == nil && c.mem.len() < MemoryCopyLimit:
			return nil
		case applied != nil && !errors.Is(applied, errNotCanonical):
			return applied
		}
		// Past the memory limit, or a batch the memory layout cannot hold (it merged
		// nothing): write the copy out; the batch then goes to the file if it is still due.
		if err := c.writeOut(); err != nil {
			return err
		}
		if applied == nil {
			return nil
		}
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
	err := c.s.checked(boltfile.Guard(c.s.path, func() error {
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
	}))
	if err == nil {
		c.s.repaired() // whatever was damaged was in the old copy
	}
	return err
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
