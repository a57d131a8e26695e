package inboxdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/eventnotify/notify/infra/platform/boltfile"
	"github.com/eventnotify/notify/projections"
)

// Documents and counts are sealed: a 4-byte CRC-32C (Castagnoli) of the value, big-endian, in
// front of it. A value whose seal does not match is damaged: it is never served, and the read
// model is rebuilt from the log.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// sealLen is the room seal needs in front of a value.
const sealLen = 4

// sealed fills the seal of b, whose first sealLen bytes were left for it.
func sealed(b []byte) []byte {
	binary.BigEndian.PutUint32(b, crc32.Checksum(b[sealLen:], castagnoli))
	return b
}

// unseal returns the value under a seal, or an error wrapping ErrDamaged.
func unseal(v []byte) ([]byte, error) {
	if len(v) < sealLen || crc32.Checksum(v[sealLen:], castagnoli) != binary.BigEndian.Uint32(v) {
		return nil, errDamagedValue
	}
	return v[sealLen:], nil
}

// ErrDamaged matches the errors of reads that found the read model damaged (a value whose seal
// fails, a page bbolt cannot read). The read model is rebuilt from the log (see OnDamage).
var ErrDamaged = fmt.Errorf("inboxdb: %w: %w", projections.ErrDamaged, boltfile.ErrDamaged)

var errDamagedValue = fmt.Errorf("%w (a stored value fails its checksum)", ErrDamaged)

func isDamage(err error) bool { return errors.Is(err, boltfile.ErrDamaged) }
