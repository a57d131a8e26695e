package pginbox

import (
	"hash/maphash"

	"github.com/eventnotify/notify/projections/inbox"
)

// known is what a copy being built knows of its own rows without asking the database: it is
// the copy's only writer, so every row in it is one it wrote. It keeps the views written in
// recent batches (replay reads a notification mostly soon after its send), and a Bloom filter
// of every id written, which proves most new notifications absent. A batch whose reads it
// answers entirely needs no query, and is folded while the previous batch commits.
//
// Its answers must never be wrong, only missing: the views are forgotten whenever a batch
// fails (the database may not hold what they say), and the filter only errs towards "may be
// there", which sends the batch to the database.
type known struct {
	recent, older map[string]inbox.View
	filters       []bloom
	seed          maphash.Seed
}

// knownRecent is how many written views are kept, in two generations of this size.
const knownRecent = 32 << 10

func newKnown() *known {
	return &known{recent: map[string]inbox.View{}, older: map[string]inbox.View{}, seed: maphash.MakeSeed(), filters: []bloom{newBloom(1 << 20)}}
}

// lookup answers for id: its view, or that it is absent, or (ok false) that it cannot tell.
func (k *known) lookup(id string) (v inbox.View, exists, ok bool) {
	if v, ok := k.recent[id]; ok {
		return v, true, true
	}
	if v, ok := k.older[id]; ok {
		return v, true, true
	}
	h := maphash.String(k.seed, id)
	for i := range k.filters {
		if k.filters[i].has(h) {
			return inbox.View{}, false, false
		}
	}
	return inbox.View{}, false, true
}

// wrote notes the rows a prepared batch writes.
func (k *known) wrote(t *txn) {
	for _, id := range t.written {
		k.recent[id] = t.current[id]
		if len(k.recent) >= knownRecent {
			k.older, k.recent = k.recent, make(map[string]inbox.View, knownRecent)
		}
		f := &k.filters[len(k.filters)-1]
		if f.n >= f.capacity() {
			k.filters = append(k.filters, newBloom(2*len(f.bits)*64))
			f = &k.filters[len(k.filters)-1]
		}
		f.add(maphash.String(k.seed, id))
	}
}

// forget drops the views, after a batch failed; the filter stays (it may only say too much).
func (k *known) forget() {
	k.recent, k.older = map[string]inbox.View{}, map[string]inbox.View{}
}

// bloom is a Bloom filter of m bits with 11 probes, 16 bits an id at capacity: about 0.05 %
// false positives, so that most batches of a few hundred new ids have none.
type bloom struct {
	bits []uint64
	n    int
}

const bloomProbes = 11

func newBloom(m int) bloom { return bloom{bits: make([]uint64, m/64)} }

func (b *bloom) capacity() int { return len(b.bits) * 64 / 16 }

func (b *bloom) add(h uint64) {
	m := uint64(len(b.bits) * 64)
	h1, h2 := h, h>>32|1
	for i := range uint64(bloomProbes) {
		p := (h1 + i*h2) % m
		b.bits[p/64] |= 1 << (p % 64)
	}
	b.n++
}

func (b *bloom) has(h uint64) bool {
	m := uint64(len(b.bits) * 64)
	h1, h2 := h, h>>32|1
	for i := range uint64(bloomProbes) {
		p := (h1 + i*h2) % m
		if b.bits[p/64]&(1<<(p%64)) == 0 {
			return false
		}
	}
	return true
}
