package eventlog

import (
	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/infra/platform/boltfile"
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
	db, meta, err := boltfile.OpenChecked(path)
	if err != nil {
		return r, err
	}
	defer db.Close()
	r.Fallback = meta.Fallback
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
