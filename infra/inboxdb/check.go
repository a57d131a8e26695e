package inboxdb

import (
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/infra/boltfile"
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
	if _, err := os.Stat(path); err != nil {
		return r, err
	}
	if _, err := boltfile.Precheck(path); err != nil {
		return r, err
	}
	var db *bolt.DB
	err := boltfile.Guard(path, func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		return err
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return r, fmt.Errorf("%s is in use by a running notify: stop it first", path)
	}
	if err != nil {
		return r, err
	}
	defer db.Close()
	if _, err := boltfile.Walk(db); err != nil {
		return r, err
	}
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
