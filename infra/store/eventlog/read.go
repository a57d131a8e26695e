package eventlog

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/infra/platform/boltfile"
)

// ReadStream returns up to limit events of stream from revision from, oldest first. A missing
// stream reads as no events. It walks the stream's chain back from its end, so its cost grows
// with the stream's length after from.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t, _, ok := s.ix.snapshot(stream) // before the read transaction: it must see t.pos
	if !ok || t.rev < from {
		return nil, nil
	}
	var out []eventstore.RecordedEvent
	err := boltfile.Guard(s.db.Path(), func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			log := tx.Bucket(bucketLog)
			pos := t.pos
			for {
				rec := log.Get(u64(pos))
				body, err := checked(pos, s.crcFrom, rec)
				var e eventstore.RecordedEvent
				if err == nil {
					e, err = decodeRecord(pos, body)
				}
				if err != nil {
					return corruptError(pos, rec, err)
				}
				if e.Stream != stream {
					return nil // the hash slot belongs to another stream: this one has no events
				}
				out = append(out, e)
				h, _ := readHeader(rec)
				if e.Revision == from || e.Revision == 0 {
					break
				}
				pos = h.prev
			}
			slices.Reverse(out)
			if limit > 0 && len(out) > limit {
				out = out[:limit]
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, err)
	}
	return out, nil
}

// Subscribe delivers the events after position from that match filter, catch-up first and
// then live, in batches to handle, until ctx ends, handle fails or the store closes.
func (s *Store) Subscribe(ctx context.Context, from eventstore.Position, filter eventstore.Filter, handle func(context.Context, eventstore.Batch) error) error {
	pos := from
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		if s.Head() > pos {
			b, err := s.readAll(pos, filter)
			if err != nil {
				return err
			}
			if len(b.Events) > 0 || b.Position > pos {
				if err := handle(ctx, b); err != nil {
					return err
				}
				pos = b.Position
				continue
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closing:
			return ErrClosed
		}
	}
}

// tailSize is how many of the latest events the tail keeps (it holds up to twice as many).
func (s *Store) tailSize() int { return 4 * s.opts.ReadBatch }

// keepTail adds a commit's events to the tail, dropping the oldest beyond its size.
func (s *Store) keepTail(written []eventstore.RecordedEvent) {
	s.tailMu.Lock()
	defer s.tailMu.Unlock()
	if len(s.tail)+len(written) > 2*s.tailSize() {
		drop := min(len(s.tail), len(s.tail)+len(written)-s.tailSize())
		n := copy(s.tail, s.tail[drop:])
		clear(s.tail[n:])
		s.tail = s.tail[:n]
		s.tailFirst += uint64(drop)
	}
	s.tail = append(s.tail, written...)
}

// readTail reads the events after from as readAll does, from the tail; ok is false when the
// tail no longer holds the event after from.
func (s *Store) readTail(from eventstore.Position, prefix string) (b eventstore.Batch, ok bool) {
	s.tailMu.RLock()
	defer s.tailMu.RUnlock()
	if uint64(from)+1 < s.tailFirst {
		return b, false
	}
	b.Position = from
	scanned := 0
	for i := int(uint64(from) + 1 - s.tailFirst); i < len(s.tail); i++ {
		if len(b.Events) >= s.opts.ReadBatch || scanned >= 16*s.opts.ReadBatch {
			break
		}
		scanned++
		e := s.tail[i]
		b.Position = e.Position
		if strings.HasPrefix(e.Stream, prefix) {
			b.Events = append(b.Events, e)
		}
	}
	return b, true
}

// readAll scans the log after from, keeping up to ReadBatch matching events.
func (s *Store) readAll(from eventstore.Position, filter eventstore.Filter) (eventstore.Batch, error) {
	if b, ok := s.readTail(from, filter.StreamPrefix); ok {
		return b, nil
	}
	b := eventstore.Batch{Position: from}
	prefix := []byte(filter.StreamPrefix)
	err := boltfile.Guard(s.db.Path(), func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketLog).Cursor()
			scanned := 0
			for k, v := c.Seek(u64(uint64(from) + 1)); k != nil; k, v = c.Next() {
				if len(b.Events) >= s.opts.ReadBatch || scanned >= 16*s.opts.ReadBatch {
					break
				}
				scanned++
				pos := be64(k)
				b.Position = eventstore.Position(pos)
				body, err := checked(pos, s.crcFrom, v)
				if err == nil && len(prefix) > 0 {
					name, serr := streamOf(body)
					if serr == nil && !bytes.HasPrefix(name, prefix) {
						continue
					}
					err = serr
				}
				var e eventstore.RecordedEvent
				if err == nil {
					e, err = decodeRecord(pos, body)
				}
				if err != nil {
					// A damaged record cannot say for sure whose it is: every subscriber hears of it.
					b.Corrupt = append(b.Corrupt, corruptError(pos, v, err))
					continue
				}
				b.Events = append(b.Events, e)
			}
			return nil
		})
	})
	if err != nil {
		return b, fmt.Errorf("read log after %d: %w", from, err)
	}
	return b, nil
}
