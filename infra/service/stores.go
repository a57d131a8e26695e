package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/app/query"
	"github.com/eventnotify/notify/infra/platform/boltfile"
	"github.com/eventnotify/notify/infra/readmodel/inboxdb"
	"github.com/eventnotify/notify/infra/readmodel/pginbox"
	"github.com/eventnotify/notify/infra/store/esdb"
	"github.com/eventnotify/notify/infra/store/eventlog"
	"github.com/eventnotify/notify/infra/transport/httpapi/auth"
	"github.com/eventnotify/notify/infra/transport/kafkabridge"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

// closed reports whether ch is closed.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// gatedQueries answers 503 (ErrUnavailable) until the read model is known to belong to the
// log: a read model of another log is never served, not even while it is being checked.
type gatedQueries struct {
	query.ReadModel
	verified <-chan struct{}
}

var errUnverified = fmt.Errorf("%w: the read model has not been checked against the event log yet", eventstore.ErrUnavailable)

func (g gatedQueries) List(ctx context.Context, recipient string, limit int) ([]json.RawMessage, error) {
	if !closed(g.verified) {
		return nil, errUnverified
	}
	return g.ReadModel.List(ctx, recipient, limit)
}

func (g gatedQueries) Count(ctx context.Context, recipient string) (inbox.Counts, error) {
	if !closed(g.verified) {
		return inbox.Counts{}, errUnverified
	}
	return g.ReadModel.Count(ctx, recipient)
}

func (g gatedQueries) Page(ctx context.Context, q inbox.PageQuery) (inbox.Page, error) {
	if !closed(g.verified) {
		return inbox.Page{}, errUnverified
	}
	return g.ReadModel.Page(ctx, q)
}

func (g gatedQueries) UnreadIDs(ctx context.Context, recipient string, limit int) ([]string, error) {
	if !closed(g.verified) {
		return nil, errUnverified
	}
	return g.ReadModel.UnreadIDs(ctx, recipient, limit)
}

// eventStore is the configured event store with what the wiring needs around it.
type eventStore struct {
	store
	kind        string
	head        func(context.Context) (eventstore.Position, error)
	id          func(context.Context) (string, error)
	checkpoints kafkabridge.Checkpoints
	// lastError is what the store's client last complained of (nil: it does not tell).
	lastError func() string
}

// identify reads the log's head and identity, giving up after --startup-timeout with what
// the event store's client last said (an unreachable EventStoreDB otherwise waits for ever).
func (log *eventStore) identify(ctx context.Context, cfg Config) (eventstore.Position, string, error) {
	sctx, cancel := context.WithTimeout(ctx, cfg.StartupTimeout)
	defer cancel()
	head, err := log.head(sctx)
	if err != nil {
		return 0, "", log.startupError(ctx, cfg, "read the event store's head", err)
	}
	id, err := log.id(sctx)
	if err != nil {
		return 0, "", log.startupError(ctx, cfg, "read the event store's identity", err)
	}
	return head, id, nil
}

func (log *eventStore) startupError(ctx context.Context, cfg Config, what string, err error) error {
	if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	why := ""
	if log.lastError != nil && log.lastError() != "" {
		why = "; the client's last error: " + log.lastError()
	}
	return fmt.Errorf("%s: the event store (%s) did not answer within --startup-timeout %s%s.\nCheck --event-store / NOTIFY_EVENT_STORE and that the server is up and reachable from here", what, auth.RedactURL(cfg.EventStore), cfg.StartupTimeout, why)
}

type store interface {
	command.EventStore
	projections.Log
	Close() error
}

// openEventStore opens the embedded log or EventStoreDB. The Kafka relay keeps its checkpoint
// in the embedded log, or in the read model's file when the events live in EventStoreDB.
func openEventStore(cfg Config, rmCheckpoints kafkabridge.Checkpoints, logger *slog.Logger) (*eventStore, error) {
	if cfg.EventStore == "embedded" {
		path := filepath.Join(cfg.DataDir, "events.db")
		log, err := eventlog.Open(path, eventlog.Options{})
		if errors.Is(err, boltfile.ErrDamaged) {
			return nil, fmt.Errorf("%w\nThe event log is the service's primary data: it is not repaired automatically. Restore %s from a backup; `notify check --data-dir %s` reports what is damaged", err, path, cfg.DataDir)
		}
		if err != nil {
			return nil, err
		}
		h := log.Health()
		if h.Fallback {
			logger.Warn("one of the event log's two meta pages is damaged: bbolt reads the other, and if it was the older one the last commit is gone", "file", path)
		}
		for i, c := range h.Corrupt {
			if i == 10 {
				logger.Error("more corrupt records in the event log", "count", len(h.Corrupt)-10)
				break
			}
			logger.Error("corrupt record in the event log: it is not served, and projections park it", "file", path, "err", c)
		}
		head := func(context.Context) (eventstore.Position, error) { return log.Head(), nil }
		id := func(context.Context) (string, error) { return log.ID(), nil }
		return &eventStore{store: log, kind: "embedded", head: head, id: id, checkpoints: log}, nil
	}
	es, err := esdb.Open(cfg.EventStore, esdb.Options{Logger: logger})
	if err != nil {
		return nil, err
	}
	filter := inbox.Projection().Filter
	head := func(ctx context.Context) (eventstore.Position, error) { return es.Head(ctx, filter) }
	return &eventStore{store: es, kind: "esdb", head: head, id: es.ID, checkpoints: rmCheckpoints, lastError: es.LastClientError}, nil
}

// belongs checks that the read model belongs to the event log (see projections.CheckLog). An
// embedded read model that does not is dropped and rebuilt from the log: it is derived data,
// local to this log. A PostgreSQL one is refused with what happened and how to repair it:
// other instances may be serving it.
func belongs(ctx context.Context, cfg Config, rmp **readModel, log *eventStore, logID string, head eventstore.Position, logger *slog.Logger) error {
	rm := *rmp
	err := projections.CheckLog(ctx, rm.binding, rm.position, inbox.Name, logID, head)
	var mm *projections.MismatchError
	if !errors.As(err, &mm) {
		return err
	}
	if rm.kind != "embedded" {
		return fmt.Errorf("%w.\n%s\nRebuild it from this instance's log with the service stopped on every instance: `notify projections replay inbox` with the same --event-store and --read-model settings", mm, mismatchAdvice(mm))
	}
	logger.Warn("the read model does not belong to the event log: dropping it; the projection rebuilds it from the log", "err", mm)
	rm.close()
	*rmp = &readModel{close: func() {}}
	if err := os.Remove(rm.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("drop read model %s: %w", rm.path, err)
	}
	fresh, err := openReadModel(ctx, cfg, logger)
	if err != nil {
		return err
	}
	*rmp = fresh
	if log.kind == "esdb" {
		log.checkpoints = fresh.checkpoints // the relay's checkpoint lived in the dropped file
	}
	return projections.CheckLog(ctx, fresh.binding, fresh.position, inbox.Name, logID, head)
}

func mismatchAdvice(mm *projections.MismatchError) string {
	if errors.Is(mm, projections.ErrOtherLog) {
		return "Every instance sharing a PostgreSQL read model must use one event store (EventStoreDB): instances with embedded logs each have their own log, and would show one another's notifications and hide their own."
	}
	return "The event log holds less than the read model shows: it was restored from an older copy, or lost its last commit. The read model would show notifications the log no longer has, and new ones would not appear until the log caught up."
}

// relayWithinLog moves the Kafka relay's checkpoint back to the log's head if it is past it
// (the log was restored from an older copy): left there, the relay would publish nothing
// until the log passed it.
func relayWithinLog(ctx context.Context, log *eventStore, head eventstore.Position, logger *slog.Logger) error {
	cp, err := log.checkpoints.RelayCheckpoint(ctx, kafkabridge.RelayCheckpoint)
	if err != nil || cp <= head {
		return err
	}
	logger.Warn("the Kafka relay's checkpoint is past the event log's head (the log was restored from an older copy): relaying from the head", "checkpoint", cp, "head", head)
	return log.checkpoints.SaveRelayCheckpoint(ctx, kafkabridge.RelayCheckpoint, head)
}

// leader runs run while this instance holds the named lock among the instances sharing a
// read model, until ctx ends, taking it again after losing it.
type leader func(ctx context.Context, name string, run func(context.Context) error)

// readModel is the configured inbox read model and the loop that keeps it projected.
type readModel struct {
	kind        string
	path        string // the embedded read model's file
	binding     projections.LogBinding
	queries     query.ReadModel
	checkpoints kafkabridge.Checkpoints
	// copies rebuilds projections into fresh copies (nil: this read model cannot).
	copies projections.Rebuildable[inbox.Tx]
	// lead elects one instance among those sharing the read model (nil: one instance only).
	lead leader
	// parking collects the events the projection leaves out (see projections.Runner).
	parking *projections.Parking
	// project follows the log until ctx ends; position tells how far the read model is.
	project  func(ctx context.Context, log projections.Log)
	position func(ctx context.Context) (eventstore.Position, error)
	// ready is closed once the read model can be reached (nil: it always can).
	ready <-chan struct{}
	// onDamage sets what to do when the read model finds itself damaged (nil: it cannot tell).
	onDamage func(func(error))
	close    func()
}

// openReadModel opens the embedded read model, or PostgreSQL, where several instances share
// one read model and a database lock elects the one that projects; the others serve queries.
func openReadModel(ctx context.Context, cfg Config, logger *slog.Logger) (*readModel, error) {
	if cfg.ReadModel == "embedded" {
		rm, err := inboxdb.Open(filepath.Join(cfg.DataDir, "inbox.db"))
		if err != nil {
			return nil, err
		}
		if why := rm.WasReset(); why != "" {
			logger.Warn("read model dropped; the projection rebuilds it from the log", "why", why)
		}
		parking := projections.NewParking()
		return &readModel{
			kind: "embedded", path: filepath.Join(cfg.DataDir, "inbox.db"), binding: rm, queries: rm, checkpoints: rm, copies: rm, parking: parking,
			project: func(ctx context.Context, log projections.Log) {
				_ = projections.NewRunner(log, rm, inbox.Projection(), logger).ParkInto(parking).TraceWith(cfg.Tracer).Run(ctx)
			},
			onDamage: rm.OnDamage,
			position: func(ctx context.Context) (eventstore.Position, error) { return rm.Checkpoint(ctx, inbox.Name) },
			close:    func() { rm.Close() },
		}, nil
	}
	octx, cancel := context.WithTimeout(ctx, cfg.StartupTimeout)
	defer cancel()
	pg, err := pginbox.Open(octx, cfg.ReadModel, pginbox.Options{Schema: cfg.ReadModelSchema, StartUnreachable: true, Logger: logger, Tracer: cfg.Tracer})
	if err != nil {
		return nil, err
	}
	parking := projections.NewParking()
	return &readModel{
		kind: "postgres", binding: pg, queries: pg, checkpoints: pg, copies: pg, parking: parking, ready: pg.Ready(),
		project: func(ctx context.Context, log projections.Log) {
			pg.RunLeading(ctx, inbox.Name, func(ctx context.Context, lease *pginbox.Lease) error {
				logger.Info("leading the inbox projection", "backend_pid", lease.BackendPID())
				return projections.NewRunner(log, lease, inbox.Projection(), logger).ParkInto(parking).TraceWith(cfg.Tracer).Run(ctx)
			}, func(err error) { logger.Error("inbox projector", "err", err) })
		},
		position: func(ctx context.Context) (eventstore.Position, error) { return pg.Checkpoint(ctx, inbox.Name) },
		close:    pg.Close,
		lead: func(ctx context.Context, name string, run func(context.Context) error) {
			pg.RunLeading(ctx, name, func(ctx context.Context, _ *pginbox.Lease) error { return run(ctx) },
				func(err error) { logger.Error("leading "+name, "err", err) })
		},
	}, nil
}
