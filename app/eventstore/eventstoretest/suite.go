// Package eventstoretest is the contract every event-store adapter must pass. An adapter's test
// calls Run with a constructor; every case uses its own streams, so one store may serve all.
package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/eventstore"
)

// Store is the port under test.
type Store interface {
	Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error)
	ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.RecordedEvent, error)
	Subscribe(ctx context.Context, from eventstore.Position, filter eventstore.Filter, handle func(context.Context, eventstore.Batch) error) error
}

// Run runs every case against the store that newStore returns.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"TestAppend_ExpectedRevisionModes", testExpectedRevisionModes},
		{"TestAppend_WrongExpectedRevisionDetails", testWrongExpectedRevisionDetails},
		{"TestAppend_IdempotentReappend", testIdempotentReappend},
		{"TestAppend_PartialReappendIsRejected", testPartialReappend},
		{"TestAppend_EmptyIsInvalid", testEmptyAppend},
		{"TestReadStream_RoundTripAndOrder", testReadStreamRoundTrip},
		{"TestReadStream_FromAndLimit", testReadStreamFromAndLimit},
		{"TestReadStream_MissingStreamIsEmpty", testMissingStream},
		{"TestPositions_GrowWithCommitOrder", testPositionsGrow},
		{"TestSubscribe_CatchUpThenLive", testSubscribeCatchUpThenLive},
		{"TestSubscribe_FromPositionIsExclusive", testSubscribeFromPosition},
		{"TestSubscribe_FiltersByStreamPrefix", testSubscribeFilter},
		{"TestSubscribe_HandlerErrorStops", testSubscribeHandlerError},
		{"TestConcurrent_ExactlyOneNoStreamWinner", testConcurrentOneWinner},
		{"TestConcurrent_AppendersAllLand", testConcurrentAppenders},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, newStore(t))
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// prefix returns a stream prefix unique to this test run.
func prefix() string { return "ct" + uuid.NewString()[:8] + "-" }

func ev(typ string, n int) eventstore.EventData {
	return eventstore.EventData{
		ID:       uuid.New(),
		Type:     typ,
		Data:     []byte(fmt.Sprintf(`{"n":%d}`, n)),
		Metadata: []byte(fmt.Sprintf(`{"commandId":"c-%d"}`, n)),
	}
}

func evs(n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = ev("Happened", i)
	}
	return out
}

func mustAppend(t *testing.T, s Store, stream string, exp eventstore.ExpectedRevision, events ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(ctxT(t), stream, exp, events...)
	if err != nil {
		t.Fatalf("append %d events to %s (expected %s): %v", len(events), stream, exp, err)
	}
	return res
}

func readAll(t *testing.T, s Store, stream string) []eventstore.RecordedEvent {
	t.Helper()
	got, err := s.ReadStream(ctxT(t), stream, 0, 0)
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	return got
}

func testExpectedRevisionModes(t *testing.T, s Store) {
	p := prefix()
	tests := []struct {
		name     string
		existing int // events already in the stream
		expected eventstore.ExpectedRevision
		ok       bool
		wantRev  uint64
	}{
		{"no stream on missing", 0, eventstore.NoStream, true, 0},
		{"no stream on existing", 1, eventstore.NoStream, false, 0},
		{"stream exists on missing", 0, eventstore.StreamExists, false, 0},
		{"stream exists on existing", 2, eventstore.StreamExists, true, 2},
		{"any on missing", 0, eventstore.Any, true, 0},
		{"any on existing", 3, eventstore.Any, true, 3},
		{"exact matching", 2, eventstore.Exact(1), true, 2},
		{"exact behind", 3, eventstore.Exact(1), false, 0},
		{"exact ahead", 1, eventstore.Exact(4), false, 0},
		{"exact on missing", 0, eventstore.Exact(0), false, 0},
	}
	for i, tt := range tests {
		stream := fmt.Sprintf("%s%d", p, i)
		if tt.existing > 0 {
			mustAppend(t, s, stream, eventstore.NoStream, evs(tt.existing)...)
		}
		res, err := s.Append(ctxT(t), stream, tt.expected, ev("Next", 99))
		if tt.ok {
			if err != nil {
				t.Errorf("%s: append failed: %v", tt.name, err)
				continue
			}
			if res.NextRevision != tt.wantRev {
				t.Errorf("%s: next revision %d, want %d", tt.name, res.NextRevision, tt.wantRev)
			}
			if got := len(readAll(t, s, stream)); got != tt.existing+1 {
				t.Errorf("%s: stream has %d events, want %d", tt.name, got, tt.existing+1)
			}
			continue
		}
		if !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			t.Errorf("%s: error = %v, want ErrWrongExpectedRevision", tt.name, err)
		}
		if got := len(readAll(t, s, stream)); got != tt.existing {
			t.Errorf("%s: rejected append changed the stream: %d events, want %d", tt.name, got, tt.existing)
		}
	}
}

func testWrongExpectedRevisionDetails(t *testing.T, s Store) {
	stream := prefix() + "x"
	mustAppend(t, s, stream, eventstore.NoStream, evs(3)...)
	_, err := s.Append(ctxT(t), stream, eventstore.Exact(0), ev("Late", 1))
	var wer *eventstore.WrongExpectedRevisionError
	if !errors.As(err, &wer) {
		t.Fatalf("error = %v, want *WrongExpectedRevisionError", err)
	}
	if wer.Stream != stream || !wer.ActualExists || wer.Actual != 2 {
		t.Fatalf("details = %+v, want stream %s actual 2", wer, stream)
	}
}

func testIdempotentReappend(t *testing.T, s Store) {
	p := prefix()
	for i, exp := range []eventstore.ExpectedRevision{eventstore.NoStream, eventstore.Any, eventstore.Exact(0)} {
		stream := fmt.Sprintf("%s%d", p, i)
		if _, isExact := exp.Revision(); isExact {
			mustAppend(t, s, stream, eventstore.NoStream, ev("First", 0))
		}
		batch := evs(3)
		first := mustAppend(t, s, stream, exp, batch...)
		before := readAll(t, s, stream)
		again, err := s.Append(ctxT(t), stream, exp, batch...)
		if err != nil {
			t.Fatalf("expected %s: re-append of the same ids failed: %v", exp, err)
		}
		if again != first {
			t.Fatalf("expected %s: re-append result %+v, want the original %+v", exp, again, first)
		}
		if after := readAll(t, s, stream); len(after) != len(before) {
			t.Fatalf("expected %s: re-append wrote events: %d → %d", exp, len(before), len(after))
		}
		// The stream moves on; the old command redelivered still changes nothing.
		mustAppend(t, s, stream, eventstore.Any, ev("Later", 7))
		if _, err := s.Append(ctxT(t), stream, exp, batch...); err != nil {
			t.Fatalf("expected %s: re-append after the stream moved on failed: %v", exp, err)
		}
		if after := readAll(t, s, stream); len(after) != len(before)+1 {
			t.Fatalf("expected %s: late re-append wrote events: %d events, want %d", exp, len(after), len(before)+1)
		}
	}
}

func testPartialReappend(t *testing.T, s Store) {
	stream := prefix() + "x"
	batch := evs(2)
	mustAppend(t, s, stream, eventstore.NoStream, batch...)
	mixed := []eventstore.EventData{batch[0], ev("Other", 5)}
	if _, err := s.Append(ctxT(t), stream, eventstore.NoStream, mixed...); !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
		t.Fatalf("partial re-append error = %v, want ErrWrongExpectedRevision", err)
	}
	if got := len(readAll(t, s, stream)); got != 2 {
		t.Fatalf("partial re-append changed the stream to %d events", got)
	}
}

func testEmptyAppend(t *testing.T, s Store) {
	if _, err := s.Append(ctxT(t), prefix()+"x", eventstore.Any); !errors.Is(err, eventstore.ErrInvalidAppend) {
		t.Fatalf("empty append error = %v, want ErrInvalidAppend", err)
	}
}

func testReadStreamRoundTrip(t *testing.T, s Store) {
	stream := prefix() + "x"
	batch := evs(5)
	res := mustAppend(t, s, stream, eventstore.NoStream, batch...)
	got := readAll(t, s, stream)
	if len(got) != len(batch) {
		t.Fatalf("read %d events, want %d", len(got), len(batch))
	}
	for i, e := range got {
		w := batch[i]
		if e.Stream != stream || e.Revision != uint64(i) || e.ID != w.ID || e.Type != w.Type ||
			string(e.Data) != string(w.Data) || string(e.Metadata) != string(w.Metadata) {
			t.Fatalf("event %d = %+v, want %+v at revision %d", i, e, w, i)
		}
		if e.Created.IsZero() || time.Since(e.Created) > time.Hour {
			t.Fatalf("event %d created = %v, want about now", i, e.Created)
		}
		if i > 0 && e.Position <= got[i-1].Position {
			t.Fatalf("positions not increasing: %d then %d", got[i-1].Position, e.Position)
		}
	}
	if last := got[len(got)-1]; res.NextRevision != last.Revision || res.Position != last.Position {
		t.Fatalf("append result %+v, last event at revision %d position %d", res, last.Revision, last.Position)
	}
}

func testReadStreamFromAndLimit(t *testing.T, s Store) {
	stream := prefix() + "x"
	mustAppend(t, s, stream, eventstore.NoStream, evs(10)...)
	got, err := s.ReadStream(ctxT(t), stream, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Revision != 4 || got[2].Revision != 6 {
		t.Fatalf("read from 4 limit 3 = %d events starting at %v", len(got), got)
	}
	if got, _ := s.ReadStream(ctxT(t), stream, 10, 0); len(got) != 0 {
		t.Fatalf("read past the end returned %d events", len(got))
	}
}

func testMissingStream(t *testing.T, s Store) {
	got, err := s.ReadStream(ctxT(t), prefix()+"nothing", 0, 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("missing stream read = %d events, %v; want none, nil", len(got), err)
	}
}

func testPositionsGrow(t *testing.T, s Store) {
	p := prefix()
	a := mustAppend(t, s, p+"a", eventstore.NoStream, evs(2)...)
	b := mustAppend(t, s, p+"b", eventstore.NoStream, evs(1)...)
	c := mustAppend(t, s, p+"a", eventstore.Exact(1), evs(1)...)
	if !(a.Position < b.Position && b.Position < c.Position) {
		t.Fatalf("positions %d, %d, %d do not grow with commit order", a.Position, b.Position, c.Position)
	}
}

// collector gathers subscription deliveries.
type collector struct {
	mu     sync.Mutex
	events []eventstore.RecordedEvent
	last   eventstore.Position
	more   chan struct{}
}

func newCollector() *collector { return &collector{more: make(chan struct{}, 1)} }

func (c *collector) handle(_ context.Context, b eventstore.Batch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b.Position < c.last {
		return fmt.Errorf("batch position went back from %d to %d", c.last, b.Position)
	}
	for _, e := range b.Events {
		if e.Position <= c.last || e.Position > b.Position {
			return fmt.Errorf("event at %d outside (%d, %d]", e.Position, c.last, b.Position)
		}
		c.last = e.Position
	}
	c.last = b.Position
	c.events = append(c.events, b.Events...)
	select {
	case c.more <- struct{}{}:
	default:
	}
	return nil
}

func (c *collector) waitFor(t *testing.T, n int) []eventstore.RecordedEvent {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		c.mu.Lock()
		got := append([]eventstore.RecordedEvent(nil), c.events...)
		c.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-c.more:
		case <-deadline:
			t.Fatalf("subscription delivered %d events, want %d", len(got), n)
		}
	}
}

func subscribe(t *testing.T, s Store, from eventstore.Position, f eventstore.Filter) *collector {
	t.Helper()
	c := newCollector()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Subscribe(ctx, from, f, c.handle) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("subscription ended with %v", err)
		}
	})
	return c
}

func testSubscribeCatchUpThenLive(t *testing.T, s Store) {
	p := prefix()
	mustAppend(t, s, p+"a", eventstore.NoStream, evs(3)...)
	mustAppend(t, s, p+"b", eventstore.NoStream, evs(2)...)
	c := subscribe(t, s, 0, eventstore.Filter{StreamPrefix: p})
	c.waitFor(t, 5)
	mustAppend(t, s, p+"a", eventstore.Exact(2), evs(2)...)
	got := c.waitFor(t, 7)
	if len(got) != 7 {
		t.Fatalf("got %d events, want exactly 7", len(got))
	}
	wantStreams := []string{"a", "a", "a", "b", "b", "a", "a"}
	for i, e := range got {
		if e.Stream != p+wantStreams[i] {
			t.Fatalf("event %d from %s, want %s (order %v)", i, e.Stream, p+wantStreams[i], got)
		}
	}
}

func testSubscribeFromPosition(t *testing.T, s Store) {
	p := prefix()
	mustAppend(t, s, p+"a", eventstore.NoStream, evs(2)...)
	mid := mustAppend(t, s, p+"a", eventstore.Exact(1), evs(1)...)
	mustAppend(t, s, p+"a", eventstore.Exact(2), evs(2)...)
	c := subscribe(t, s, mid.Position, eventstore.Filter{StreamPrefix: p})
	got := c.waitFor(t, 2)
	if got[0].Revision != 3 || got[1].Revision != 4 {
		t.Fatalf("from position %d got revisions %d, %d; want 3, 4", mid.Position, got[0].Revision, got[1].Revision)
	}
	time.Sleep(100 * time.Millisecond)
	if extra := c.waitFor(t, 2); len(extra) != 2 {
		t.Fatalf("subscription delivered %d events, want 2", len(extra))
	}
}

func testSubscribeFilter(t *testing.T, s Store) {
	p, other := prefix(), prefix()
	c := subscribe(t, s, 0, eventstore.Filter{StreamPrefix: p})
	mustAppend(t, s, other+"x", eventstore.NoStream, evs(3)...)
	mustAppend(t, s, p+"x", eventstore.NoStream, evs(1)...)
	mustAppend(t, s, other+"y", eventstore.NoStream, evs(3)...)
	mustAppend(t, s, p+"y", eventstore.NoStream, evs(1)...)
	got := c.waitFor(t, 2)
	time.Sleep(100 * time.Millisecond)
	got = c.waitFor(t, len(got))
	if len(got) != 2 || got[0].Stream != p+"x" || got[1].Stream != p+"y" {
		t.Fatalf("filtered subscription delivered %v, want %sx then %sy only", got, p, p)
	}
}

func testSubscribeHandlerError(t *testing.T, s Store) {
	p := prefix()
	mustAppend(t, s, p+"a", eventstore.NoStream, evs(1)...)
	boom := errors.New("boom")
	err := s.Subscribe(ctxT(t), 0, eventstore.Filter{StreamPrefix: p}, func(context.Context, eventstore.Batch) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("subscribe returned %v, want the handler's error", err)
	}
}

func testConcurrentOneWinner(t *testing.T, s Store) {
	stream := prefix() + "race"
	const n = 20
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make(chan error, n)
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := s.Append(ctxT(t), stream, eventstore.NoStream, ev("Claim", 0))
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	wins := 0
	for err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, eventstore.ErrWrongExpectedRevision):
			t.Fatalf("loser got %v, want ErrWrongExpectedRevision", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d appenders won a no-stream race, want exactly 1", wins)
	}
	if got := len(readAll(t, s, stream)); got != 1 {
		t.Fatalf("stream has %d events, want 1", got)
	}
}

func testConcurrentAppenders(t *testing.T, s Store) {
	p := prefix()
	const writers, each = 16, 25
	c := subscribe(t, s, 0, eventstore.Filter{StreamPrefix: p})
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			stream := fmt.Sprintf("%s%d", p, w)
			for i := range each {
				exp := eventstore.NoStream
				if i > 0 {
					exp = eventstore.Exact(uint64(i - 1))
				}
				if _, err := s.Append(ctxT(t), stream, exp, ev("Step", i)); err != nil {
					t.Errorf("writer %d step %d: %v", w, i, err)
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	got := c.waitFor(t, writers*each)
	seen := map[eventstore.Position]bool{}
	next := map[string]uint64{}
	for _, e := range got {
		if seen[e.Position] {
			t.Fatalf("position %d delivered twice", e.Position)
		}
		seen[e.Position] = true
		if e.Revision != next[e.Stream] {
			t.Fatalf("stream %s: revision %d arrived, want %d (per-stream order broken)", e.Stream, e.Revision, next[e.Stream])
		}
		next[e.Stream]++
	}
	if len(got) != writers*each {
		t.Fatalf("subscription saw %d events, want %d", len(got), writers*each)
	}
}
