package inboxdb

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/google/uuid"
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

// writeOut writes the copy built in memory to its bucket in key order, in transactions of
// writeChunk keys: the documents, then the id index, then the counts, and the checkpoints
// last, so a copy is never ahead of what it holds. Two goroutines encode the chunks, in order,
// while the writer inserts each one as soon as it is ready.
func (c *Copy) writeOut() error {
	m := c.mem
	docOrder, idOrder := m.orders()
	n := len(m.rows)
	per := (n + writeChunk - 1) / writeChunk
	type chunk struct {
		bucket []byte
		rows   []kv
		err    error
		ready  chan struct{}
	}
	chunks := make([]chunk, 2*per)
	for i := range chunks {
		chunks[i].bucket, chunks[i].ready = bucketDocs, make(chan struct{})
		if i >= per {
			chunks[i].bucket = bucketByID
		}
	}
	build := func(i int) {
		ch := &chunks[i]
		defer close(ch.ready)
		lo := (i % per) * writeChunk
		hi := min(lo+writeChunk, n)
		ch.rows = make([]kv, 0, hi-lo)
		// Keys and documents are cut from large buffers: a full buffer is replaced, never
		// reused, so every slice stays valid until it is written.
		order := docOrder
		if i >= per {
			order = idOrder
		}
		var buf []byte
		for _, o := range order[lo:hi] {
			r := &m.rows[o.row]
			if cap(buf)-len(buf) < 1024+2*int(r.contentN) {
				buf = make([]byte, 0, 1<<20)
			}
			start := len(buf)
			buf = docKeyTo(buf, m.strs[r.recipient], r.seq)
			key := buf[start:len(buf):len(buf)]
			if i >= per { // the id index: id → document key
				start = len(buf)
				buf = append(buf, r.id.String()...)
				ch.rows = append(ch.rows, kv{buf[start:len(buf):len(buf)], key})
				continue
			}
			start = len(buf)
			var err error
			if buf, err = inbox.AppendJSON(append(buf, make([]byte, sealLen)...), m.view(r)); err != nil {
				ch.err = fmt.Errorf("inboxdb: encode %s: %w", r.id, err)
				return
			}
			ch.rows = append(ch.rows, kv{key, sealed(buf[start:len(buf):len(buf)])})
		}
	}
	stop := make(chan struct{})
	defer close(stop)
	for w := range 2 {
		go func() {
			for i := w; i < len(chunks); i += 2 {
				select {
				case <-stop:
					return
				default:
				}
				build(i)
			}
		}()
	}
	for i := range chunks {
		ch := &chunks[i]
		<-ch.ready
		if ch.err != nil {
			return ch.err
		}
		if err := c.put(ch.bucket, ch.rows); err != nil {
			return err
		}
		ch.rows = nil // written: let the collector have it
	}
	totals := make([]kv, 0, len(m.counts))
	for r, n := range m.counts {
		if n != (inbox.Counts{}) {
			totals = append(totals, kv{[]byte(m.strs[r]), encodeCounts(n)})
		}
	}
	slices.SortFunc(totals, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
	for len(totals) > 0 {
		k := min(len(totals), writeChunk)
		if err := c.put(bucketCounts, totals[:k]); err != nil {
			return err
		}
		totals = totals[k:]
	}
	cps := make([]kv, 0, len(m.checkpoints))
	for _, name := range slices.Sorted(maps.Keys(m.checkpoints)) {
		cps = append(cps, kv{[]byte(name), binary.BigEndian.AppendUint64(nil, uint64(m.checkpoints[name]))})
	}
	if err := c.put(bucketCPs, cps); err != nil {
		return err
	}
	c.mem = nil
	return nil
}

type kv struct{ k, v []byte }

// put writes rows, in key order, into one of the copy's buckets in one transaction.
func (c *Copy) put(bucket []byte, rows []kv) error {
	err := c.s.db.Update(func(tx *bolt.Tx) error {
		cb := tx.Bucket(c.bucket)
		if cb == nil {
			return errCopyGone
		}
		b := cb.Bucket(bucket)
		b.FillPercent = 1 // keys arrive in order: fill each page
		for _, r := range rows {
			if err := b.Put(r.k, r.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("inboxdb: write the copy's %s: %w", bucket, err)
	}
	return nil
}

// ordered is a row with its sort key packed in two words.
type ordered struct {
	hi, lo uint64
	row    uint32
}

// orders returns the rows in document-key order and in id order. Both sort as integers: a
// document key is the recipient, a 0 byte, then the position inverted, so the recipient's
// rank among the interned strings (recipient ids have no control characters) and the inverted
// position packed in two words sort as the keys do; a canonical UUID's text sorts as its bytes.
func (m *memCopy) orders() (docs, ids []ordered) {
	byString := make([]uint32, len(m.strs))
	for i := range byString {
		byString[i] = uint32(i)
	}
	slices.SortFunc(byString, func(a, b uint32) int { return strings.Compare(m.strs[a], m.strs[b]) })
	rank := make([]uint32, len(m.strs))
	for r, i := range byString {
		rank[i] = uint32(r)
	}
	byWords := func(a, b ordered) int {
		if c := cmp.Compare(a.hi, b.hi); c != 0 {
			return c
		}
		return cmp.Compare(a.lo, b.lo)
	}
	docs = make([]ordered, len(m.rows))
	ids = make([]ordered, len(m.rows))
	for i := range m.rows {
		r := &m.rows[i]
		docs[i] = ordered{hi: uint64(rank[r.recipient]), lo: ^uint64(r.seq), row: uint32(i)}
		ids[i] = ordered{hi: binary.BigEndian.Uint64(r.id[:8]), lo: binary.BigEndian.Uint64(r.id[8:]), row: uint32(i)}
	}
	var wg sync.WaitGroup
	wg.Go(func() { slices.SortFunc(docs, byWords) })
	slices.SortFunc(ids, byWords)
	wg.Wait()
	return docs, ids
}

// writeChunk is how many keys one transaction of writeOut puts.
const writeChunk = 20_000

// memCopy is a copy being built in memory. Its bulk holds no pointers, so that the garbage
// collector does not walk a million views on every cycle: each notification is a fixed-size
// row found by its UUID, its content lives in one byte arena, and recipients and categories
// are interned. It holds notifications with canonical UUIDs only (all this service writes):
// a batch touching another id makes the copy go on in the file (errNotCanonical).
type memCopy struct {
	index map[uuid.UUID]uint32 // notification id → its row
	rows  []row
	arena []byte            // contents, back to back
	strs  []string          // interned recipients and categories
	ref   map[string]uint32 // string → index in strs
	// counts by recipient (an index in strs)
	counts      map[uint32]inbox.Counts
	checkpoints map[string]eventstore.Position
}

// row is one notification of a memCopy.
type row struct {
	id                  uuid.UUID
	seq                 eventstore.Position
	recipient, category uint32
	contentAt, contentN uint32
	created             stamp
	read, canceled      stamp
	status              uint8 // an index in statuses
}

// statuses are the row status codes; the zero code is no row.
var statuses = [...]inbox.Status{"", inbox.StatusSent, inbox.StatusRead, inbox.StatusCanceled}

func statusCode(s inbox.Status) (uint8, error) {
	for i, c := range statuses[1:] {
		if s == c {
			return uint8(i + 1), nil
		}
	}
	return 0, fmt.Errorf("inboxdb: unknown status %q", s)
}

// stamp is a time with its UTC offset (what its JSON shows); set is false for no time.
type stamp struct {
	unixNano int64
	offset   int32
	set      bool
}

func stampOf(t *time.Time) stamp {
	if t == nil {
		return stamp{}
	}
	_, off := t.Zone()
	return stamp{unixNano: t.UnixNano(), offset: int32(off), set: true}
}

func (s stamp) time() time.Time {
	t := time.Unix(0, s.unixNano).UTC()
	if s.offset != 0 {
		t = t.In(time.FixedZone("", int(s.offset)))
	}
	return t
}

func (s stamp) ptr() *time.Time {
	if !s.set {
		return nil
	}
	t := s.time()
	return &t
}

func newMemCopy() *memCopy {
	return &memCopy{index: map[uuid.UUID]uint32{}, ref: map[string]uint32{},
		counts: map[uint32]inbox.Counts{}, checkpoints: map[string]eventstore.Position{}}
}

func (m *memCopy) len() int { return len(m.rows) }

func (m *memCopy) intern(s string) uint32 {
	if i, ok := m.ref[s]; ok {
		return i
	}
	i := uint32(len(m.strs))
	m.strs = append(m.strs, s)
	m.ref[s] = i
	return i
}

// canonical parses id if it is a UUID in its canonical form (lower-case hex, four dashes).
func canonical(id string) (uuid.UUID, bool) {
	if len(id) != 36 {
		return uuid.UUID{}, false
	}
	for i := 0; i < 36; i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return uuid.UUID{}, false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return uuid.UUID{}, false
			}
		}
	}
	u, err := uuid.Parse(id)
	return u, err == nil
}

func (m *memCopy) view(r *row) inbox.View {
	v := inbox.View{
		ID: r.id.String(), RecipientID: m.strs[r.recipient], Category: m.strs[r.category],
		Status: statuses[r.status], ReadAt: r.read.ptr(), CanceledAt: r.canceled.ptr(), CreatedAt: r.created.time(), Seq: r.seq,
	}
	if r.contentN > 0 {
		// The arena's bytes never change once written (growing it copies them elsewhere and
		// leaves these in place), so the view may point at them instead of copying.
		v.Content = unsafe.String(&m.arena[r.contentAt], r.contentN)
	}
	return v
}

// put stores v, returning the status it replaces ("" if new) and its recipient's index. e is
// what the transaction found for v's id.
func (m *memCopy) put(e *txEntry) (inbox.Status, uint32, error) {
	v := e.view
	code, err := statusCode(v.Status)
	if err != nil {
		return "", 0, err
	}
	r := row{id: e.key, seq: v.Seq, recipient: m.intern(v.RecipientID), category: m.intern(v.Category),
		created: stampOf(&v.CreatedAt), read: stampOf(v.ReadAt), canceled: stampOf(v.CanceledAt), status: code}
	var old inbox.Status
	if e.row >= 0 {
		prev := &m.rows[e.row]
		old = statuses[prev.status]
		if string(m.arena[prev.contentAt:prev.contentAt+prev.contentN]) == v.Content {
			r.contentAt, r.contentN = prev.contentAt, prev.contentN
		}
	}
	if r.contentN == 0 && v.Content != "" {
		r.contentAt, r.contentN = uint32(len(m.arena)), uint32(len(v.Content))
		if len(m.arena)+len(v.Content) > cap(m.arena) {
			m.arena = slices.Grow(m.arena, len(m.arena)+len(v.Content)) // double, not append's 1.25
		}
		m.arena = append(m.arena, v.Content...)
	}
	if e.row >= 0 {
		m.rows[e.row] = r
	} else {
		m.index[e.key] = uint32(len(m.rows))
		if len(m.rows) == cap(m.rows) {
			m.rows = slices.Grow(m.rows, max(len(m.rows), 1024))
		}
		m.rows = append(m.rows, r)
	}
	return old, r.recipient, nil
}

// apply runs fn against an overlay of the copy and merges it only if fn succeeds.
func (m *memCopy) apply(name string, from, to eventstore.Position, fn func(inbox.Tx) error) error {
	if at := m.checkpoints[name]; at != from {
		return fmt.Errorf("inboxdb: %w: %s is at %d, not %d", projections.ErrMoved, name, at, from)
	}
	t := &memTxn{base: m, ids: map[string]int{}}
	if err := fn(t); err != nil {
		return err
	}
	for i := range t.entries {
		if e := &t.entries[i]; e.put {
			if _, err := statusCode(e.view.Status); err != nil {
				return err // before anything is merged: all or nothing
			}
		}
	}
	for i := range t.entries {
		e := &t.entries[i]
		if !e.put {
			continue
		}
		old, r, _ := m.put(e)
		c := m.counts[r]
		c.Change(old, e.view.Status)
		m.counts[r] = c
	}
	m.checkpoints[name] = to
	return nil
}

// memTxn is the inbox projection's view of a memCopy: reads see the transaction's own puts.
// Each id the transaction touches is parsed and looked up once.
type memTxn struct {
	base    *memCopy
	ids     map[string]int // id → index in entries
	entries []txEntry
}

// txEntry is one notification a transaction touched: where the copy has it, and what the
// transaction put.
type txEntry struct {
	key       uuid.UUID
	canonical bool
	row       int // index in the copy's rows, -1 if it has none
	put       bool
	view      inbox.View // what was put
}

func (t *memTxn) entry(id string) *txEntry {
	if i, ok := t.ids[id]; ok {
		return &t.entries[i]
	}
	e := txEntry{row: -1}
	e.key, e.canonical = canonical(id)
	if e.canonical {
		if i, ok := t.base.index[e.key]; ok {
			e.row = int(i)
		}
	}
	t.ids[id] = len(t.entries)
	t.entries = append(t.entries, e)
	return &t.entries[len(t.entries)-1]
}

// Load looks up the notifications of ids; one that is not a canonical UUID sends the batch
// to the file (errNotCanonical).
func (t *memTxn) Load(ids []string) error {
	for _, id := range ids {
		if !t.entry(id).canonical {
			return errNotCanonical
		}
	}
	return nil
}

func (t *memTxn) Get(id string) (inbox.View, bool, error) {
	e := t.entry(id)
	switch {
	case e.put:
		return e.view, true, nil
	case e.row >= 0:
		return t.base.view(&t.base.rows[e.row]), true, nil
	case !e.canonical:
		return inbox.View{}, false, errNotCanonical
	}
	return inbox.View{}, false, nil
}

func (t *memTxn) Put(v inbox.View) error {
	e := t.entry(v.ID)
	moved := false
	switch {
	case e.put:
		moved = e.view.RecipientID != v.RecipientID || e.view.Seq != v.Seq
	case e.row >= 0:
		r := &t.base.rows[e.row]
		moved = t.base.strs[r.recipient] != v.RecipientID || r.seq != v.Seq
	case !e.canonical:
		return errNotCanonical
	}
	if moved {
		return fmt.Errorf("inboxdb: notification %s cannot move between recipients or positions", v.ID)
	}
	e.view, e.put = v, true
	return nil
}
