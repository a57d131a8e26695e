package eventlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/eventnotify/notify/app/eventstore"
)

type appendReq struct {
	stream   string
	expected eventstore.ExpectedRevision
	events   []eventstore.EventData
	res      eventstore.AppendResult
	err      error
	done     chan struct{}
}

// Append writes events to the end of stream if expected holds, durably, and returns where the
// last one landed. Re-appending the same event ids at the same place returns the original
// result and writes nothing (idempotent, as EventStoreDB does).
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := validateAppend(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	if broken := s.broken.Load(); broken != nil {
		return eventstore.AppendResult{}, fmt.Errorf("eventlog: stopped taking appends after an index failure (restart to rebuild it): %w", *broken)
	}
	r := &appendReq{stream: stream, expected: expected, events: events, done: make(chan struct{})}
	if err := s.enqueue(ctx, r); err != nil {
		return eventstore.AppendResult{}, err
	}
	select {
	case <-r.done:
		return r.res, r.err
	case <-ctx.Done():
		// The append may still commit; the caller's retry is made safe by the event ids.
		return eventstore.AppendResult{}, ctx.Err()
	}
}

// enqueue hands r to the writer. The read lock keeps Close from draining the queue while a
// send is in flight, so every queued append is either committed or failed, never stranded.
func (s *Store) enqueue(ctx context.Context, r *appendReq) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	select {
	case s.appends <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func validateAppend(stream string, events []eventstore.EventData) error {
	if stream == "" || len(stream) > MaxStreamName || bytes.IndexByte([]byte(stream), 0) >= 0 {
		return fmt.Errorf("%w: stream name must be 1 to %d bytes without NUL", eventstore.ErrInvalidAppend, MaxStreamName)
	}
	if len(events) == 0 {
		return fmt.Errorf("%w: no events", eventstore.ErrInvalidAppend)
	}
	total := 0
	for i, e := range events {
		size := len(e.Type) + len(e.Data) + len(e.Metadata)
		if e.Type == "" || size > MaxEventSize {
			return fmt.Errorf("%w: event %d needs a type and at most %d bytes", eventstore.ErrInvalidAppend, i, MaxEventSize)
		}
		total += size
	}
	if total > maxBatchBytes {
		return fmt.Errorf("%w: append of %d bytes exceeds %d", eventstore.ErrInvalidAppend, total, maxBatchBytes)
	}
	return nil
}

// writer is the single goroutine that commits: it takes every append waiting and commits them
// in one transaction (group commit), so one fsync serves many appends.
func (s *Store) writer() {
	defer s.writerWG.Done()
	group := make([]*appendReq, 0, s.opts.MaxGroup)
	for {
		group = group[:0]
		select {
		case r := <-s.appends:
			group = append(group, r)
		case <-s.closing:
			s.failPending()
			return
		}
	fill:
		for len(group) < s.opts.MaxGroup {
			select {
			case r := <-s.appends:
				group = append(group, r)
			default:
				break fill
			}
		}
		s.commit(group)
	}
}

func (s *Store) failPending() {
	for {
		select {
		case r := <-s.appends:
			r.err = ErrClosed
			close(r.done)
		default:
			return
		}
	}
}

func (s *Store) commit(group []*appendReq) {
	head := s.head.Load()
	now := time.Now().UTC()
	w := txWriter{ix: s.ix, pending: map[string]tail{}, written: s.written[:0]}
	err := s.db.Update(func(tx *bolt.Tx) error {
		w.log = tx.Bucket(bucketLog)
		w.log.FillPercent = 1 // append-only keys: pack pages full
		for _, r := range group {
			r.res, r.err = w.apply(r, &head, now)
			if r.err != nil && !errors.Is(r.err, eventstore.ErrWrongExpectedRevision) {
				return r.err // storage failure: the whole group rolls back
			}
		}
		return nil
	})
	if err == nil {
		if err = s.publish(w.pending); err != nil { // before any ack: an acked append is readable
			// Committed but not indexed: appending on would trust stale stream ends. Stop
			// taking appends; a restart rebuilds the index from the log.
			s.broken.Store(&err)
			head, _ = s.readHead()
			s.head.Store(head)
		}
	}
	if err != nil {
		for _, r := range group {
			if r.err == nil || r.err == err {
				r.err = fmt.Errorf("eventlog commit: %w", err)
			}
			close(r.done)
		}
		return
	}
	s.keepTail(w.written)
	s.written = w.written[:0]
	s.head.Store(head)
	for _, r := range group {
		close(r.done)
	}
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *Store) readHead() (uint64, error) {
	var head uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketLog).Cursor().Last(); k != nil {
			head = be64(k)
		}
		return nil
	})
	return head, err
}

// publish moves the tails a commit wrote into the index.
func (s *Store) publish(pending map[string]tail) error {
	return s.db.View(func(tx *bolt.Tx) error {
		log := tx.Bucket(bucketLog)
		s.ix.mu.Lock()
		defer s.ix.mu.Unlock()
		for stream, t := range pending {
			if err := s.ix.set(log, stream, t); err != nil {
				return err
			}
		}
		return nil
	})
}

// txWriter applies appends inside one commit. pending holds the tails written by this commit,
// which the index learns only once it is durable.
type txWriter struct {
	log     *bolt.Bucket
	ix      *index
	pending map[string]tail
	written []eventstore.RecordedEvent // what the commit appends, for the tail
}

// tailOf finds a stream's tail as this commit sees it. The writer is the index's only
// mutator, so it may read it without the lock.
func (w *txWriter) tailOf(stream string) (tail, bool, error) {
	if t, ok := w.pending[stream]; ok {
		return t, true, nil
	}
	return w.ix.lookup(w.log, stream)
}

func (w *txWriter) apply(r *appendReq, head *uint64, now time.Time) (eventstore.AppendResult, error) {
	t, exists, err := w.tailOf(r.stream)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	if res, ok, err := w.idempotent(r, t, exists); ok || err != nil {
		return res, err
	}
	if !r.expected.Allows(t.rev, exists) {
		return eventstore.AppendResult{}, &eventstore.WrongExpectedRevisionError{Stream: r.stream, Expected: r.expected, Actual: t.rev, ActualExists: exists}
	}
	rev, prev := uint64(0), uint64(0)
	if exists {
		rev, prev = t.rev+1, t.pos
	}
	for _, e := range r.events {
		*head++
		// bbolt keeps the slices until commit: every record gets its own buffer.
		rec, data, meta := appendRecord(make([]byte, 0, 80+len(r.stream)+len(e.Type)+len(e.Data)+len(e.Metadata)), r.stream, rev, prev, e, now)
		if err := w.log.Put(u64(*head), rec); err != nil {
			return eventstore.AppendResult{}, err
		}
		// The tail's data aliases the record, which nothing changes once it is committed.
		w.written = append(w.written, eventstore.RecordedEvent{
			Stream: r.stream, Revision: rev, Position: eventstore.Position(*head), ID: e.ID, Type: e.Type,
			Data: data, Metadata: meta, Created: now,
		})
		prev = *head
		rev++
	}
	w.pending[r.stream] = tail{pos: *head, rev: rev - 1}
	return eventstore.AppendResult{NextRevision: rev - 1, Position: eventstore.Position(*head)}, nil
}

// anyWindow is how far back from a stream's end a re-append is recognised. EventStoreDB too
// checks the idempotency of ExpectedRevision Any only best effort.
const anyWindow = 1024

// entry locates one event of a stream.
type entry struct {
	rev, pos uint64
	id       []byte
}

// lastEntries returns up to n of the stream's last events, oldest first, following the chain.
func (w *txWriter) lastEntries(t tail, n uint64) ([]entry, error) {
	out := make([]entry, 0, min(n, t.rev+1))
	pos := t.pos
	for uint64(len(out)) < n {
		h, err := readHeader(w.log.Get(u64(pos)))
		if err != nil {
			return nil, fmt.Errorf("follow stream chain at %d: %w", pos, err)
		}
		out = append(out, entry{rev: h.rev, pos: pos, id: h.id})
		if h.rev == 0 {
			break
		}
		pos = h.prev
	}
	slices.Reverse(out)
	return out, nil
}

// idempotent recognises a re-append of events already written, following EventStoreDB: with
// an exact or no-stream expectation the events at the expected place must carry the same ids;
// with any/exists the first id is searched near the stream's end and the rest must follow it.
// A partial match is a wrong expected revision (EventStoreDB's "corrupted idempotency").
func (w *txWriter) idempotent(r *appendReq, t tail, exists bool) (eventstore.AppendResult, bool, error) {
	if !exists {
		return eventstore.AppendResult{}, false, nil
	}
	first := uint64(0)
	rev, exact := r.expected.Revision()
	switch {
	case exact:
		first = rev + 1
	case r.expected.IsNoStream():
	default:
		first = t.rev + 1 // found below
	}
	if exact || r.expected.IsNoStream() {
		if t.rev < first || t.rev-first >= anyWindow {
			return eventstore.AppendResult{}, false, nil // nothing there yet, or too far back to tell
		}
	}
	window, err := w.lastEntries(t, anyWindow)
	if err != nil {
		return eventstore.AppendResult{}, false, err
	}
	if !exact && !r.expected.IsNoStream() {
		for _, e := range window {
			if bytes.Equal(e.id, r.events[0].ID[:]) {
				first = e.rev
				break
			}
		}
		if first > t.rev {
			return eventstore.AppendResult{}, false, nil
		}
	}
	base := window[0].rev
	var res eventstore.AppendResult
	for i, ev := range r.events {
		at := first + uint64(i)
		if at > t.rev || !bytes.Equal(window[at-base].id, ev.ID[:]) {
			if i == 0 {
				return res, false, nil // other events there: the expectation decides
			}
			return res, false, &eventstore.WrongExpectedRevisionError{Stream: r.stream, Expected: r.expected, Actual: t.rev, ActualExists: true}
		}
		res = eventstore.AppendResult{NextRevision: at, Position: eventstore.Position(window[at-base].pos)}
	}
	return res, true, nil
}
