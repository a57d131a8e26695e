// Package boltfile checks a bbolt file before and after bbolt opens it, so that a damaged file
// is refused with a message instead of crashing the process: bbolt maps the file into memory
// and trusts it, so a file cut short faults with SIGBUS on the first page past its end, and a
// damaged page fails one of bbolt's assertions with a panic.
//
// It must not import anything of this service's.
package boltfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrDamaged matches every error of this package that reports a damaged file.
var ErrDamaged = errors.New("damaged")

// DamageError says what is wrong with a file.
type DamageError struct {
	Path, What string
}

func (e *DamageError) Error() string        { return e.Path + " is damaged: " + e.What }
func (e *DamageError) Is(target error) bool { return target == ErrDamaged }

// Meta is what a file's meta page says about its last commit.
type Meta struct {
	PageSize uint32
	Pages    uint64 // high-water mark: the pages the commit uses
	TxID     uint64
	// Fallback is true when one meta page is damaged and bbolt will use the other: if the
	// damaged one held the newer commit, the file reads as of the commit before.
	Fallback bool
}

// The layout of a meta page (bbolt's common.Meta after its 16-byte page header), little-endian
// as bbolt writes it on the platforms this service builds for.
const (
	pageHeader = 16
	metaSize   = 64 // magic, version, pageSize, flags, root (2×8), freelist, pgid, txid, checksum
	magic      = 0xED0CDAED
	version    = 2
)

// Precheck reads the meta pages of the bbolt file at path without bbolt: both damaged, or the
// file shorter than its last commit needs, is a DamageError. A missing or empty file is fine
// (bbolt creates it).
func Precheck(path string) (Meta, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return Meta{}, nil
	}
	if err != nil {
		return Meta{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return Meta{}, err
	}
	size := info.Size()
	if size == 0 {
		return Meta{}, nil
	}
	buf := make([]byte, min(size, 2*64<<10))
	if _, err := io.ReadFull(f, buf); err != nil {
		return Meta{}, fmt.Errorf("read %s: %w", path, err)
	}
	m0, ok0 := readMeta(buf, 0)
	var m1 Meta
	ok1 := false
	if ok0 && int64(m0.PageSize) < int64(len(buf)) {
		m1, ok1 = readMeta(buf, int(m0.PageSize))
	} else if !ok0 {
		for _, ps := range []int{4096, 8192, 16384, 32768, 65536} { // page 0 damaged: find page 1
			if m, ok := readMeta(buf, ps); ok && int(m.PageSize) == ps {
				m1, ok1 = m, true
				break
			}
		}
	}
	var m Meta
	switch {
	case !ok0 && !ok1:
		return Meta{}, &DamageError{path, "neither of its two meta pages is valid (not a bbolt file, or both overwritten)"}
	case ok0 && ok1:
		m = m0
		if m1.TxID > m0.TxID {
			m = m1
		}
	case ok0:
		m, m.Fallback = m0, true
	default:
		m, m.Fallback = m1, true
	}
	if need := int64(m.Pages) * int64(m.PageSize); size < need {
		return m, &DamageError{path, fmt.Sprintf("it holds %d bytes but its last commit uses %d (%d pages of %d): the file was cut short", size, need, m.Pages, m.PageSize)}
	}
	return m, nil
}

func readMeta(buf []byte, at int) (Meta, bool) {
	if at+pageHeader+metaSize > len(buf) {
		return Meta{}, false
	}
	b := buf[at+pageHeader : at+pageHeader+metaSize]
	le := binary.LittleEndian
	h := fnv.New64a()
	h.Write(b[:56])
	if le.Uint32(b[0:]) != magic || le.Uint32(b[4:]) != version || le.Uint64(b[56:]) != h.Sum64() {
		return Meta{}, false
	}
	return Meta{PageSize: le.Uint32(b[8:]), Pages: le.Uint64(b[40:]), TxID: le.Uint64(b[48:])}, true
}

// Walk reads every key and value of every bucket, in this goroutine, so that a damaged page
// is found (as a DamageError) instead of waiting to fail a later read. (bbolt's own tx.Check
// runs in a goroutine of its own, where such a panic cannot be recovered.)
func Walk(db *bolt.DB) (keys int, err error) {
	err = Guard(db.Path(), func() error {
		return db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(b, &keys) })
		})
	})
	return keys, err
}

func walk(b *bolt.Bucket, keys *int) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		*keys++
		if v == nil {
			if sub := b.Bucket(k); sub != nil {
				if err := walk(sub, keys); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Guard runs fn and turns a panic inside it (bbolt asserting on a damaged page) into a
// DamageError naming path.
func Guard(path string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &DamageError{path, fmt.Sprintf("a page does not hold what bbolt expects (%v)", r)}
		}
	}()
	return fn()
}

// OpenChecked opens the file at path read-only for an offline check: it must exist, pass
// Precheck, open under Guard (failing with a clear message while a running service holds its
// lock) and survive Walk. The caller closes the returned database.
func OpenChecked(path string) (*bolt.DB, Meta, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, Meta{}, err
	}
	meta, err := Precheck(path)
	if err != nil {
		return nil, meta, err
	}
	var db *bolt.DB
	err = Guard(path, func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		return err
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, meta, fmt.Errorf("%s is in use by a running notify: stop it first", path)
	}
	if err != nil {
		return nil, meta, err
	}
	if _, err := Walk(db); err != nil {
		db.Close()
		return nil, meta, err
	}
	return db, meta, nil
}
