package esdb_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/app/eventstore/eventstoretest"
	"github.com/eventnotify/notify/infra/store/esdb"
	"github.com/eventnotify/notify/infra/store/esdb/esdbtest"
)

// quiet keeps the client's and the adapter's log lines out of test output unless -v.
func quiet(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func open(t *testing.T, url string, opts esdb.Options) *esdb.Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet(t)
	}
	s, err := esdb.Open(url, opts)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func event(typ string, n int) eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: typ, Data: []byte(fmt.Sprintf(`{"n":%d}`, n)), Metadata: []byte(`{"commandId":"c"}`)}
}

func prefix() string { return "es" + uuid.NewString()[:8] + "-" }

// TestContract runs the whole event-store contract through the official client against the
// double over gRPC on loopback.
func TestContract(t *testing.T) {
	t.Parallel()
	srv := esdbtest.Run(t)
	shared := open(t, srv.URL(), esdb.Options{})
	eventstoretest.Run(t, func(*testing.T) eventstoretest.Store { return shared })
}

// TestContract_DiscoveryThroughGossip runs the contract again with an esdb+discover://
// string, so the client first asks the double's Gossip service for the cluster's leader.
func TestContract_DiscoveryThroughGossip(t *testing.T) {
	t.Parallel()
	srv := esdbtest.Run(t)
	shared := open(t, "esdb+discover://"+srv.Addr()+"?tls=false", esdb.Options{})
	eventstoretest.Run(t, func(*testing.T) eventstoretest.Store { return shared })
}

// TestContract_RealServer runs the contract against a real EventStoreDB when ESDB_URL holds
// its connection string (reading and subscribing to $all needs a user the $all ACL allows).
func TestContract_RealServer(t *testing.T) {
	url := os.Getenv("ESDB_URL")
	if url == "" {
		t.Skip("ESDB_URL is not set, so the contract is not run against a real EventStoreDB; to run it: ESDB_URL='esdb://127.0.0.1:2113?tls=false' go test -race -count=1 -run TestContract_RealServer ./infra/store/esdb/")
	}
	t.Parallel()
	shared := open(t, url, esdb.Options{})
	eventstoretest.Run(t, func(*testing.T) eventstoretest.Store { return shared })
}

func TestAppend_ErrorMapping(t *testing.T) {
	t.Parallel()
	srv := esdbtest.Run(t)
	s := open(t, srv.URL(), esdb.Options{})
	p := prefix()
	existing := p + "existing"
	if _, err := s.Append(ctxT(t, 10*time.Second), existing, eventstore.NoStream, event("A", 0), event("A", 1)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		stream     string
		expected   eventstore.ExpectedRevision
		events     []eventstore.EventData
		wantErr    error
		wantActual uint64
		wantExists bool
	}{
		{"exact on missing stream", p + "missing", eventstore.Exact(3), []eventstore.EventData{event("A", 0)}, eventstore.ErrWrongExpectedRevision, 0, false},
		{"stream exists on missing stream", p + "missing", eventstore.StreamExists, []eventstore.EventData{event("A", 0)}, eventstore.ErrWrongExpectedRevision, 0, false},
		{"no stream on existing", existing, eventstore.NoStream, []eventstore.EventData{event("A", 0)}, eventstore.ErrWrongExpectedRevision, 1, true},
		{"exact ahead", existing, eventstore.Exact(7), []eventstore.EventData{event("A", 0)}, eventstore.ErrWrongExpectedRevision, 1, true},
		{"no events", existing, eventstore.Any, nil, eventstore.ErrInvalidAppend, 0, false},
		{"nil event id", existing, eventstore.Any, []eventstore.EventData{{Type: "A", Data: []byte(`{}`)}}, eventstore.ErrInvalidAppend, 0, false},
		{"empty type", existing, eventstore.Any, []eventstore.EventData{{ID: uuid.New(), Data: []byte(`{}`)}}, eventstore.ErrInvalidAppend, 0, false},
		{"over the server's 1 MiB append limit", existing, eventstore.Any, []eventstore.EventData{{ID: uuid.New(), Type: "Big", Data: make([]byte, 1<<20+1)}}, eventstore.ErrInvalidAppend, 0, false},
	}
	for _, tt := range tests {
		_, err := s.Append(ctxT(t, 10*time.Second), tt.stream, tt.expected, tt.events...)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: error = %v, want %v", tt.name, err, tt.wantErr)
			continue
		}
		var wer *eventstore.WrongExpectedRevisionError
		if errors.As(err, &wer) && (wer.Stream != tt.stream || wer.Actual != tt.wantActual || wer.ActualExists != tt.wantExists || wer.Expected != tt.expected) {
			t.Errorf("%s: details %+v, want stream %s actual %d exists %v", tt.name, wer, tt.stream, tt.wantActual, tt.wantExists)
		}
	}
	if got, _ := s.ReadStream(ctxT(t, 10*time.Second), existing, 0, 0); len(got) != 2 {
		t.Fatalf("rejected appends changed the stream: %d events, want 2", len(got))
	}
}

// TestAppend_ContextEndsWhileServerIsDown: while the node is away the client blocks
// reconnecting without a context; the adapter still returns when the caller's context ends,
// and works again once the node is back.
func TestAppend_ContextEndsWhileServerIsDown(t *testing.T) {
	t.Parallel()
	srv := esdbtest.Run(t)
	s := open(t, srv.URL(), esdb.Options{})
	stream := prefix() + "x"
	if _, err := s.Append(ctxT(t, 10*time.Second), stream, eventstore.NoStream, event("A", 0)); err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr()
	srv.Stop()
	for range 2 { // the first call may fail fast on the dead connection; the next one blocks reconnecting
		start := time.Now()
		_, err := s.Append(ctxT(t, 300*time.Millisecond), stream, eventstore.Exact(0), event("A", 1))
		if err == nil {
			t.Fatal("append succeeded with the server down")
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("append took %v with a 300ms context", took)
		}
	}
	if err := srv.Start(addr); err != nil {
		t.Fatal(err)
	}
	next := event("A", 1)
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err = s.Append(ctxT(t, 2*time.Second), stream, eventstore.Exact(0), next); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("append after the server came back: %v", err)
	}
	if got, _ := s.ReadStream(ctxT(t, 10*time.Second), stream, 0, 0); len(got) != 2 {
		t.Fatalf("stream has %d events, want 2", len(got))
	}
}

// collector records what a subscription delivers and checks the port's batch rules as it goes.
type collector struct {
	mu      sync.Mutex
	events  []eventstore.RecordedEvent
	batches []eventstore.Batch
	last    eventstore.Position
	err     error
	more    chan struct{}
}

func newCollector() *collector { return &collector{more: make(chan struct{}, 1)} }

func (c *collector) handle(_ context.Context, b eventstore.Batch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range b.Events {
		if c.err == nil && (e.Position <= c.last || e.Position > b.Position) {
			c.err = fmt.Errorf("event at %d outside (%d, %d]", e.Position, c.last, b.Position)
		}
		if c.err == nil && (strings.HasPrefix(e.Stream, "$") || strings.HasPrefix(e.Type, "$")) {
			c.err = fmt.Errorf("system event delivered: %s %s", e.Stream, e.Type)
		}
		c.last = e.Position
	}
	if c.err == nil && b.Position < c.last {
		c.err = fmt.Errorf("batch position %d behind its events (%d)", b.Position, c.last)
	}
	c.last = b.Position
	c.events = append(c.events, b.Events...)
	c.batches = append(c.batches, b)
	select {
	case c.more <- struct{}{}:
	default:
	}
	return nil
}

func (c *collector) snapshot() ([]eventstore.RecordedEvent, []eventstore.Batch, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]eventstore.RecordedEvent(nil), c.events...), append([]eventstore.Batch(nil), c.batches...), c.err
}

// wait blocks until ok holds for what was delivered, or fails the test after d.
func (c *collector) wait(t *testing.T, d time.Duration, what string, ok func([]eventstore.RecordedEvent, []eventstore.Batch) bool) []eventstore.RecordedEvent {
	t.Helper()
	deadline := time.After(d)
	for {
		events, batches, err := c.snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if ok(events, batches) {
			return events
		}
		select {
		case <-c.more:
		case <-deadline:
			t.Fatalf("timed out waiting for %s: %d events in %d batches delivered", what, len(events), len(batches))
		}
	}
}

func subscribe(t *testing.T, s *esdb.Store, from eventstore.Position, f eventstore.Filter) *collector {
	t.Helper()
	c := newCollector()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Subscribe(ctx, from, f, c.handle) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("subscription ended with %v, want context.Canceled", err)
		}
	})
	return c
}

// TestSubscribe_SurvivesServerRestart stops the node in the middle of a stream of appends
// and live deliveries and brings it back on the same address with the same log. Appends
// retried across the outage re-send the same ids at the same expected revision, so they land
// once; the subscription resumes from its last delivered position: every event arrives
// exactly once, in order.
func TestSubscribe_SurvivesServerRestart(t *testing.T) {
	t.Parallel()
	srv := esdbtest.Run(t)
	s := open(t, srv.URL(), esdb.Options{ResubscribeMin: 20 * time.Millisecond, ResubscribeMax: 200 * time.Millisecond})
	p := prefix()
	const streams, rounds = 4, 40
	total := streams * rounds
	c := subscribe(t, s, 0, eventstore.Filter{StreamPrefix: p})

	ids := make([][]uuid.UUID, streams)
	for i := range ids {
		ids[i] = make([]uuid.UUID, rounds)
		for j := range ids[i] {
			ids[i][j] = uuid.New()
		}
	}
	retries := 0
	var appended atomic.Int64
	appendRetrying := func(st, round int) {
		exp := eventstore.NoStream
		if round > 0 {
			exp = eventstore.Exact(uint64(round - 1))
		}
		e := eventstore.EventData{ID: ids[st][round], Type: "Step", Data: []byte(fmt.Sprintf(`{"round":%d}`, round))}
		deadline := time.Now().Add(15 * time.Second)
		for {
			_, err := s.Append(ctxT(t, time.Second), fmt.Sprintf("%s%d", p, st), exp, e)
			if err == nil {
				appended.Add(1)
				return
			}
			if errors.Is(err, eventstore.ErrWrongExpectedRevision) || time.Now().After(deadline) {
				t.Errorf("stream %d round %d: %v", st, round, err)
				return
			}
			retries++
			time.Sleep(20 * time.Millisecond)
		}
	}

	restarted := make(chan struct{})
	var atStop int64
	go func() {
		defer close(restarted)
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
			if events, _, _ := c.snapshot(); len(events) >= total/3 {
				break
			}
			if time.Now().After(deadline) {
				t.Error("a third of the events never arrived before the restart")
				return
			}
		}
		addr := srv.Addr()
		srv.Stop()
		atStop = appended.Load()
		time.Sleep(300 * time.Millisecond)
		if err := srv.Start(addr); err != nil {
			t.Errorf("restart on %s: %v", addr, err)
		}
	}()
	for round := range rounds {
		for st := range streams {
			appendRetrying(st, round)
		}
		time.Sleep(5 * time.Millisecond)
	}
	<-restarted
	if atStop == 0 || atStop >= int64(total) {
		t.Fatalf("the node stopped after %d of %d appends: not in the middle of the stream", atStop, total)
	}

	c.wait(t, 20*time.Second, "every event", func(e []eventstore.RecordedEvent, _ []eventstore.Batch) bool { return len(e) >= total })
	time.Sleep(100 * time.Millisecond) // anything repeated would arrive now
	got, _, _ := c.snapshot()
	if len(got) != total {
		t.Fatalf("delivered %d events, want exactly %d", len(got), total)
	}
	next := map[string]uint64{}
	for i, e := range got {
		if i > 0 && e.Position <= got[i-1].Position {
			t.Fatalf("event %d at %d after %d: order broken", i, e.Position, got[i-1].Position)
		}
		if e.Revision != next[e.Stream] {
			t.Fatalf("stream %s: revision %d delivered, want %d (lost or repeated event)", e.Stream, e.Revision, next[e.Stream])
		}
		var st int
		fmt.Sscanf(strings.TrimPrefix(e.Stream, p), "%d", &st)
		if e.ID != ids[st][e.Revision] {
			t.Fatalf("stream %s revision %d has id %s, want %s", e.Stream, e.Revision, e.ID, ids[st][e.Revision])
		}
		next[e.Stream]++
	}
	for st := range streams {
		stream := fmt.Sprintf("%s%d", p, st)
		if events, err := s.ReadStream(ctxT(t, 10*time.Second), stream, 0, 0); err != nil || len(events) != rounds {
			t.Fatalf("stream %s holds %d events (%v), want %d: a retried append wrote twice", stream, len(events), err, rounds)
		}
	}
	if n := srv.Subscriptions(); n < 2 {
		t.Fatalf("the double confirmed %d subscriptions: the restart did not drop the subscription", n)
	}
	t.Logf("node stopped after %d of %d appends; %d appends retried across the outage; %d subscriptions confirmed", atStop, total, retries, srv.Subscriptions())
}

// TestSubscribe_NeverDeliversSystemEvents: with no prefix the subscription covers every
// stream, and the node's own events ($epoch-information, $stats-…) still never arrive; the
// position still moves past them.
func TestSubscribe_NeverDeliversSystemEvents(t *testing.T) {
	t.Parallel()
	srv := esdbtest.Run(t)
	s := open(t, srv.URL(), esdb.Options{MaxSearchWindow: 2})
	srv.AppendSystemEvent("$stats-127.0.0.1:2113", "$statsCollected")
	a := mustAppend(t, s, "user-a", eventstore.NoStream, event("A", 0))
	srv.AppendSystemEvent("$stats-127.0.0.1:2113", "$statsCollected")
	c := subscribe(t, s, 0, eventstore.Filter{})
	c.wait(t, 10*time.Second, "the first user event", func(e []eventstore.RecordedEvent, _ []eventstore.Batch) bool { return len(e) >= 1 })
	srv.AppendSystemEvent("$stats-127.0.0.1:2113", "$statsCollected")
	b := mustAppend(t, s, "user-b", eventstore.NoStream, event("B", 0))
	for range 5 {
		srv.AppendSystemEvent("$stats-127.0.0.1:2113", "$statsCollected")
	}
	got := c.wait(t, 10*time.Second, "a position past the trailing system events", func(e []eventstore.RecordedEvent, bs []eventstore.Batch) bool {
		return len(e) >= 2 && bs[len(bs)-1].Position > b.Position
	})
	if len(got) != 2 || got[0].Position != a.Position || got[1].Position != b.Position {
		t.Fatalf("delivered %+v, want exactly user-a then user-b", got)
	}
}

// TestSubscribe_CheckpointsResumeWithoutGapOrRepeat: with a small search window the server
// reports checkpoints while it searches past other streams, so a batch's position moves past
// events it does not carry. Every batch position, checkpoint-made ones included, is a place to
// resume from that skips nothing and repeats nothing.
func TestSubscribe_CheckpointsResumeWithoutGapOrRepeat(t *testing.T) {
	t.Parallel()
	srv := esdbtest.Run(t)
	s := open(t, srv.URL(), esdb.Options{MaxSearchWindow: 3})
	p, other := prefix(), prefix()
	noise := func(i, n int) {
		for j := range n {
			mustAppend(t, s, fmt.Sprintf("%s%d-%d", other, i, j), eventstore.NoStream, event("Noise", j))
		}
	}
	var want []eventstore.AppendResult
	for i := range 6 {
		noise(i, 7)
		want = append(want, mustAppend(t, s, fmt.Sprintf("%s%d", p, i), eventstore.NoStream, event("Wanted", i)))
	}
	noise(99, 10)
	lastWanted := want[len(want)-1].Position
	c := subscribe(t, s, 0, eventstore.Filter{StreamPrefix: p})
	c.wait(t, 10*time.Second, "a position past the trailing events of other streams", func(e []eventstore.RecordedEvent, bs []eventstore.Batch) bool {
		return len(e) == len(want) && bs[len(bs)-1].Position > lastWanted
	})
	got, batches, _ := c.snapshot()
	for i, e := range got {
		if e.Position != want[i].Position {
			t.Fatalf("event %d at %d, want %d", i, e.Position, want[i].Position)
		}
	}
	// Resume from every batch position and from just before and at every wanted event: the
	// first event delivered must be the first wanted event after that position, exactly.
	from := map[eventstore.Position]bool{}
	for _, b := range batches {
		from[b.Position] = true
	}
	for _, w := range want {
		from[w.Position-1], from[w.Position] = true, true
	}
	for pos := range from {
		var next eventstore.Position
		for _, w := range want {
			if w.Position > pos {
				next = w.Position
				break
			}
		}
		r := newCollector()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Subscribe(ctx, pos, eventstore.Filter{StreamPrefix: p}, r.handle) }()
		if next == 0 {
			time.Sleep(200 * time.Millisecond) // nothing may come
		} else {
			r.wait(t, 10*time.Second, "an event after a resume", func(e []eventstore.RecordedEvent, _ []eventstore.Batch) bool { return len(e) >= 1 })
		}
		cancel()
		<-done
		events, _, err := r.snapshot()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case next == 0 && len(events) > 0:
			t.Fatalf("resumed from %d after the last wanted event: got an event at %d", pos, events[0].Position)
		case next != 0 && events[0].Position != next:
			t.Fatalf("resumed from %d: first event at %d, want %d", pos, events[0].Position, next)
		}
	}
}

// TestSubscribe_BatchesEventsAlreadyAvailable: a catch-up over many events arrives in a few
// batches, not one call per event.
func TestSubscribe_BatchesEventsAlreadyAvailable(t *testing.T) {
	t.Parallel()
	srv := esdbtest.Run(t)
	s := open(t, srv.URL(), esdb.Options{})
	p := prefix()
	batch := make([]eventstore.EventData, 200)
	for i := range batch {
		batch[i] = event("Many", i)
	}
	mustAppend(t, s, p+"x", eventstore.NoStream, batch...)
	c := subscribe(t, s, 0, eventstore.Filter{StreamPrefix: p})
	c.wait(t, 10*time.Second, "200 events", func(e []eventstore.RecordedEvent, _ []eventstore.Batch) bool { return len(e) >= 200 })
	_, batches, _ := c.snapshot()
	withEvents := 0
	for _, b := range batches {
		if len(b.Events) > 0 {
			withEvents++
		}
	}
	if withEvents >= 100 {
		t.Fatalf("200 available events came in %d batches; want them grouped", withEvents)
	}
}

func TestHead(t *testing.T) {
	t.Parallel()
	srv := esdbtest.Run(t)
	s := open(t, srv.URL(), esdb.Options{})
	p, other := prefix(), prefix()
	if h, err := s.Head(ctxT(t, 10*time.Second), eventstore.Filter{StreamPrefix: p}); err != nil || h != 0 {
		t.Fatalf("head with no matching event = %d, %v; want 0", h, err)
	}
	mine := mustAppend(t, s, p+"a", eventstore.NoStream, event("A", 0), event("A", 1))
	last := mustAppend(t, s, other+"b", eventstore.NoStream, event("B", 0))
	srv.AppendSystemEvent("$stats-127.0.0.1:2113", "$statsCollected")
	tests := []struct {
		name   string
		filter eventstore.Filter
		want   eventstore.Position
	}{
		{"own prefix skips later streams and system events", eventstore.Filter{StreamPrefix: p}, mine.Position},
		{"every stream skips system events", eventstore.Filter{}, last.Position},
	}
	for _, tt := range tests {
		if h, err := s.Head(ctxT(t, 10*time.Second), tt.filter); err != nil || h != tt.want {
			t.Errorf("%s: head = %d, %v; want %d", tt.name, h, err, tt.want)
		}
	}
}

func TestOpen_RejectsBadStringsWithoutEchoingThem(t *testing.T) {
	t.Parallel()
	tests := []string{
		"http://127.0.0.1:2113",
		"esdb://admin:s3cr3t@127.0.0.1:notaport?tls=false",
		"esdb://admin:s3cr3t@127.0.0.1:2113?tls=maybe",
	}
	for _, url := range tests {
		s, err := esdb.Open(url, esdb.Options{Logger: quiet(t)})
		if err == nil {
			s.Close()
			t.Errorf("%s: opened, want an error", url)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: error %q repeats the password", url, err)
		}
	}
}

func mustAppend(t *testing.T, s *esdb.Store, stream string, exp eventstore.ExpectedRevision, events ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(ctxT(t, 10*time.Second), stream, exp, events...)
	if err != nil {
		t.Fatalf("append to %s: %v", stream, err)
	}
	return res
}
