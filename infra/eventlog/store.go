// Package eventlog is the embedded event store: one bbolt file holding the global log and a
// per-stream index. Appends from many goroutines are group-committed by
// one writer, each commit fsynced before any of its appends is acknowledged. Only two
// buckets are written per event, the log (sequential keys) and the stream index, because
// every page a commit dirties costs a write.
//
// It implements the port in app/eventstore and passes eventstoretest.
package eventlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/eventnotify/notify/app/eventstore"
)

var (
	bucketLog     = []byte("log")     // position → record
	bucketStreams = []byte("streams") // stream 0x00 revision → position, event id
)

// Limits on what one append may carry.
const (
	MaxStreamName = 512
	MaxEventSize  = 1 << 20
	maxBatchBytes = 8 << 20
)

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("eventlog: closed")

// Options tune the store; the zero value is the durable default.
type Options struct {
	// MaxGroup caps how many appends one commit carries (default 256).
	MaxGroup int
	// ReadBatch caps how many events a subscription delivers at once (default 512).
	ReadBatch int
}

// Store is the embedded event store. It is safe for concurrent use.
type Store struct {
	db        *bolt.DB
	opts      Options
	appends   chan *appendReq
	closing   chan struct{}
	writerWG  sync.WaitGroup
	closeOnce sync.Once
	closeMu   sync.RWMutex
	closed    bool

	head    atomic.Uint64
	mu      sync.Mutex
	changed chan struct{} // closed and replaced after every commit
}

type appendReq struct {
	stream   string
	expected eventstore.ExpectedRevision
	events   []eventstore.EventData
	res      eventstore.AppendResult
	err      error
	done     chan struct{}
}

// Open opens (creating if needed) the store file at path.
func Open(path string, opts Options) (*Store, error) {
	if opts.MaxGroup <= 0 {
		opts.MaxGroup = 256
	}
	if opts.ReadBatch <= 0 {
		opts.ReadBatch = 512
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        2 * time.Second, // another process holding the file lock
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("open event log %s: %w", path, err)
	}
	var head uint64
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketLog, bucketStreams} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if k, _ := tx.Bucket(bucketLog).Cursor().Last(); k != nil {
			head = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init event log %s: %w", path, err)
	}
	s := &Store{db: db, opts: opts, appends: make(chan *appendReq, opts.MaxGroup), closing: make(chan struct{}), changed: make(chan struct{})}
	s.head.Store(head)
	s.writerWG.Add(1)
	go s.writer()
	return s, nil
}

// Close stops accepting appends, finishes the commit in flight and closes the file.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.closeMu.Lock()
		s.closed = true
		s.closeMu.Unlock()
		close(s.closing)
		s.writerWG.Wait()
		err = s.db.Close()
	})
	return err
}

// Head returns the position of the last committed event (0 when the log is empty).
func (s *Store) Head() eventstore.Position { return eventstore.Position(s.head.Load()) }

// Append writes events to the end of stream if expected holds, durably, and returns where the
// last one landed. Re-appending the same event ids at the same place returns the original
// result and writes nothing (idempotent, as EventStoreDB does).
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := validateAppend(stream, events); err != nil {
		return eventstore.AppendResult{}, err
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
	err := s.db.Update(func(tx *bolt.Tx) error {
		w := txWriter{log: tx.Bucket(bucketLog), streams: tx.Bucket(bucketStreams)}
		w.log.FillPercent = 1 // append-only keys: pack pages full
		for _, r := range group {
			r.res, r.err = w.apply(r, &head, now)
			if r.err != nil && !errors.Is(r.err, eventstore.ErrWrongExpectedRevision) {
				return r.err // storage failure: the whole group rolls back
			}
		}
		return nil
	})
	if err != nil {
		for _, r := range group {
			if r.err == nil || r.err == err {
				r.err = fmt.Errorf("eventlog commit: %w", err)
			}
			close(r.done)
		}
		return
	}
	s.head.Store(head)
	for _, r := range group {
		close(r.done)
	}
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

type txWriter struct{ log, streams *bolt.Bucket }

// A streams entry is keyed stream 0x00 revision and holds position (8 bytes) + event id (16).
const streamEntry = 8 + 16

// last returns the stream's last revision, found as the greatest key with its prefix.
func (w txWriter) last(stream string) (uint64, bool) {
	c := w.streams.Cursor()
	after := append([]byte(stream), 1) // sorts after every "stream 0x00 revision" key
	k, _ := c.Seek(after)
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if len(k) != len(stream)+9 || string(k[:len(stream)]) != stream || k[len(stream)] != 0 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[len(stream)+1:]), true
}

func (w txWriter) apply(r *appendReq, head *uint64, now time.Time) (eventstore.AppendResult, error) {
	last, exists := w.last(r.stream)
	if res, ok, err := w.idempotent(r, last, exists); ok || err != nil {
		return res, err
	}
	if !r.expected.Allows(last, exists) {
		return eventstore.AppendResult{}, &eventstore.WrongExpectedRevisionError{Stream: r.stream, Expected: r.expected, Actual: last, ActualExists: exists}
	}
	rev := uint64(0)
	if exists {
		rev = last + 1
	}
	for _, e := range r.events {
		*head++
		pos := u64(*head)
		// bbolt keeps the slices until commit: every record gets its own buffer.
		rec := appendRecord(make([]byte, 0, 64+len(r.stream)+len(e.Type)+len(e.Data)+len(e.Metadata)), r.stream, rev, e, now)
		if err := w.log.Put(pos, rec); err != nil {
			return eventstore.AppendResult{}, err
		}
		if err := w.streams.Put(streamKey(r.stream, rev), append(pos, e.ID[:]...)); err != nil {
			return eventstore.AppendResult{}, err
		}
		rev++
	}
	return eventstore.AppendResult{NextRevision: rev - 1, Position: eventstore.Position(*head)}, nil
}

// anyWindow is how far back from a stream's end an any/exists re-append is recognised.
// EventStoreDB too checks idempotency of ExpectedRevision Any only best-effort.
const anyWindow = 1024

// idempotent recognises a re-append of events already written, following EventStoreDB: with
// an exact or no-stream expectation the events at the expected place must carry the same ids;
// with any/exists the first id is searched near the stream's end and the rest must follow it.
// A partial match is a wrong expected revision (EventStoreDB's "corrupted idempotency").
func (w txWriter) idempotent(r *appendReq, last uint64, exists bool) (eventstore.AppendResult, bool, error) {
	if !exists {
		return eventstore.AppendResult{}, false, nil
	}
	var first uint64
	switch rev, exact := r.expected.Revision(); {
	case exact:
		first = rev + 1
	case r.expected.IsNoStream():
		first = 0
	default:
		found, ok := w.findID(r.stream, last, r.events[0].ID[:])
		if !ok {
			return eventstore.AppendResult{}, false, nil
		}
		first = found
	}
	if last < first {
		return eventstore.AppendResult{}, false, nil // nothing written there yet
	}
	var res eventstore.AppendResult
	for i, e := range r.events {
		rev := first + uint64(i)
		v := w.streams.Get(streamKey(r.stream, rev))
		if len(v) != streamEntry || !bytes.Equal(v[8:], e.ID[:]) {
			if i == 0 && v != nil {
				return res, false, nil // other events there: the expectation decides
			}
			return res, false, &eventstore.WrongExpectedRevisionError{Stream: r.stream, Expected: r.expected, Actual: last, ActualExists: exists}
		}
		res = eventstore.AppendResult{NextRevision: rev, Position: eventstore.Position(binary.BigEndian.Uint64(v))}
	}
	return res, true, nil
}

// findID looks for event id among the last anyWindow events of stream.
func (w txWriter) findID(stream string, last uint64, id []byte) (uint64, bool) {
	c := w.streams.Cursor()
	k, v := c.Seek(streamKey(stream, last))
	for n := 0; n < anyWindow && k != nil && len(k) == len(stream)+9 && string(k[:len(stream)]) == stream; n++ {
		if len(v) == streamEntry && bytes.Equal(v[8:], id) {
			return binary.BigEndian.Uint64(k[len(stream)+1:]), true
		}
		k, v = c.Prev()
	}
	return 0, false
}

// ReadStream returns up to limit events of stream from revision from, oldest first. A missing
// stream reads as no events.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []eventstore.RecordedEvent
	err := s.db.View(func(tx *bolt.Tx) error {
		log := tx.Bucket(bucketLog)
		prefix := append([]byte(stream), 0)
		c := tx.Bucket(bucketStreams).Cursor()
		for k, p := c.Seek(streamKey(stream, from)); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, p = c.Next() {
			if limit > 0 && len(out) >= limit {
				break
			}
			e, err := decodeRecord(binary.BigEndian.Uint64(p), log.Get(p[:8]))
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
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

// readAll scans the log after from, keeping up to ReadBatch matching events.
func (s *Store) readAll(from eventstore.Position, filter eventstore.Filter) (eventstore.Batch, error) {
	b := eventstore.Batch{Position: from}
	prefix := []byte(filter.StreamPrefix)
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketLog).Cursor()
		scanned := 0
		for k, v := c.Seek(u64(uint64(from) + 1)); k != nil; k, v = c.Next() {
			if len(b.Events) >= s.opts.ReadBatch || scanned >= 16*s.opts.ReadBatch {
				break
			}
			scanned++
			pos := binary.BigEndian.Uint64(k)
			b.Position = eventstore.Position(pos)
			if len(prefix) > 0 {
				name, err := streamOf(v)
				if err != nil {
					return err
				}
				if !bytes.HasPrefix(name, prefix) {
					continue
				}
			}
			e, err := decodeRecord(pos, v)
			if err != nil {
				return err
			}
			b.Events = append(b.Events, e)
		}
		return nil
	})
	if err != nil {
		return b, fmt.Errorf("read log after %d: %w", from, err)
	}
	return b, nil
}
