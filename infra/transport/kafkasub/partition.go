package kafkasub

import (
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// partition is the state of one assigned partition: the window of records taken from the
// watermark on (in flight, queued behind their key, or done but not yet contiguous), the keys
// busy in it, and the records fetched while the window was full. Its methods run under the
// subscription's lock; they only decide, and return the deliveries to start.
type partition struct {
	topic string
	id    int32
	max   int // window size: records taken but not yet below the watermark

	window  []*delivery // taken, in offset order; window[head] is at the watermark
	head    int
	keys    map[string]*delivery // busy key → the last taken delivery with it
	backlog []*kgo.Record        // fetched while the window was full, in offset order
	paused  bool                 // fetching paused until the backlog drains

	watermark int64 // offset of the first record not done: the commit point (-1: none taken yet)
	epoch     int32 // leader epoch of the record before the watermark, for the commit (-1: unknown)
	committed int64 // the last watermark the broker acknowledged (-1: none this session)
	hwm       int64 // the partition's high watermark, from the latest fetch
	advanced  time.Time

	stop    chan struct{} // closed when revoked, lost or stopping: nothing more is sent
	abandon chan struct{} // closed when what is still in flight is given up
	wg      sync.WaitGroup
	gone    bool
}

// delivery is one record of a partition on its way through the handler.
type delivery struct {
	rec   *kgo.Record
	p     *partition
	key   string // "" when the record has no key: it waits for nothing
	taken time.Time
	done  bool
	next  *delivery // the next record with the same key, started when this one is done
}

func newPartition(topic string, id int32, max int, now time.Time) *partition {
	return &partition{
		topic: topic, id: id, max: max, keys: map[string]*delivery{},
		watermark: -1, epoch: -1, committed: -1, hwm: -1, advanced: now,
		stop: make(chan struct{}), abandon: make(chan struct{}),
	}
}

// inWindow is how many records are taken and not yet below the watermark.
func (p *partition) inWindow() int { return len(p.window) - p.head }

// take adds a fetched record. It returns the delivery to start now, or nil when the record
// waits: behind an earlier record with its key, or in the backlog while the window is full.
func (p *partition) take(r *kgo.Record, now time.Time) *delivery {
	if len(p.backlog) > 0 || p.inWindow() >= p.max {
		p.backlog = append(p.backlog, r)
		return nil
	}
	return p.admit(r, now)
}

// admit puts r in the window.
func (p *partition) admit(r *kgo.Record, now time.Time) *delivery {
	d := &delivery{rec: r, p: p, key: string(r.Key), taken: now}
	if p.inWindow() == 0 {
		p.watermark = r.Offset // past any gap (compaction, transaction markers)
	}
	p.window = append(p.window, d)
	if d.key == "" {
		return d
	}
	if last, busy := p.keys[d.key]; busy {
		last.next = d
		p.keys[d.key] = d
		return nil
	}
	p.keys[d.key] = d
	return d
}

// finish marks d handled and returns what may start because of it: the next record with its
// key, and records from the backlog that now fit in the window.
func (p *partition) finish(d *delivery, now time.Time) []*delivery {
	d.done = true
	var start []*delivery
	if d.key != "" {
		if d.next != nil {
			start = append(start, d.next)
		} else if p.keys[d.key] == d {
			delete(p.keys, d.key)
		}
	}
	moved := false
	for p.head < len(p.window) && p.window[p.head].done {
		r := p.window[p.head].rec
		p.window[p.head] = nil
		p.head++
		p.watermark, p.epoch = r.Offset+1, r.LeaderEpoch
		moved = true
	}
	if moved {
		p.advanced = now
		if p.head == len(p.window) {
			p.window, p.head = p.window[:0], 0
		} else if p.head >= 1024 && 2*p.head >= len(p.window) {
			n := copy(p.window, p.window[p.head:])
			clear(p.window[n:])
			p.window, p.head = p.window[:n], 0
		}
	}
	for len(p.backlog) > 0 && p.inWindow() < p.max {
		r := p.backlog[0]
		p.backlog[0] = nil
		p.backlog = p.backlog[1:]
		if d := p.admit(r, now); d != nil {
			start = append(start, d)
		}
	}
	if len(p.backlog) == 0 {
		p.backlog = nil
	}
	return start
}

// oldest is when the record at the watermark was taken (zero when nothing is in the window).
func (p *partition) oldest() time.Time {
	if p.inWindow() == 0 {
		return time.Time{}
	}
	return p.window[p.head].taken
}
