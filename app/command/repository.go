package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
)

// EventStore is what the command handlers need of the event store.
type EventStore interface {
	ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.RecordedEvent, error)
	Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error)
}

// Namespace seeds the deterministic ids (UUIDv5): notification ids derived from command ids,
// and event ids derived from command id + index.
var Namespace = uuid.MustParse("6f1d1c1e-5b7a-4b8e-9a43-0c1e6c3b8a52")

// maxAttempts bounds load-decide-append rounds when another writer got in first.
const maxAttempts = 5

// Meta identifies a command. CommandID makes it idempotent: the same command id always yields
// the same event ids. Empty correlation and causation ids default to the command id.
type Meta struct {
	CommandID     string
	CorrelationID string
	CausationID   string
	Tenant        string
	// Recipient, when set, is the end user the command acts for: a read, unread or cancel of
	// a notification that is not theirs fails with notification.ErrNotFound, exactly as if it
	// did not exist, so a caller learns nothing about other inboxes.
	Recipient string
}

// Result is the outcome of a command.
type Result struct {
	// Notification is the state after the command.
	Notification *notification.Notification
	// Position is the log position of the notification's latest event: a query that waits for
	// it sees this command's effect.
	Position eventstore.Position
	// Changed is false when the command was an idempotent no-op.
	Changed bool
}

// repository runs load → decide → append for one notification.
type repository struct {
	store EventStore
	now   func() time.Time
}

func newRepository(store EventStore, now func() time.Time) repository {
	if store == nil {
		panic("command: nil event store")
	}
	if now == nil {
		now = time.Now
	}
	return repository{store: store, now: now}
}

type decision func(n *notification.Notification, now time.Time) ([]notification.Event, error)

// change parses the notification id and runs a decision on an existing notification. A
// command id that already produced events in the stream is a redelivery: it succeeds without
// deciding again, even if later commands changed the notification since.
func (r repository) change(ctx context.Context, id string, meta Meta, decide decision) (Result, error) {
	id, err := notification.ParseID(id)
	if err != nil {
		return Result{}, err
	}
	return r.update(ctx, id, meta, decide, true)
}

func (r repository) update(ctx context.Context, id string, meta Meta, decide decision, dedupe bool) (Result, error) {
	if meta.CommandID == "" {
		meta.CommandID = uuid.NewString()
	}
	stream := notification.Stream(id)
	for attempt := 1; ; attempt++ {
		n, last, applied, err := r.load(ctx, id, meta.CommandID)
		if err != nil {
			return Result{}, err
		}
		if meta.Recipient != "" && n.RecipientID() != meta.Recipient {
			return Result{}, fmt.Errorf("%w: no notification has id %s", notification.ErrNotFound, id)
		}
		if dedupe && applied {
			return Result{Notification: n, Position: last}, nil
		}
		events, err := decide(n, r.now().UTC())
		if err != nil {
			return Result{Notification: n, Position: last}, err
		}
		if len(events) == 0 {
			return Result{Notification: n, Position: last}, nil
		}
		data, err := encode(ctx, events, meta)
		if err != nil {
			return Result{}, err
		}
		expected := eventstore.NoStream
		if n.Exists() {
			expected = eventstore.Exact(uint64(n.Version()))
		}
		res, err := r.store.Append(ctx, stream, expected, data...)
		if errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			if attempt < maxAttempts {
				continue // someone else wrote first: decide again on the new state
			}
			return Result{}, fmt.Errorf("%w: notification %s kept changing under %d attempts", notification.ErrConflict, id, attempt)
		}
		if err != nil {
			return Result{}, fmt.Errorf("append to %s: %w", stream, err)
		}
		for _, e := range events {
			n.Apply(e)
		}
		return Result{Notification: n, Position: res.Position, Changed: true}, nil
	}
}

// load folds the notification's stream into state and returns its last event's position and
// whether commandID already produced one of its events.
func (r repository) load(ctx context.Context, id, commandID string) (*notification.Notification, eventstore.Position, bool, error) {
	recs, err := r.store.ReadStream(ctx, notification.Stream(id), 0, 0)
	if err != nil {
		return nil, 0, false, fmt.Errorf("load notification %s: %w", id, err)
	}
	n := notification.New(id)
	var (
		last    eventstore.Position
		applied bool
		md      eventstore.Metadata
	)
	for _, rec := range recs {
		e, err := notification.DecodeStored(rec.Type, eventstore.SchemaVersionOf(rec.Metadata), rec.Data)
		if err != nil { // an unknown type too: a decision needs every event (notification.ErrUnknownEvent)
			return nil, 0, false, fmt.Errorf("load notification %s at revision %d: %w", id, rec.Revision, err)
		}
		n.Apply(e)
		last = rec.Position
		if !applied && json.Unmarshal(rec.Metadata, &md) == nil && md.CommandID == commandID {
			applied = true
		}
	}
	return n, last, applied, nil
}

func encode(ctx context.Context, events []notification.Event, meta Meta) ([]eventstore.EventData, error) {
	traceParent, traceState := eventstore.TraceFields(ctx)
	mdJSON := appendMetadata(nil, eventstore.Metadata{
		TraceParent:   traceParent,
		TraceState:    traceState,
		CommandID:     meta.CommandID,
		CorrelationID: orDefault(meta.CorrelationID, meta.CommandID),
		CausationID:   orDefault(meta.CausationID, meta.CommandID),
		SchemaVersion: notification.SchemaVersion,
		Tenant:        meta.Tenant,
	})
	out := make([]eventstore.EventData, len(events))
	for i, e := range events {
		data, err := notification.AppendJSON(nil, e)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", e.Type(), err)
		}
		out[i] = eventstore.EventData{ID: EventID(meta.CommandID, i), Type: e.Type(), Data: data, Metadata: mdJSON}
	}
	return out, nil
}

// EventID is the deterministic id of the index-th event of a command.
func EventID(commandID string, index int) uuid.UUID {
	return uuid.NewSHA1(Namespace, fmt.Appendf(nil, "%s:%d", commandID, index))
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
