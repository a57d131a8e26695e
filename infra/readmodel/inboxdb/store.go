// Package inboxdb is the embedded inbox read model: one bbolt file beside the event log. Each
// recipient's notifications are kept newest first as their published JSON, with counts and the
// projection checkpoint updated in the same transaction.
//
// It implements the inbox projection's transaction, the runner's store and the inbox queries,
// and passes inboxtest.
package inboxdb

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/infra/platform/boltfile"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

// Layout. The read model proper lives in a copy: a top-level bucket holding the documents,
// the id index, the counts and the projection checkpoints. The meta bucket names the live copy
// (the one queries read) and the one being rebuilt, if any; a replay fills a fresh copy and
// promotes it by rewriting the live name, which a query sees whole because it reads the name
// and the copy in one transaction.
var (
	bucketCheckpoints = []byte("checkpoints") // relay name → position (not projections: see RelayCheckpoint)
	bucketMeta        = []byte("meta")        // keyLive, keyBuilding → copy bucket name; keyLayout; keyLog
	keyLive           = []byte("live")
	keyBuilding       = []byte("building")
	keyLayout         = []byte("layout") // LayoutVersion: documents and counts sealed
	keyLog            = []byte("log")    // the identity of the event log the read model was built from

	// In a copy:
	bucketDocs   = []byte("docs")        // recipient 0x00 ^seq → sealed view JSON (newest first)
	bucketByID   = []byte("byid")        // notification id → docs key
	bucketCounts = []byte("counts")      // recipient → sealed total, unread, unseen, canceled (4 × uint64)
	bucketCPs    = []byte("checkpoints") // projection name → position
)

// LayoutVersion names the layout this build writes; a read model of another is rebuilt from
// the log. 3 (issue #13): documents with seenAt, archivedAt and the rich fields, counts with
// unseen; a read model of layout 2 never folded the events that set them.
const LayoutVersion = "3"

// Store is the embedded inbox read model. It is safe for concurrent use.
type Store struct {
	db     *bolt.DB
	path   string
	marker string
	reset  string

	damageMu sync.Mutex
	onDamage func(error)
	damaged  bool
}

// Open opens (creating if needed) the read model file at path.
//
// The read model is derived from the event log, so its commits are not fsynced: a process
// crash loses nothing (the kernel still holds every page written), and after a machine crash,
// which may tear unflushed pages, the file is dropped and the projection rebuilds it from the
// log. The machine crash is recognised by a marker beside the file holding the kernel's boot
// id while the file is open. Where no boot id is available every commit is fsynced instead.
//
// For the same reason a file that is damaged (cut short, a page or meta page bbolt cannot
// read, or marked damaged by a read while it was served) is dropped and rebuilt, and so is one
// of another layout; WasReset says why.
func Open(path string) (*Store, error) {
	marker, boot := path+".open", bootID()
	reset := ""
	drop := func(why string) error {
		for _, p := range []string{path, path + ".damaged"} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("drop read model %s (%s): %w", path, why, err)
			}
		}
		reset = why
		return nil
	}
	if prev, err := os.ReadFile(marker); err == nil && string(prev) != boot {
		if err := drop("left open when the machine went down"); err != nil {
			return nil, err
		}
	}
	if why, err := os.ReadFile(path + ".damaged"); err == nil {
		if err := drop("found damaged while it was served: " + string(why)); err != nil {
			return nil, err
		}
	}
	if _, err := boltfile.Precheck(path); err != nil {
		if err := drop(err.Error()); err != nil {
			return nil, err
		}
	}
	var db *bolt.DB
	upgraded := false
	open := func() error {
		return boltfile.Guard(path, func() (err error) {
			db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType, NoSync: boot != ""})
			if err != nil {
				return err
			}
			err = db.Update(func(tx *bolt.Tx) error {
				var err error
				upgraded, err = initLayout(tx)
				return err
			})
			if err == nil {
				err = db.Sync()
			}
			if err != nil {
				db.Close()
			}
			return err
		})
	}
	err := open()
	if isDamage(err) || errors.Is(err, bolterrors.ErrInvalid) || errors.Is(err, bolterrors.ErrChecksum) || errors.Is(err, bolterrors.ErrVersionMismatch) {
		if derr := drop(err.Error()); derr != nil {
			return nil, derr
		}
		err = open()
	}
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open read model %s: the file is locked by another process (is another notify using this data dir?)", path)
		}
		return nil, fmt.Errorf("open read model %s: %w", path, err)
	}
	if boot != "" {
		if err := writeSynced(marker, boot); err != nil {
			db.Close()
			return nil, fmt.Errorf("init read model %s: %w", path, err)
		}
	}
	if upgraded && reset == "" {
		reset = "written by an older version, in another layout"
	}
	return &Store{db: db, path: path, marker: marker, reset: reset}, nil
}

// initLayout creates the buckets of a new file, drops a copy left unfinished by a replay that
// did not complete, and drops a read model of the layout before copies (reporting true: it is
// rebuilt from the log).
func initLayout(tx *bolt.Tx) (upgraded bool, err error) {
	if _, err := tx.CreateBucketIfNotExists(bucketCheckpoints); err != nil {
		return false, err
	}
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return false, err
	}
	if b := meta.Get(keyBuilding); b != nil {
		if err := dropCopy(tx, b); err != nil {
			return false, err
		}
	}
	if live := meta.Get(keyLive); live != nil {
		if string(meta.Get(keyLayout)) == LayoutVersion {
			return false, nil
		}
		// A copy of an older layout (documents not sealed): dropped and rebuilt.
		if err := tx.DeleteBucket(bytes.Clone(live)); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return false, err
		}
		upgraded = true
	}
	if err := meta.Put(keyLayout, []byte(LayoutVersion)); err != nil {
		return false, err
	}
	for _, old := range [][]byte{bucketDocs, bucketByID, bucketCounts} {
		if tx.Bucket(old) != nil {
			upgraded = true
			if err := tx.DeleteBucket(old); err != nil {
				return false, err
			}
		}
	}
	if upgraded {
		if err := tx.Bucket(bucketCheckpoints).Delete([]byte(inbox.Name)); err != nil {
			return false, err
		}
	}
	name, err := newCopy(tx)
	if err != nil {
		return false, err
	}
	return upgraded, meta.Put(keyLive, name)
}

// newCopy creates an empty copy bucket and returns its name.
func newCopy(tx *bolt.Tx) ([]byte, error) {
	meta := tx.Bucket(bucketMeta)
	seq, err := meta.NextSequence()
	if err != nil {
		return nil, err
	}
	name := fmt.Appendf(nil, "copy-%d", seq)
	c, err := tx.CreateBucket(name)
	if err != nil {
		return nil, err
	}
	for _, b := range [][]byte{bucketDocs, bucketByID, bucketCounts, bucketCPs} {
		if _, err := c.CreateBucket(b); err != nil {
			return nil, err
		}
	}
	return name, nil
}

// dropCopy deletes the copy being built, and the note that it is.
func dropCopy(tx *bolt.Tx, name []byte) error {
	if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
		return err
	}
	return tx.Bucket(bucketMeta).Delete(keyBuilding)
}

// live returns the copy queries read and the live projector writes.
func live(tx *bolt.Tx) *bolt.Bucket {
	return tx.Bucket(tx.Bucket(bucketMeta).Get(keyLive))
}

// WasReset reports why Open dropped the read model ("": it did not): left open across a
// machine restart, damaged, or of another layout. The projection rebuilds it from the log.
func (s *Store) WasReset() string { return s.reset }

// OnDamage sets what to do when a read finds the read model damaged (a value that fails its
// checksum, a page bbolt cannot read): the wiring starts a replay into a fresh copy. It is
// called once per damaged copy, in a goroutine of its own; the file is also marked, so that
// the next Open drops it if the replay could not replace it.
func (s *Store) OnDamage(fn func(error)) {
	s.damageMu.Lock()
	defer s.damageMu.Unlock()
	s.onDamage = fn
}

// checked turns a read's damage into ErrDamaged and reports it (once) to OnDamage.
func (s *Store) checked(err error) error {
	if err == nil || !isDamage(err) {
		return err
	}
	s.damageMu.Lock()
	first := !s.damaged
	s.damaged = true
	fn := s.onDamage
	s.damageMu.Unlock()
	if first {
		_ = os.WriteFile(s.path+".damaged", []byte(err.Error()), 0o600)
		if fn != nil {
			go fn(err)
		}
	}
	if errors.Is(err, ErrDamaged) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrDamaged, err)
}

// repaired is called when a fresh copy has replaced the live one: its damage is gone.
func (s *Store) repaired() {
	s.damageMu.Lock()
	defer s.damageMu.Unlock()
	if s.damaged {
		s.damaged = false
		_ = os.Remove(s.path + ".damaged")
	}
}

// view runs fn in a read transaction; a damaged page is reported as damage, not a panic.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	return s.checked(boltfile.Guard(s.path, func() error { return s.db.View(fn) }))
}

// LogID returns the identity of the event log the read model was built from ("" before it
// was first bound).
func (s *Store) LogID(_ context.Context) (string, error) {
	var id string
	err := s.view(func(tx *bolt.Tx) error {
		id = string(tx.Bucket(bucketMeta).Get(keyLog))
		return nil
	})
	return id, err
}

// BindLog records the identity of the event log the read model is built from.
func (s *Store) BindLog(_ context.Context, id string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyLog, []byte(id)) })
}

// Close flushes and closes the file; only then is the open marker removed.
func (s *Store) Close() error {
	err := s.db.Sync()
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if rerr := os.Remove(s.marker); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = rerr
		}
	}
	return err
}

// bootID identifies the running kernel boot ("" where the system does not say).
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func writeSynced(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}

// Checkpoint returns the position the named projection has applied up to in the live copy
// (0 if none). Relay checkpoints are apart: see RelayCheckpoint.
func (s *Store) Checkpoint(_ context.Context, name string) (eventstore.Position, error) {
	var p eventstore.Position
	err := s.view(func(tx *bolt.Tx) error {
		p = decodePosition(live(tx).Bucket(bucketCPs).Get([]byte(name)))
		return nil
	})
	return p, err
}

// RelayCheckpoint returns how far the relay called name has published (0 if it never saved),
// kept here when the events live in EventStoreDB. Relay checkpoints have a bucket of their
// own, outside the copies: a projection of the same name does not see them, nor a replay
// reset them.
func (s *Store) RelayCheckpoint(_ context.Context, name string) (eventstore.Position, error) {
	var p eventstore.Position
	err := s.view(func(tx *bolt.Tx) error {
		p = decodePosition(tx.Bucket(bucketCheckpoints).Get([]byte(name)))
		return nil
	})
	return p, err
}

// SaveRelayCheckpoint records how far the relay called name has published. After a machine
// crash it is dropped with the file, and the relay starts over: fine for an at-least-once
// relay.
func (s *Store) SaveRelayCheckpoint(_ context.Context, name string, p eventstore.Position) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCheckpoints).Put([]byte(name), binary.BigEndian.AppendUint64(nil, uint64(p)))
	})
}

// Apply runs fn on the live copy and moves the checkpoint from from to to, in one transaction.
func (s *Store) Apply(_ context.Context, name string, from, to eventstore.Position, fn func(inbox.Tx) error) error {
	return s.checked(boltfile.Guard(s.path, func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			return applyTo(live(tx), name, from, to, fn)
		})
	}))
}

func applyTo(c *bolt.Bucket, name string, from, to eventstore.Position, fn func(inbox.Tx) error) error {
	cps := c.Bucket(bucketCPs)
	if at := decodePosition(cps.Get([]byte(name))); at != from {
		return fmt.Errorf("inboxdb: %w: %s is at %d, not %d", projections.ErrMoved, name, at, from)
	}
	t := &txn{docs: c.Bucket(bucketDocs), byID: c.Bucket(bucketByID), counts: c.Bucket(bucketCounts)}
	if err := fn(t); err != nil {
		return err
	}
	if err := t.flush(); err != nil {
		return err
	}
	return cps.Put([]byte(name), binary.BigEndian.AppendUint64(nil, uint64(to)))
}

func decodePosition(v []byte) eventstore.Position {
	if len(v) != 8 {
		return 0
	}
	return eventstore.Position(binary.BigEndian.Uint64(v))
}

// List returns up to limit of the recipient's notifications, newest first, as published JSON.
func (s *Store) List(_ context.Context, recipient string, limit int) ([]json.RawMessage, error) {
	var out []json.RawMessage
	prefix := recipientPrefix(recipient)
	err := s.view(func(tx *bolt.Tx) error {
		c := live(tx).Bucket(bucketDocs).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Next() {
			doc, err := unseal(v)
			if err != nil {
				return err
			}
			out = append(out, bytes.Clone(doc))
		}
		return nil
	})
	return out, err
}

// Page returns a page of the recipient's notifications, newest first, filtered by status,
// category, archive and tag.
func (s *Store) Page(_ context.Context, q inbox.PageQuery) (inbox.Page, error) {
	var page inbox.Page
	prefix := recipientPrefix(q.Recipient)
	start := prefix
	if q.Before > 0 {
		start = docKey(q.Recipient, q.Before-1)
	}
	// The filters match the documents' bytes: they are AppendJSON's output, in which a
	// quote inside a string is escaped, so `"status":"read"` can only be the status field,
	// provided it is looked for before the data (see head).
	var needles [][]byte
	if q.Status != "" {
		needles = append(needles, fieldNeedle("status", string(q.Status)))
	}
	if q.Category != "" {
		needles = append(needles, fieldNeedle("category", q.Category))
	}
	var tag []byte
	if q.Tag != "" {
		tag, _ = json.Marshal(q.Tag) // a string always encodes
	}
	err := s.view(func(tx *bolt.Tx) error {
		c := live(tx).Bucket(bucketDocs).Cursor()
	docs:
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, v = c.Next() {
			doc, err := unseal(v)
			if err != nil {
				return err
			}
			h := head(doc)
			for _, n := range needles {
				if !bytes.Contains(h, n) {
					continue docs
				}
			}
			if !q.Archived.Keeps(bytes.Contains(h, archivedNeedle)) {
				continue
			}
			if tag != nil {
				if ok, err := hasTag(doc, tag, q.Tag); err != nil {
					return fmt.Errorf("%w: document %x: %v", ErrDamaged, k, err)
				} else if !ok {
					continue
				}
			}
			page.Items = append(page.Items, bytes.Clone(doc))
			if len(page.Items) == q.Limit {
				page.Next = eventstore.Position(^binary.BigEndian.Uint64(k[len(k)-8:]))
				break
			}
		}
		return nil
	})
	return page, err
}

// head is the part of a document that holds every field the filters read: up to createdAt,
// then seenAt and archivedAt when present (inbox.AppendJSON writes them first, in that
// order). Before it are strings, in which a quote is escaped, times and nulls; after it come
// the sender's data and a newer version's unknown members, which could hold anything (a
// nested "status":"read" among them must not match a filter).
func head(doc []byte) []byte {
	i := bytes.Index(doc, createdAtKey)
	if i < 0 {
		return doc
	}
	end := i + len(createdAtKey)
	for _, key := range [][]byte{nil, seenKey, archivedNeedle} {
		if key != nil {
			if !bytes.HasPrefix(doc[end:], key) {
				continue
			}
			end += len(key)
		}
		q := bytes.IndexByte(doc[end:], '"') // the time's closing quote
		if q < 0 {
			return doc
		}
		end += q + 1
	}
	return doc[:end]
}

var (
	createdAtKey   = []byte(`,"createdAt":"`)
	seenKey        = []byte(`,"seenAt":"`)
	archivedNeedle = []byte(`,"archivedAt":"`)
)

// hasTag reports whether the document's tags hold tag (quoted: its JSON). A document that
// does not contain the quoted tag anywhere cannot; one that does is decoded to be sure.
func hasTag(doc, quoted []byte, tag string) (bool, error) {
	if !bytes.Contains(doc, quoted) {
		return false, nil
	}
	var v struct {
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(doc, &v); err != nil {
		return false, err
	}
	return slices.Contains(v.Tags, tag), nil
}

// UnreadIDs returns the ids of up to limit of the recipient's unread notifications, newest
// first. It reads each document's status and id fields where AppendJSON puts them, without
// decoding the rest.
func (s *Store) UnreadIDs(_ context.Context, recipient string, limit int) ([]string, error) {
	var ids []string
	prefix := recipientPrefix(recipient)
	unread := fieldNeedle("status", string(inbox.StatusSent))
	err := s.view(func(tx *bolt.Tx) error {
		c := live(tx).Bucket(bucketDocs).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8 && len(ids) < limit; k, v = c.Next() {
			doc, err := unseal(v)
			if err != nil {
				return err
			}
			if !bytes.Contains(head(doc), unread) {
				continue
			}
			id, err := docID(doc)
			if err != nil {
				return fmt.Errorf("%w: document %x: %v", ErrDamaged, k, err)
			}
			ids = append(ids, id)
		}
		return nil
	})
	return ids, err
}

// docID reads the id a document begins with (AppendJSON writes it first).
func docID(doc []byte) (string, error) {
	rest, ok := bytes.CutPrefix(doc, []byte(`{"id":"`))
	if !ok {
		return "", errors.New("it does not begin with an id")
	}
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case '"':
			return string(rest[:i]), nil
		case '\\': // escaped: leave the string to encoding/json
			var id string
			if err := json.NewDecoder(bytes.NewReader(doc[len(`{"id":`):])).Decode(&id); err != nil {
				return "", err
			}
			return id, nil
		}
	}
	return "", errors.New("its id does not end")
}

// fieldNeedle is how a string field with this value reads in a document.
func fieldNeedle(field, value string) []byte {
	v, _ := json.Marshal(value) // a string always encodes
	return append([]byte(`"`+field+`":`), v...)
}

// Count returns the recipient's counts.
func (s *Store) Count(_ context.Context, recipient string) (inbox.Counts, error) {
	var c inbox.Counts
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		c, err = decodeCounts(live(tx).Bucket(bucketCounts).Get([]byte(recipient)))
		return err
	})
	return c, err
}

// txn is the inbox projection's view of one copy in one bbolt transaction. Each notification
// the batch loads (or gets, or puts) is looked up and decoded once; a recipient's counts are
// read once per transaction and written back by flush.
type txn struct {
	docs, byID, counts *bolt.Bucket
	pending            map[string]*inbox.Counts
	seen               map[string]found
}

// found is a notification as the transaction has it: its document key (nil: the inbox does
// not have it) and its view.
type found struct {
	key  []byte
	view inbox.View
}

// Load looks up and decodes the notifications of ids the transaction has not seen.
func (t *txn) Load(ids []string) error {
	if t.seen == nil {
		t.seen = make(map[string]found, len(ids))
	}
	for _, id := range ids {
		if _, ok := t.seen[id]; ok {
			continue
		}
		key := t.byID.Get([]byte(id))
		if key == nil {
			t.seen[id] = found{}
			continue
		}
		v, err := t.doc(key)
		if err != nil {
			return err
		}
		t.seen[id] = found{key: bytes.Clone(key), view: v}
	}
	return nil
}

func (t *txn) Get(id string) (inbox.View, bool, error) {
	f, ok := t.seen[id]
	if !ok {
		if err := t.Load([]string{id}); err != nil {
			return inbox.View{}, false, err
		}
		f = t.seen[id]
	}
	return f.view, f.key != nil, nil
}

func (t *txn) doc(key []byte) (inbox.View, error) {
	var v inbox.View
	raw := t.docs.Get(key)
	if raw == nil {
		return v, fmt.Errorf("%w: the id index points at a missing document %x", ErrDamaged, key)
	}
	doc, err := unseal(raw)
	if err != nil {
		return v, err
	}
	if err := inbox.DecodeView(doc, &v); err != nil {
		return v, fmt.Errorf("%w: a document does not decode: %v", ErrDamaged, err)
	}
	v.Seq = eventstore.Position(^binary.BigEndian.Uint64(key[len(key)-8:]))
	return v, nil
}

func (t *txn) Put(v inbox.View) error {
	prev, ok := t.seen[v.ID]
	if !ok {
		if err := t.Load([]string{v.ID}); err != nil {
			return err
		}
		prev = t.seen[v.ID]
	}
	key := docKey(v.RecipientID, v.Seq)
	c, err := t.countsOf(v.RecipientID)
	if err != nil {
		return err
	}
	var before inbox.Standing
	if prev.key != nil {
		if !bytes.Equal(prev.key, key) {
			return fmt.Errorf("inboxdb: notification %s cannot move between recipients or positions", v.ID)
		}
		before = inbox.StandingOf(prev.view)
	} else if err := t.byID.Put([]byte(v.ID), key); err != nil {
		return err
	}
	c.Change(before, inbox.StandingOf(v))
	doc, err := inbox.AppendJSON(make([]byte, sealLen, 320), v)
	if err != nil {
		return fmt.Errorf("inboxdb: encode %s: %w", v.ID, err)
	}
	t.seen[v.ID] = found{key: key, view: v}
	return t.docs.Put(key, sealed(doc))
}

// countsOf returns the recipient's counts as this transaction has them.
func (t *txn) countsOf(recipient string) (*inbox.Counts, error) {
	if c, ok := t.pending[recipient]; ok {
		return c, nil
	}
	if t.pending == nil {
		t.pending = map[string]*inbox.Counts{}
	}
	stored, err := decodeCounts(t.counts.Get([]byte(recipient)))
	if err != nil {
		return nil, err
	}
	t.pending[recipient] = &stored
	return &stored, nil
}

// flush writes the counts the transaction changed.
func (t *txn) flush() error {
	for r, c := range t.pending {
		if err := t.counts.Put([]byte(r), encodeCounts(*c)); err != nil {
			return err
		}
	}
	t.pending = nil
	return nil
}

// decodeCounts reads sealed counts (none stored: zero).
func decodeCounts(v []byte) (inbox.Counts, error) {
	if v == nil {
		return inbox.Counts{}, nil
	}
	b, err := unseal(v)
	if err != nil || len(b) != 32 {
		return inbox.Counts{}, errDamagedValue
	}
	return inbox.Counts{
		Total:    int(binary.BigEndian.Uint64(b)),
		Unread:   int(binary.BigEndian.Uint64(b[8:])),
		Unseen:   int(binary.BigEndian.Uint64(b[16:])),
		Canceled: int(binary.BigEndian.Uint64(b[24:])),
	}, nil
}

func encodeCounts(c inbox.Counts) []byte {
	b := make([]byte, sealLen, sealLen+32)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Total))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Unread))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Unseen))
	return sealed(binary.BigEndian.AppendUint64(b, uint64(c.Canceled)))
}

func recipientPrefix(r string) []byte { return append([]byte(r), 0) }

// docKey sorts a recipient's documents newest first: the position is stored inverted.
func docKey(r string, seq eventstore.Position) []byte {
	return binary.BigEndian.AppendUint64(recipientPrefix(r), ^uint64(seq))
}

// docKeyTo appends docKey(r, seq) to b.
func docKeyTo(b []byte, r string, seq eventstore.Position) []byte {
	b = append(append(b, r...), 0)
	return binary.BigEndian.AppendUint64(b, ^uint64(seq))
}
