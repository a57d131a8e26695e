// Package eventstore is the event-store port: the types every adapter (embedded, EventStoreDB)
// speaks and the guarantees they share, the metadata the service writes with every event, and
// Follow, the one retry loop of the log's followers. The contract suite in eventstoretest
// proves an adapter.
//
// It imports nothing of ours; outside the standard library, only the uuid type and the
// back-off policy.
package eventstore

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Position is an event's place in the global log. Positions grow with commit order; 0 means
// "before the first event".
type Position uint64

// ExpectedRevision is the optimistic-concurrency condition of an append.
type ExpectedRevision struct {
	kind     revisionKind
	revision uint64
}

type revisionKind uint8

const (
	kindAny revisionKind = iota
	kindNoStream
	kindStreamExists
	kindExact
)

// The expected-revision modes, named as EventStoreDB names them.
var (
	// Any appends whatever the stream's state.
	Any = ExpectedRevision{kind: kindAny}
	// NoStream appends only when the stream has no event yet.
	NoStream = ExpectedRevision{kind: kindNoStream}
	// StreamExists appends only when the stream has at least one event.
	StreamExists = ExpectedRevision{kind: kindStreamExists}
)

// Exact appends only when the stream's last event has revision r.
func Exact(r uint64) ExpectedRevision { return ExpectedRevision{kind: kindExact, revision: r} }

// IsAny, IsNoStream, IsStreamExists report the mode; Revision returns the revision of Exact.
func (e ExpectedRevision) IsAny() bool { return e.kind == kindAny }

// IsNoStream reports the NoStream mode.
func (e ExpectedRevision) IsNoStream() bool { return e.kind == kindNoStream }

// IsStreamExists reports the StreamExists mode.
func (e ExpectedRevision) IsStreamExists() bool { return e.kind == kindStreamExists }

// Revision returns the revision of an Exact expectation and whether it is one.
func (e ExpectedRevision) Revision() (uint64, bool) { return e.revision, e.kind == kindExact }

// Allows reports whether a stream whose last revision is last (exists=false: no stream)
// satisfies the expectation.
func (e ExpectedRevision) Allows(last uint64, exists bool) bool {
	switch e.kind {
	case kindNoStream:
		return !exists
	case kindStreamExists:
		return exists
	case kindExact:
		return exists && last == e.revision
	}
	return true
}

func (e ExpectedRevision) String() string {
	switch e.kind {
	case kindNoStream:
		return "no stream"
	case kindStreamExists:
		return "stream exists"
	case kindExact:
		return strconv.FormatUint(e.revision, 10)
	}
	return "any"
}

// EventData is an event to append. ID makes the append idempotent: appending the same ids at
// the same place again succeeds without writing anything.
type EventData struct {
	ID       uuid.UUID
	Type     string
	Data     []byte
	Metadata []byte
}

// RecordedEvent is an event as stored.
type RecordedEvent struct {
	Stream   string
	Revision uint64
	Position Position
	ID       uuid.UUID
	Type     string
	Data     []byte
	Metadata []byte
	Created  time.Time
}

// AppendResult tells where the last appended event landed.
type AppendResult struct {
	// NextRevision is the revision of the stream's last event after the append.
	NextRevision uint64
	// Position is the global position of the last event of the append.
	Position Position
}

// Filter selects events from the global log.
type Filter struct {
	// StreamPrefix keeps only events of streams whose names start with it ("" keeps all).
	StreamPrefix string
}

// Batch is a run of events delivered by a subscription. Position is how far the log has been
// scanned for this subscriber: at least the last event's position, possibly further when
// filtered-out events followed. Resuming from Position misses nothing and repeats nothing.
// Corrupt lists the records in that range the store could not read (a failed checksum): they
// are not in Events, and each consumer decides what to do without them.
type Batch struct {
	Events   []RecordedEvent
	Position Position
	Corrupt  []*CorruptError
}

// Errors common to every adapter.
var (
	// ErrWrongExpectedRevision means the stream's state did not match the expectation.
	ErrWrongExpectedRevision = errors.New("wrong expected revision")
	// ErrInvalidAppend means the append itself is malformed (empty, bad stream name, oversized).
	ErrInvalidAppend = errors.New("invalid append")
)

// ErrUnavailable marks a failure to reach a store the service depends on (the event store, a
// database read model): retrying later may succeed. Adapters wrap such failures with it.
var ErrUnavailable = errors.New("a store is unreachable")

// ErrCorrupt means a stored record failed its checksum or could not be decoded.
var ErrCorrupt = errors.New("corrupt record")

// CorruptError says which record is damaged. It matches ErrCorrupt.
type CorruptError struct {
	Position Position
	// Stream is the record's stream as far as it could be read ("" when not at all).
	Stream string
	Reason string
}

func (e *CorruptError) Error() string {
	if e.Stream != "" {
		return fmt.Sprintf("corrupt record at position %d (stream %s): %s", e.Position, e.Stream, e.Reason)
	}
	return fmt.Sprintf("corrupt record at position %d: %s", e.Position, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// WrongExpectedRevisionError details a failed expectation. It matches ErrWrongExpectedRevision.
type WrongExpectedRevisionError struct {
	Stream   string
	Expected ExpectedRevision
	// Actual is the stream's last revision; ActualExists is false when the stream is absent.
	Actual       uint64
	ActualExists bool
}

func (e *WrongExpectedRevisionError) Error() string {
	actual := "no stream"
	if e.ActualExists {
		actual = strconv.FormatUint(e.Actual, 10)
	}
	return fmt.Sprintf("stream %s: expected revision %s, actual %s", e.Stream, e.Expected, actual)
}

// Is makes errors.Is(err, ErrWrongExpectedRevision) true.
func (e *WrongExpectedRevisionError) Is(target error) bool { return target == ErrWrongExpectedRevision }
