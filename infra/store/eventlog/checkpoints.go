package eventlog

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/eventnotify/notify/app/eventstore"
)

// RelayCheckpoint returns the position a relay saved under name (0 if none). The checkpoints
// bucket holds these and nothing else: the log keeps no projection checkpoints.
func (s *Store) RelayCheckpoint(_ context.Context, name string) (eventstore.Position, error) {
	var p eventstore.Position
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketCheckpoints).Get([]byte(name)); len(v) == 8 {
			p = eventstore.Position(be64(v))
		}
		return nil
	})
	return p, err
}

// SaveRelayCheckpoint durably records how far the relay called name has published.
func (s *Store) SaveRelayCheckpoint(_ context.Context, name string, p eventstore.Position) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCheckpoints).Put([]byte(name), u64(uint64(p)))
	})
}
