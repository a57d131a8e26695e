package eventlog

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"time"
	"unicode/utf8"

	"github.com/eventnotify/notify/app/eventstore"
)

// A record is one event in the log bucket, keyed by its 8-byte big-endian position:
//
//	uvarint len | stream | uvarint revision | uvarint previous | 16-byte id |
//	uvarint len | type | uvarint len | data | uvarint len | metadata | varint created (unix ns)
//
// previous is the position of the stream's event before this one (unused at revision 0):
// the records of a stream form a chain from its last event back to its first. Records written
// since checksums came (positions from the meta bucket's crc-from on) end with the CRC-32C
// (Castagnoli) of the rest, big-endian.
//
// data and meta are the record's data and metadata (they alias b).
func appendRecord(b []byte, stream string, rev, prev uint64, e eventstore.EventData, created time.Time) (rec, data, meta []byte) {
	b = binary.AppendUvarint(b, uint64(len(stream)))
	b = append(b, stream...)
	b = binary.AppendUvarint(b, rev)
	b = binary.AppendUvarint(b, prev)
	b = append(b, e.ID[:]...)
	b = binary.AppendUvarint(b, uint64(len(e.Type)))
	b = append(b, e.Type...)
	b = binary.AppendUvarint(b, uint64(len(e.Data)))
	dataAt := len(b)
	b = append(b, e.Data...)
	b = binary.AppendUvarint(b, uint64(len(e.Metadata)))
	metaAt := len(b)
	b = append(b, e.Metadata...)
	b = binary.AppendVarint(b, created.UnixNano())
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	return b, b[dataAt : dataAt+len(e.Data) : dataAt+len(e.Data)], b[metaAt : metaAt+len(e.Metadata) : metaAt+len(e.Metadata)]
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checked returns the record at pos without its checksum, once the checksum matches; records
// before crcFrom have none.
func checked(pos, crcFrom uint64, b []byte) ([]byte, error) {
	if pos < crcFrom {
		return b, nil
	}
	if len(b) < 4 {
		return nil, errCorrupt
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return nil, errChecksum
	}
	return body, nil
}

var errChecksum = errors.New("eventlog: record checksum mismatch")

// corruptError describes the record at pos that failed: the stream as far as its header
// still reads.
func corruptError(pos uint64, b []byte, err error) *eventstore.CorruptError {
	e := &eventstore.CorruptError{Position: eventstore.Position(pos), Reason: err.Error()}
	if s, serr := streamOf(b); serr == nil && utf8.Valid(s) {
		e.Stream = string(s)
	}
	return e
}

var errCorrupt = errors.New("eventlog: corrupt record")

// recordReader walks a record; the first error sticks.
type recordReader struct {
	b   []byte
	err error
}

func (r *recordReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if uint64(len(r.b)) < n {
		r.err = errCorrupt
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// header is the part of a record that locates it in its stream (stream and id alias the record).
type header struct {
	stream    []byte
	rev, prev uint64
	id        []byte
}

func readHeader(b []byte) (header, error) {
	r := recordReader{b: b}
	var h header
	h.stream = r.bytes(r.uvarint())
	h.rev = r.uvarint()
	h.prev = r.uvarint()
	h.id = r.bytes(16)
	return h, r.err
}

// streamOf returns the stream name of a record without decoding the rest (the bytes alias b).
func streamOf(b []byte) ([]byte, error) {
	r := recordReader{b: b}
	s := r.bytes(r.uvarint())
	return s, r.err
}

// decodeRecord copies a record out of bbolt's memory, which is only valid inside the transaction.
func decodeRecord(pos uint64, b []byte) (eventstore.RecordedEvent, error) {
	r := recordReader{b: b}
	var e eventstore.RecordedEvent
	e.Position = eventstore.Position(pos)
	e.Stream = string(r.bytes(r.uvarint()))
	e.Revision = r.uvarint()
	r.uvarint() // previous position
	copy(e.ID[:], r.bytes(16))
	e.Type = string(r.bytes(r.uvarint()))
	e.Data = clone(r.bytes(r.uvarint()))
	e.Metadata = clone(r.bytes(r.uvarint()))
	if r.err == nil {
		ns, n := binary.Varint(r.b)
		if n <= 0 || n != len(r.b) {
			r.err = errCorrupt
		}
		e.Created = time.Unix(0, ns).UTC()
	}
	return e, r.err
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

func be64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v) }
