package inboxdb

// Write-out: a copy built in memory written to its bucket in key order.

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/eventnotify/notify/projections/inbox"
)

// writeOut writes the copy built in memory to its bucket in key order, in transactions of
// writeChunk keys: the documents, then the id index, then the counts, and the checkpoints
// last, so a copy is never ahead of what it holds. Two goroutines encode the chunks, in order,
// while the writer inserts each one as soon as it is ready.
func (c *Copy) writeOut() error {
	m := c.mem
	docOrder, idOrder := m.orders()
	n := len(m.rows)
	per := (n + writeChunk - 1) / writeChunk
	type chunk struct {
		bucket []byte
		rows   []kv
		err    error
		ready  chan struct{}
	}
	chunks := make([]chunk, 2*per)
	for i := range chunks {
		chunks[i].bucket, chunks[i].ready = bucketDocs, make(chan struct{})
		if i >= per {
			chunks[i].bucket = bucketByID
		}
	}
	build := func(i int) {
		ch := &chunks[i]
		defer close(ch.ready)
		lo := (i % per) * writeChunk
		hi := min(lo+writeChunk, n)
		ch.rows = make([]kv, 0, hi-lo)
		// Keys and documents are cut from large buffers: a full buffer is replaced, never
		// reused, so every slice stays valid until it is written.
		order := docOrder
		if i >= per {
			order = idOrder
		}
		var buf []byte
		for _, o := range order[lo:hi] {
			r := &m.rows[o.row]
			if cap(buf)-len(buf) < 1024+2*int(r.contentN) {
				buf = make([]byte, 0, 1<<20)
			}
			start := len(buf)
			buf = docKeyTo(buf, m.strs[r.recipient], r.seq)
			key := buf[start:len(buf):len(buf)]
			if i >= per { // the id index: id → document key
				start = len(buf)
				buf = append(buf, r.id.String()...)
				ch.rows = append(ch.rows, kv{buf[start:len(buf):len(buf)], key})
				continue
			}
			start = len(buf)
			var err error
			if buf, err = inbox.AppendJSON(append(buf, make([]byte, sealLen)...), m.view(o.row)); err != nil {
				ch.err = fmt.Errorf("inboxdb: encode %s: %w", r.id, err)
				return
			}
			ch.rows = append(ch.rows, kv{key, sealed(buf[start:len(buf):len(buf)])})
		}
	}
	stop := make(chan struct{})
	defer close(stop)
	for w := range 2 {
		go func() {
			for i := w; i < len(chunks); i += 2 {
				select {
				case <-stop:
					return
				default:
				}
				build(i)
			}
		}()
	}
	for i := range chunks {
		ch := &chunks[i]
		<-ch.ready
		if ch.err != nil {
			return ch.err
		}
		if err := c.put(ch.bucket, ch.rows); err != nil {
			return err
		}
		ch.rows = nil // written: let the collector have it
	}
	totals := make([]kv, 0, len(m.counts))
	for r, n := range m.counts {
		if n != (inbox.Counts{}) {
			totals = append(totals, kv{[]byte(m.strs[r]), encodeCounts(n)})
		}
	}
	slices.SortFunc(totals, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
	for len(totals) > 0 {
		k := min(len(totals), writeChunk)
		if err := c.put(bucketCounts, totals[:k]); err != nil {
			return err
		}
		totals = totals[k:]
	}
	cps := make([]kv, 0, len(m.checkpoints))
	for _, name := range slices.Sorted(maps.Keys(m.checkpoints)) {
		cps = append(cps, kv{[]byte(name), binary.BigEndian.AppendUint64(nil, uint64(m.checkpoints[name]))})
	}
	if err := c.put(bucketCPs, cps); err != nil {
		return err
	}
	c.mem = nil
	return nil
}

type kv struct{ k, v []byte }

// put writes rows, in key order, into one of the copy's buckets in one transaction.
func (c *Copy) put(bucket []byte, rows []kv) error {
	err := c.s.db.Update(func(tx *bolt.Tx) error {
		cb := tx.Bucket(c.bucket)
		if cb == nil {
			return errCopyGone
		}
		b := cb.Bucket(bucket)
		b.FillPercent = 1 // keys arrive in order: fill each page
		for _, r := range rows {
			if err := b.Put(r.k, r.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("inboxdb: write the copy's %s: %w", bucket, err)
	}
	return nil
}

// ordered is a row with its sort key packed in two words.
type ordered struct {
	hi, lo uint64
	row    uint32
}

// orders returns the rows in document-key order and in id order. Both sort as integers: a
// document key is the recipient, a 0 byte, then the position inverted, so the recipient's
// rank among the interned strings (recipient ids have no control characters) and the inverted
// position packed in two words sort as the keys do; a canonical UUID's text sorts as its bytes.
func (m *memCopy) orders() (docs, ids []ordered) {
	byString := make([]uint32, len(m.strs))
	for i := range byString {
		byString[i] = uint32(i)
	}
	slices.SortFunc(byString, func(a, b uint32) int { return strings.Compare(m.strs[a], m.strs[b]) })
	rank := make([]uint32, len(m.strs))
	for r, i := range byString {
		rank[i] = uint32(r)
	}
	byWords := func(a, b ordered) int {
		if c := cmp.Compare(a.hi, b.hi); c != 0 {
			return c
		}
		return cmp.Compare(a.lo, b.lo)
	}
	docs = make([]ordered, len(m.rows))
	ids = make([]ordered, len(m.rows))
	for i := range m.rows {
		r := &m.rows[i]
		docs[i] = ordered{hi: uint64(rank[r.recipient]), lo: ^uint64(r.seq), row: uint32(i)}
		ids[i] = ordered{hi: binary.BigEndian.Uint64(r.id[:8]), lo: binary.BigEndian.Uint64(r.id[8:]), row: uint32(i)}
	}
	var wg sync.WaitGroup
	wg.Go(func() { slices.SortFunc(docs, byWords) })
	slices.SortFunc(ids, byWords)
	wg.Wait()
	return docs, ids
}

// writeChunk is how many keys one transaction of writeOut puts.
const writeChunk = 20_000
