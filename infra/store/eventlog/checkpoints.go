package eventlog

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/eventnotify/notify/app/eventstore"
)

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
