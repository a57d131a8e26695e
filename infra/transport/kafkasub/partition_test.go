package kafkasub

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// step is one thing that happens to a partition: a record fetched (key, "" for none) or the
// record at an offset handled.
type step struct {
	fetch  *string
	finish int64
}

func fetch(key string) step    { return step{fetch: &key} }
func finish(offset int64) step { return step{finish: offset} }

// The window's rules, one case each: which records start when, and where the watermark is.
func TestPartition_OrderPerKeyAndTheContiguousWatermark(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		max       int
		steps     []step
		started   []int64 // offsets started, in order
		watermark int64
		backlog   int
	}{
		{"records without a key all start at once", 8,
			[]step{fetch(""), fetch(""), fetch("")}, []int64{0, 1, 2}, 0, 0},
		{"records with different keys all start at once", 8,
			[]step{fetch("a"), fetch("b"), fetch("c")}, []int64{0, 1, 2}, 0, 0},
		{"a record waits for the one before it with its key", 8,
			[]step{fetch("a"), fetch("a"), fetch("b")}, []int64{0, 2}, 0, 0},
		{"and starts when that one is handled", 8,
			[]step{fetch("a"), fetch("a"), fetch("b"), finish(0)}, []int64{0, 2, 1}, 1, 0},
		{"one key's records start in offset order", 8,
			[]step{fetch("a"), fetch("a"), fetch("a"), finish(0), finish(1)}, []int64{0, 1, 2}, 2, 0},
		{"the watermark stops at the first record not handled", 8,
			[]step{fetch(""), fetch(""), fetch(""), finish(1), finish(2)}, []int64{0, 1, 2}, 0, 0},
		{"and jumps past every handled one when it is", 8,
			[]step{fetch(""), fetch(""), fetch(""), finish(1), finish(2), finish(0)}, []int64{0, 1, 2}, 3, 0},
		{"a held-up key holds the watermark, not the other keys", 8,
			[]step{fetch("a"), fetch("a"), fetch("b"), fetch("b"), finish(2), finish(3)}, []int64{0, 2, 3}, 0, 0},
		{"a full window keeps records in the backlog", 2,
			[]step{fetch(""), fetch(""), fetch(""), fetch("")}, []int64{0, 1}, 0, 2},
		{"a record handled out of order frees no room", 2,
			[]step{fetch(""), fetch(""), fetch(""), finish(1)}, []int64{0, 1}, 0, 1},
		{"the watermark moving frees room, in offset order", 2,
			[]step{fetch(""), fetch(""), fetch(""), fetch(""), finish(1), finish(0)}, []int64{0, 1, 2, 3}, 2, 0},
		{"a record from the backlog still waits for its key", 3,
			[]step{fetch("b"), fetch("a"), fetch("a"), fetch("a"), finish(0)}, []int64{0, 1}, 1, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPartition("t", 0, c.max, time.Now())
			var started []int64
			byOffset := map[int64]*delivery{}
			note := func(ds ...*delivery) {
				for _, d := range ds {
					if d != nil {
						started = append(started, d.rec.Offset)
						byOffset[d.rec.Offset] = d
					}
				}
			}
			var next int64
			for _, s := range c.steps {
				if s.fetch != nil {
					r := &kgo.Record{Offset: next, Key: []byte(*s.fetch)}
					next++
					note(p.take(r, time.Now()))
					continue
				}
				d, ok := byOffset[s.finish]
				if !ok {
					t.Fatalf("finish(%d): that record never started (started %v)", s.finish, started)
				}
				note(p.finish(d, time.Now())...)
			}
			if !slices.Equal(started, c.started) {
				t.Errorf("started %v, want %v", started, c.started)
			}
			if p.watermark != c.watermark {
				t.Errorf("watermark %d, want %d", p.watermark, c.watermark)
			}
			if len(p.backlog) != c.backlog {
				t.Errorf("backlog %d, want %d", len(p.backlog), c.backlog)
			}
		})
	}
}

// Records finishing in any order never move the watermark past one not finished, and once all
// are finished it is past the last; keys are released so nothing is left waiting.
func TestPartition_WatermarkUnderRandomCompletion(t *testing.T) {
	t.Parallel()
	for seed := range 50 {
		p := newPartition("t", 0, 16, time.Now())
		finished := map[int64]bool{}
		var running []*delivery
		const n = 200
		taken := int64(0)
		for step := 0; len(finished) < n; step++ {
			if taken < n && (step%3 != 0 || len(running) == 0) {
				r := &kgo.Record{Offset: taken, Key: []byte(fmt.Sprint(taken % 5))}
				if taken%7 == 0 {
					r.Key = nil
				}
				taken++
				if d := p.take(r, time.Now()); d != nil {
					running = append(running, d)
				}
				continue
			}
			if len(running) == 0 {
				t.Fatalf("seed %d: nothing running with %d of %d finished (backlog %d, keys %v)", seed, len(finished), n, len(p.backlog), p.keys)
			}
			i := (seed*31 + step*17) % len(running)
			d := running[i]
			running = slices.Delete(running, i, i+1)
			finished[d.rec.Offset] = true
			running = append(running, p.finish(d, time.Now())...)
			for o := int64(0); o < p.watermark; o++ {
				if !finished[o] {
					t.Fatalf("seed %d: watermark %d passed offset %d, not finished", seed, p.watermark, o)
				}
			}
		}
		if p.watermark != n || len(p.keys) != 0 || p.inWindow() != 0 {
			t.Fatalf("seed %d: at the end watermark %d, keys %v, window %d; want %d, none, 0", seed, p.watermark, p.keys, p.inWindow(), n)
		}
	}
}
