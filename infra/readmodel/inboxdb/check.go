package inboxdb

import (
	bolt "go.etcd.io/bbolt"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/infra/platform/boltfile"
	"github.com/eventnotify/notify/projections/inbox"
)

// Report is what Check found in a read model file.
type Report struct {
	LogID      string
	Checkpoint eventstore.Position
	Documents  int
	// Damaged counts the documents and counts whose seal fails.
	Damaged int
	Layout  string
}

// Check reads the read model at path without changing it: every page, every document's and
// count's seal, the log it records and the inbox checkpoint. A file that cannot be read at
// all is an error wrapping boltfile.ErrDamaged (the service drops and rebuilds such a file).
func Check(path string) (Report, error) {
	var r Report
	db, _, err := boltfile.OpenChecked(path)
	if err != nil {
		return r, err
	}
	defer db.Close()
	err = boltfile.Guard(path, func() error {
		return db.View(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if meta == nil || meta.Get(keyLive) == nil {
				return nil
			}
			r.LogID, r.Layout = string(meta.Get(keyLog)), string(meta.Get(keyLayout))
			c := live(tx)
			r.Checkpoint = decodePosition(c.Bucket(bucketCPs).Get([]byte(inbox.Name)))
			if r.Layout != LayoutVersion {
				return nil // an older layout: rebuilt at the next start anyway
			}
			err := c.Bucket(bucketDocs).ForEach(func(_, v []byte) error {
				r.Documents++
				if _, err := unseal(v); err != nil {
					r.Damaged++
				}
				return nil
			})
			if err != nil {
				return err
			}
			return c.Bucket(bucketCounts).ForEach(func(_, v []byte) error {
				if _, err := decodeCounts(v); err != nil {
					r.Damaged++
				}
				return nil
			})
		})
	})
	return r, err
}
