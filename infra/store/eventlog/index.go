package eventlog

import (
	"hash/maphash"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// tail is where a stream ends: its last event's position and revision.
type tail struct{ pos, rev uint64 }

// index maps every stream to its tail, in memory; records chain back from there (see
// appendRecord). It is rebuilt from the log at Open, so a commit writes only log pages, all
// at the end of the file, instead of one random index page per stream.
//
// Streams are keyed by a 64-bit hash of their name to keep the map small; every hit is
// checked against the name in the record, and a stream whose hash is taken by another goes
// to the spill map, so a collision costs memory, never correctness.
type index struct {
	mu     sync.RWMutex
	hash   func(string) uint64
	byHash map[uint64]tail
	spill  map[string]tail
}

func newIndex(hash func(string) uint64) *index {
	if hash == nil {
		seed := maphash.MakeSeed()
		hash = func(s string) uint64 { return maphash.String(seed, s) }
	}
	return &index{hash: hash, byHash: map[uint64]tail{}, spill: map[string]tail{}}
}

// lookup finds stream's tail; log must see every position the index holds.
func (ix *index) lookup(log *bolt.Bucket, stream string) (tail, bool, error) {
	if t, ok := ix.spill[stream]; ok {
		return t, true, nil
	}
	t, ok := ix.byHash[ix.hash(stream)]
	if !ok {
		return tail{}, false, nil
	}
	name, err := streamOf(log.Get(u64(t.pos)))
	if err != nil || string(name) != stream {
		return tail{}, false, err
	}
	return t, true, nil
}

// set records stream's new tail; the caller holds mu for writing.
func (ix *index) set(log *bolt.Bucket, stream string, t tail) error {
	if _, ok := ix.spill[stream]; ok {
		ix.spill[stream] = t
		return nil
	}
	h := ix.hash(stream)
	if old, ok := ix.byHash[h]; ok {
		name, err := streamOf(log.Get(u64(old.pos)))
		if err != nil {
			return err
		}
		if string(name) != stream {
			ix.spill[stream] = t
			return nil
		}
	}
	ix.byHash[h] = t
	return nil
}

// snapshot returns stream's tail as of the last commit, for readers: the caller must open
// its read transaction after this call, so that it sees the tail's position.
func (ix *index) snapshot(stream string) (tail, uint64, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if t, ok := ix.spill[stream]; ok {
		return t, 0, true
	}
	h := ix.hash(stream)
	t, ok := ix.byHash[h]
	return t, h, ok
}
