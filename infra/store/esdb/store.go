// Package esdb is the EventStoreDB adapter of the event-store port (app/eventstore), on the
// official gRPC client github.com/EventStore/EventStore-Client-Go/v4. It passes the contract
// suite in app/eventstore/eventstoretest.
//
// Mapping: a port position is an event's commit position in $all (for events written by gRPC
// appends the commit and prepare positions are equal); expected revisions map to the client's
// markers; event ids are passed through, so a re-append of the same ids at the same place is
// EventStoreDB's idempotent write. Subscriptions follow $all with a server-side stream-name
// prefix filter and never hand out system events ($-prefixed streams or types).
//
// It imports the port, the client and infra/platform/logsample, nothing else of ours.
package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/infra/platform/logsample"
)

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("esdb: store closed")

// Options tune the store; the zero value is the production default.
type Options struct {
	// Logger receives the adapter's and the client's messages (default slog.Default()).
	Logger *slog.Logger
	// MaxSearchWindow is how many events the server considers per page of a filtered
	// subscription, and CheckpointMultiplier how many windows pass between checkpoints
	// (defaults 32 and 1, the client's). Checkpoints let a subscription's position move past
	// events of other streams.
	MaxSearchWindow      int
	CheckpointMultiplier int
	// MaxBatch caps the events of one Batch (default 512).
	MaxBatch int
	// ResubscribeMin and ResubscribeMax bound the backoff between attempts to resubscribe
	// after a subscription drops (defaults 100 ms and 5 s; see eventstore.Retry, which
	// jitters each wait below them).
	ResubscribeMin, ResubscribeMax time.Duration
	// CloseTimeout bounds how long Close waits for calls in flight (default 5 s).
	CloseTimeout time.Duration
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxSearchWindow <= 0 {
		o.MaxSearchWindow = 32
	}
	if o.CheckpointMultiplier <= 0 {
		o.CheckpointMultiplier = 1
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 512
	}
	if o.ResubscribeMin <= 0 {
		o.ResubscribeMin = 100 * time.Millisecond
	}
	if o.ResubscribeMax < o.ResubscribeMin {
		o.ResubscribeMax = max(5*time.Second, o.ResubscribeMin)
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = 5 * time.Second
	}
}

// Store is the EventStoreDB event store. It is safe for concurrent use.
type Store struct {
	client *esdb.Client
	opts   Options
	log    *slog.Logger

	lastClientErr *atomic.Pointer[string] // the client's last error or warning

	mu     sync.RWMutex // guards closed against calls starting
	closed bool
	calls  sync.WaitGroup // client calls in flight
}

// Open builds a store for an esdb:// (or esdb+discover://) connection string; TLS, credentials
// and node preference are options of the string, passed to the client as they are. It does not
// dial: the client connects on the first call.
//
// Unless the string sets maxDiscoverAttempts, discovery retries for ever. The client v4.2.0
// closes itself for good when discovery gives up, and callers caught in that moment block for
// ever (esdb/impl.go connectionStateMachine returns without closing its channel); retrying for
// ever instead lets every call complete once the server is back. Calls still honour their
// context meanwhile: each client call runs in its own goroutine (see call).
func Open(connectionString string, opts Options) (*Store, error) {
	opts.setDefaults()
	cfg, err := esdb.ParseConnectionString(connectionString)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // url.Error repeats the string, credentials included
		}
		return nil, fmt.Errorf("esdb: connection string: %w", err)
	}
	if !hasSetting(connectionString, "maxDiscoverAttempts") {
		cfg.MaxDiscoverAttempts = math.MaxInt32
	}
	last := new(atomic.Pointer[string])
	cfg.Logger = clientLogger(opts.Logger, last)
	client, err := esdb.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("esdb: client: %w", err)
	}
	return &Store{client: client, opts: opts, log: opts.Logger, lastClientErr: last}, nil
}

// hasSetting reports whether the connection string's query names key (case-insensitively, as
// the client reads it).
func hasSetting(connectionString, key string) bool {
	_, query, ok := strings.Cut(connectionString, "?")
	if !ok {
		return false
	}
	values, err := url.ParseQuery(query)
	if err != nil {
		return false
	}
	for k := range values {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// clientLogger routes the client's log lines to slog: its errors and warnings as info, the
// rest as debug, each kind at most once per 10 s with the count held back (the client retries
// discovery every 100 ms and logs each failure). The client logs every dropped subscription
// as an error, even one its caller cancelled; the adapter itself reports the failures that
// matter, as errors or warnings. The last error or warning is kept in last.
func clientLogger(l *slog.Logger, last *atomic.Pointer[string]) esdb.LoggingFunc {
	lines := logsample.New(10 * time.Second)
	return func(level esdb.LogLevel, format string, args ...interface{}) {
		lv := slog.LevelDebug
		if level == esdb.LogError || level == esdb.LogWarn {
			lv = slog.LevelInfo
			msg := fmt.Sprintf(format, args...)
			last.Store(&msg)
		}
		if !l.Enabled(context.Background(), lv) {
			return
		}
		lines.Log(format, func(more int) {
			attrs := []any{}
			if more > 0 {
				attrs = append(attrs, "like_it_since_last", more)
			}
			l.Log(context.Background(), lv, "esdb client: "+fmt.Sprintf(format, args...), attrs...)
		})
	}
}

// LastClientError returns the client's last error or warning ("" if none): when a call
// times out because the server cannot be reached, it says why.
func (s *Store) LastClientError() string {
	if p := s.lastClientErr.Load(); p != nil {
		return *p
	}
	return ""
}

// Close stops accepting calls, waits (up to CloseTimeout) for calls in flight and closes the
// client. If calls are still blocked in the client's connection logic after the timeout, the
// client is left open: closing it then would make those goroutines panic (the client sends
// on the channel Close closes).
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	idle := make(chan struct{})
	go func() {
		s.calls.Wait()
		close(idle)
	}()
	select {
	case <-idle:
		return s.client.Close()
	case <-time.After(s.opts.CloseTimeout):
		s.log.Warn("esdb: calls still in flight at close; leaving the client open", "waited", s.opts.CloseTimeout)
		return nil
	}
}

// call runs fn, a client call, in its own goroutine so that the caller returns when ctx ends
// even if the client is blocked reconnecting (the client takes its connection without a
// context). If ctx ends first and fn later succeeds, discard releases what it returned.
func call[T any](ctx context.Context, s *Store, fn func(context.Context) (T, error), discard func(T)) (T, error) {
	var zero T
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return zero, ErrClosed
	}
	s.calls.Add(1)
	s.mu.RUnlock()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer s.calls.Done()
		v, err := fn(ctx)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		select {
		case r := <-done: // finished as well: its outcome is the truth
			return r.v, r.err
		default:
		}
		go func() {
			if r := <-done; r.err == nil && discard != nil {
				discard(r.v)
			}
		}()
		return zero, ctx.Err()
	}
}

// Append writes events to the end of stream if expected holds and returns where the last one
// landed. Re-appending the same event ids at the same place returns the original result and
// writes nothing (EventStoreDB's idempotent write). An append with no events, no stream name,
// an event without a type or with the nil id (the client would replace it by a random one,
// defeating idempotency) is refused with ErrInvalidAppend before anything is sent.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := validateAppend(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	data := make([]esdb.EventData, len(events))
	for i, e := range events {
		ct := esdb.ContentTypeBinary
		if len(e.Data) == 0 || json.Valid(e.Data) {
			ct = esdb.ContentTypeJson
		}
		data[i] = esdb.EventData{EventID: e.ID, EventType: e.Type, ContentType: ct, Data: e.Data, Metadata: e.Metadata}
	}
	opts := esdb.AppendToStreamOptions{ExpectedRevision: expectedRevision(expected)}
	res, err := call(ctx, s, func(ctx context.Context) (*esdb.WriteResult, error) {
		return s.client.AppendToStream(ctx, stream, opts, data...)
	}, nil)
	if err != nil {
		return eventstore.AppendResult{}, s.appendError(ctx, stream, expected, err)
	}
	return eventstore.AppendResult{NextRevision: res.NextExpectedVersion, Position: eventstore.Position(res.CommitPosition)}, nil
}

func validateAppend(stream string, events []eventstore.EventData) error {
	if stream == "" {
		return fmt.Errorf("%w: empty stream name", eventstore.ErrInvalidAppend)
	}
	if len(events) == 0 {
		return fmt.Errorf("%w: no events", eventstore.ErrInvalidAppend)
	}
	for i, e := range events {
		if e.Type == "" || e.ID == uuid.Nil {
			return fmt.Errorf("%w: event %d needs a type and a non-nil id", eventstore.ErrInvalidAppend, i)
		}
	}
	return nil
}

// expectedRevision maps a port expectation to the client's marker types.
func expectedRevision(e eventstore.ExpectedRevision) esdb.ExpectedRevision {
	switch {
	case e.IsNoStream():
		return esdb.NoStream{}
	case e.IsStreamExists():
		return esdb.StreamExists{}
	}
	if r, ok := e.Revision(); ok {
		return esdb.StreamRevision{Value: r}
	}
	return esdb.Any{}
}

// appendError maps a failed append to the port's errors: a wrong expected version becomes a
// *eventstore.WrongExpectedRevisionError with the stream's actual revision, a request the
// server rejects as invalid (InvalidArgument: too large, missing metadata) ErrInvalidAppend.
func (s *Store) appendError(ctx context.Context, stream string, expected eventstore.ExpectedRevision, err error) error {
	var esErr *esdb.Error
	if errors.As(err, &esErr) && esErr.Code() == esdb.ErrorCodeWrongExpectedVersion {
		wer := &eventstore.WrongExpectedRevisionError{Stream: stream, Expected: expected}
		if actual, exists, ok := parseActual(esErr); ok {
			wer.Actual, wer.ActualExists = actual, exists
		} else if actual, exists, rerr := s.lastRevision(ctx, stream); rerr == nil {
			wer.Actual, wer.ActualExists = actual, exists // observed after the fact: best effort
		}
		return wer
	}
	if status.Code(err) == codes.InvalidArgument {
		return fmt.Errorf("%w: append to %s: %w", eventstore.ErrInvalidAppend, stream, err)
	}
	return fmt.Errorf("esdb: append to %s: %w", stream, err)
}

// parseActual reads the stream's current revision out of the client's wrong-expected-version
// error. The client v4.2.0 keeps it only in its message, "expecting '…' but got '…'", where
// the current revision is a number or no_stream (esdb/client.go AppendToStream).
func parseActual(err *esdb.Error) (uint64, bool, bool) {
	if err.Err() == nil {
		return 0, false, false
	}
	_, got, ok := strings.Cut(err.Err().Error(), "but got '")
	if !ok {
		return 0, false, false
	}
	got, _, ok = strings.Cut(got, "'")
	if !ok {
		return 0, false, false
	}
	if got == "no_stream" {
		return 0, false, true
	}
	var rev uint64
	if _, err := fmt.Sscanf(got, "%d", &rev); err != nil {
		return 0, false, false
	}
	return rev, true, true
}

// lastRevision reads the stream's last revision (exists=false for no stream).
func (s *Store) lastRevision(ctx context.Context, stream string) (uint64, bool, error) {
	events, err := s.read(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil || len(events) == 0 {
		return 0, false, err
	}
	return events[0].Revision, true, nil
}

// ReadStream returns up to limit events of stream from revision from, oldest first (limit 0:
// all). A missing stream reads as no events.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	count := uint64(math.MaxInt64)
	if limit > 0 {
		count = uint64(limit)
	}
	return s.read(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Forwards, From: esdb.Revision(from)}, count)
}

func (s *Store) read(ctx context.Context, stream string, opts esdb.ReadStreamOptions, count uint64) ([]eventstore.RecordedEvent, error) {
	out, err := call(ctx, s, func(ctx context.Context) ([]eventstore.RecordedEvent, error) {
		rs, err := s.client.ReadStream(ctx, stream, opts, count)
		if err != nil {
			return nil, err
		}
		defer rs.Close()
		var out []eventstore.RecordedEvent
		for {
			ev, err := rs.Recv()
			if err != nil {
				return out, err
			}
			out = append(out, recorded(ev.OriginalEvent()))
		}
	}, nil)
	switch {
	case isEOF(err):
		return out, nil
	case isNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("esdb: read stream %s: %w", stream, err)
	}
	return out, nil
}

func recorded(e *esdb.RecordedEvent) eventstore.RecordedEvent {
	return eventstore.RecordedEvent{
		Stream:   e.StreamID,
		Revision: e.EventNumber,
		Position: eventstore.Position(e.Position.Commit),
		ID:       e.EventID,
		Type:     e.EventType,
		Data:     e.Data,
		Metadata: e.UserMetadata,
		Created:  e.CreatedDate,
	}
}

// Head returns the position of the last event in $all that a subscription with filter would
// deliver (0 if none): once a subscriber has been handed a batch at or past it, it has seen
// everything that existed when Head was called. It reads $all backwards and skips other
// streams' events and system events, so its cost grows with how many of those follow the last
// match (a node appends "$statsCollected" events regularly). Reading $all needs a user the
// $all ACL allows (by default, admins).
func (s *Store) Head(ctx context.Context, filter eventstore.Filter) (eventstore.Position, error) {
	pos, err := call(ctx, s, func(ctx context.Context) (eventstore.Position, error) {
		rs, err := s.client.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, math.MaxInt64)
		if err != nil {
			return 0, err
		}
		defer rs.Close()
		for {
			ev, err := rs.Recv()
			if err != nil {
				return 0, err
			}
			if e := ev.OriginalEvent(); delivers(filter, e) {
				return eventstore.Position(e.Position.Commit), nil
			}
		}
	}, nil)
	if isEOF(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("esdb: head of $all: %w", err)
	}
	return pos, nil
}

// delivers reports whether a subscription with filter hands out e: never a system event.
func delivers(filter eventstore.Filter, e *esdb.RecordedEvent) bool {
	return e != nil && !strings.HasPrefix(e.StreamID, "$") && !strings.HasPrefix(e.EventType, "$") &&
		strings.HasPrefix(e.StreamID, filter.StreamPrefix)
}

// identityStream holds the log's identity: one event, written by the first instance to need
// it. It is outside the notification streams, so no projection reads it.
const identityStream = "notify-log-identity"

// ID returns the log's identity, creating it on first use: a read model records it to know
// which log it was built from. Concurrent first calls agree: one append wins (NoStream) and
// the others read it back.
func (s *Store) ID(ctx context.Context) (string, error) {
	for attempt := 0; attempt < 3; attempt++ {
		recs, err := s.ReadStream(ctx, identityStream, 0, 1)
		if err != nil {
			return "", fmt.Errorf("esdb: read the log identity: %w", err)
		}
		if len(recs) > 0 {
			var body struct{ ID string }
			if err := json.Unmarshal(recs[0].Data, &body); err != nil || body.ID == "" {
				return "", fmt.Errorf("esdb: the log identity in %s does not decode: %s", identityStream, recs[0].Data)
			}
			return body.ID, nil
		}
		id := uuid.New()
		data, _ := json.Marshal(map[string]string{"id": id.String()})
		_, err = s.Append(ctx, identityStream, eventstore.NoStream, eventstore.EventData{ID: id, Type: "LogIdentity", Data: data})
		if err != nil && !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			return "", fmt.Errorf("esdb: write the log identity: %w", err)
		}
	}
	return "", fmt.Errorf("esdb: the log identity in %s could not be read back", identityStream)
}
