// Package eventlog is the embedded event store: one bbolt file holding the global log, keyed
// by position. Appends from many goroutines are group-committed by one writer, each commit
// fsynced before any of its appends is acknowledged. Streams are found through an in-memory
// index rebuilt at Open (see index), so a commit dirties only the pages at the log's end:
// every page a commit writes costs a flush.
//
// It implements the port in app/eventstore and passes eventstoretest.
package eventlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/infra/platform/boltfile"
)

var (
	bucketLog         = []byte("log")         // position → record
	bucketCheckpoints = []byte("checkpoints") // consumer name → position (e.g. the Kafka relay)
	bucketMeta        = []byte("meta")        // keyID, keyCRCFrom
	keyID             = []byte("id")          // the log's identity: 16 random bytes written at creation
	keyCRCFrom        = []byte("crc-from")    // the first position whose record carries a checksum
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

	hash func(string) uint64 // the index's stream hash; tests force collisions with it
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

	ix      *index
	id      uuid.UUID
	crcFrom uint64
	health  Health
	broken  atomic.Pointer[error] // set when a commit could not be indexed
	head    atomic.Uint64
	mu      sync.Mutex
	changed chan struct{} // closed and replaced after every commit

	// tail holds the latest committed events, positions tailFirst on, as written: a caught-up
	// subscriber (the projection, the live hub, the Kafka relay: each reads every event)
	// takes them from here instead of decoding bbolt's copy again.
	tailMu    sync.RWMutex
	tail      []eventstore.RecordedEvent
	tailFirst uint64
	written   []eventstore.RecordedEvent // the writer's buffer for a commit's events
}

type appendReq struct {
	stream   string
	expected eventstore.ExpectedRevision
	events   []eventstore.EventData
	res      eventstore.AppendResult
	err      error
	done     chan struct{}
}

// Health is what Open found: whether bbolt had to fall back to its older meta page, and the
// records whose checksum failed (they are left out of reads and reported; see Batch.Corrupt).
type Health struct {
	Fallback bool
	Corrupt  []*eventstore.CorruptError
	Records  int
}

// Open opens (creating if needed) the store file at path. A file bbolt cannot trust (cut
// short, a damaged page or meta page) is refused with an error wrapping boltfile.ErrDamaged
// that names the file and the damage; it never crashes the process.
func Open(path string, opts Options) (*Store, error) {
	if opts.MaxGroup <= 0 {
		opts.MaxGroup = 1024
	}
	if opts.ReadBatch <= 0 {
		opts.ReadBatch = 2048
	}
	meta, err := boltfile.Precheck(path)
	if err != nil {
		return nil, fmt.Errorf("open event log: %w", err)
	}
	var db *bolt.DB
	err = boltfile.Guard(path, func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{
			Timeout:        2 * time.Second, // another process holding the file lock
			NoFreelistSync: true,
			FreelistType:   bolt.FreelistMapType,
		})
		return err
	})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open event log %s: the file is locked by another process (is another notify using this data dir?)", path)
		}
		if errors.Is(err, boltfile.ErrDamaged) {
			return nil, fmt.Errorf("open event log: %w", err)
		}
		return nil, fmt.Errorf("open event log %s: %w", path, err)
	}
	s := &Store{db: db, opts: opts, appends: make(chan *appendReq, opts.MaxGroup), closing: make(chan struct{}), changed: make(chan struct{})}
	s.health.Fallback = meta.Fallback
	var head uint64
	err = boltfile.Guard(path, func() error {
		return db.Update(func(tx *bolt.Tx) error {
			log, err := tx.CreateBucketIfNotExists(bucketLog)
			if err != nil {
				return err
			}
			if _, err := tx.CreateBucketIfNotExists(bucketCheckpoints); err != nil {
				return err
			}
			if k, _ := log.Cursor().Last(); k != nil {
				head = be64(k)
			}
			m, err := tx.CreateBucketIfNotExists(bucketMeta)
			if err != nil {
				return err
			}
			if id := m.Get(keyID); len(id) == 16 {
				copy(s.id[:], id)
			} else {
				s.id = uuid.New() // a new log, or one from before identities: it gets one now
				if err := m.Put(keyID, s.id[:]); err != nil {
					return err
				}
			}
			if v := m.Get(keyCRCFrom); len(v) == 8 {
				s.crcFrom = be64(v)
			} else {
				s.crcFrom = head + 1 // what was written before checksums has none
				return m.Put(keyCRCFrom, u64(s.crcFrom))
			}
			return nil
		})
	})
	s.ix = newIndex(opts.hash)
	if err == nil {
		err = boltfile.Guard(path, func() error {
			return db.View(func(tx *bolt.Tx) error { return s.rebuild(tx.Bucket(bucketLog)) })
		})
	}
	if err != nil {
		db.Close()
		if errors.Is(err, boltfile.ErrDamaged) {
			return nil, fmt.Errorf("open event log: %w", err)
		}
		return nil, fmt.Errorf("init event log %s: %w", path, err)
	}
	s.tailFirst = head + 1
	s.head.Store(head)
	s.writerWG.Add(1)
	go s.writer()
	return s, nil
}

// rebuild indexes every record of the log, in order, checking each one's checksum. A record
// that fails is reported in Health and still indexed by its header when that reads (a flipped
// byte in an event's data leaves it intact), so that its stream's chain goes on past it.
func (s *Store) rebuild(log *bolt.Bucket) error {
	ix := s.ix
	ix.mu.Lock()
	defer ix.mu.Unlock()
	c := log.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		pos := be64(k)
		s.health.Records++
		if _, err := checked(pos, s.crcFrom, v); err != nil {
			s.health.Corrupt = append(s.health.Corrupt, corruptError(pos, v, err))
		}
		h, err := readHeader(v)
		if err != nil {
			continue // not even the header: its stream cannot be known
		}
		if err := ix.set(log, string(h.stream), tail{pos: pos, rev: h.rev}); err != nil {
			return err
		}
	}
	return nil
}

// ID is the log's identity, written when the file was created: a read model records it to
// know which log it was built from.
func (s *Store) ID() string { return s.id.String() }

// Health reports what Open found.
func (s *Store) Health() Health { return s.health }

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

// Checkpoint returns the position a named consumer of the log saved (0 if none).
func (s *Store) Checkpoint(_ context.Context, name string) (eventstore.Position, error) {
	var p eventstore.Position
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketCheckpoints).Get([]byte(name)); len(v) == 8 {
			p = eventstore.Position(be64(v))
		}
		return nil
	})
	return p, err
}

// SaveCheckpoint durably records how far a named consumer of the log has got.
func (s *Store) SaveCheckpoint(_ context.Context, name string, p eventstore.Position) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCheckpoints).Put([]byte(name), u64(uint64(p)))
	})
}

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
