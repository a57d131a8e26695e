package eventlog

import (
	"errors"
	"fmt"
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
	bucketCheckpoints = []byte("checkpoints") // relay name → position (see RelayCheckpoint)
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
