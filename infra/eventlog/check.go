package eventlog

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/infra/boltfile"
)

// Report is what Check found in an event log file.
type Report struct {
	ID       string
	Head     eventstore.Position
	Records  int
	Fallback bool
	// Corrupt lists the records whose checksum fails or that do not decode.
	Corrupt []*eventstore.CorruptError
	// Unchecked counts the records written before checksums (their bytes cannot be verified).
	Unchecked int
}

// Check reads the event log at path without changing it (the file must not be open in a
// service: bbolt's lock says so): the meta pages, every page, every record's checksum and
// decoding. A file that cannot be read at all is an error wrapping boltfile.ErrDamaged.
func Check(path string) (Report, error) {
	var r Report
	if _, err := os.Stat(path); err != nil {
		return r, err
	}
	meta, err := boltfile.Precheck(path)
	if err != nil {
		return r, err
	}
	r.Fallback = meta.Fallback
	var db *bolt.DB
	err = boltfile.Guard(path, func() (err error) {
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
	err = db.View(func(tx *bolt.Tx) error {
		crcFrom := uint64(1)
		if m := tx.Bucket(bucketMeta); m != nil {
			if id := m.Get(keyID); len(id) == 16 {
				r.ID = uuid.UUID(id).String()
			}
			if v := m.Get(keyCRCFrom); len(v) == 8 {
				crcFrom = be64(v)
			}
		} else {
			crcFrom = ^uint64(0) // from before checksums: none to verify
		}
		log := tx.Bucket(bucketLog)
		if log == nil {
			return nil
		}
		c := log.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			pos := be64(k)
			r.Records++
			r.Head = eventstore.Position(pos)
			if pos < crcFrom {
				r.Unchecked++
			}
			body, err := checked(pos, crcFrom, v)
			if err == nil {
				_, err = decodeRecord(pos, body)
			}
			if err != nil {
				r.Corrupt = append(r.Corrupt, corruptError(pos, v, err))
			}
		}
		return nil
	})
	return r, boltfile.Guard(path, func() error { return err })
}
