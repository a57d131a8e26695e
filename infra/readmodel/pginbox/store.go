package pginbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

// Options tune the store; the zero value suits production.
type Options struct {
	// Schema holds the tables; it is created if missing. Empty: the connection's default
	// (normally public). Separate schemas keep separate read models in one database.
	Schema string
	// LeadPoll is how often a contender retries the projector lock and a leader checks that
	// its lock connection is alive (default 500ms): a dead leader is replaced within about
	// two polls once the server has noticed its connection drop.
	LeadPoll time.Duration
	// StartUnreachable lets Open return while the database cannot be reached: the schema is
	// then created or migrated in the background, retrying with backoff, and every call
	// answers an error wrapping eventstore.ErrUnavailable until it is (see Ready). Without it,
	// Open fails.
	StartUnreachable bool
	// Logger receives the background connection's progress (default slog.Default()).
	Logger *slog.Logger
	// Tracer makes each query a span (otelpgx; nil: none). Query parameters are not recorded.
	Tracer trace.TracerProvider
}

// Store is the PostgreSQL inbox read model. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	connCfg *pgx.ConnConfig // for the dedicated connections that hold projector locks
	opts    Options

	replayMu sync.Mutex
	replay   *Copy // the copy this instance is building, if any

	ready   chan struct{} // closed once the schema is migrated
	closing chan struct{}
	once    sync.Once
}

// migrations bring the schema from version i to i+1; append only, never edit one.
var migrations = []string{
	// Keys compare bytewise (COLLATE "C"): ids need no linguistic order, and memcmp keeps the
	// B-tree inserts cheap. Rows leave room on their pages (fillfactor) so that status and count
	// updates stay heap-only (HOT) and do not touch the indexes. doc is the published JSON as
	// text: served as stored, byte for byte, without the json type's parse on every write.
	`CREATE TABLE inbox_notifications (
		id           text COLLATE "C" PRIMARY KEY,
		recipient_id text COLLATE "C" NOT NULL,
		seq          bigint NOT NULL,
		status       text   NOT NULL CHECK (status IN ('sent', 'read', 'canceled')),
		doc          text   NOT NULL
	) WITH (fillfactor = 80);
	CREATE INDEX inbox_notifications_recipient_seq ON inbox_notifications (recipient_id, seq DESC);
	CREATE TABLE inbox_counts (
		recipient_id text COLLATE "C" PRIMARY KEY,
		total        bigint NOT NULL,
		unread       bigint NOT NULL,
		canceled     bigint NOT NULL
	) WITH (fillfactor = 50);
	CREATE TABLE checkpoints (
		name     text COLLATE "C" PRIMARY KEY,
		position bigint NOT NULL
	) WITH (fillfactor = 50);`,
	// Copies (see the package doc): the read model moves into generation 1 behind views of the
	// old names. Its rows are dropped, not moved: the projection rebuilds them from the log
	// (its checkpoint goes with them). checkpoints keeps the relay checkpoints only.
	`DROP TABLE inbox_notifications;
	DROP TABLE inbox_counts;
	DELETE FROM checkpoints WHERE name = 'inbox';
	CREATE TABLE generations (
		live     bigint NOT NULL,
		building bigint,
		next     bigint NOT NULL
	);
	INSERT INTO generations VALUES (1, NULL, 2);
	CREATE TABLE inbox_notifications_g1 (
		id           text COLLATE "C" PRIMARY KEY,
		recipient_id text COLLATE "C" NOT NULL,
		seq          bigint NOT NULL,
		status       text   NOT NULL CHECK (status IN ('sent', 'read', 'canceled')),
		doc          text   NOT NULL
	) WITH (fillfactor = 80);
	CREATE INDEX inbox_notifications_g1_recipient_seq ON inbox_notifications_g1 (recipient_id, seq DESC);
	CREATE TABLE inbox_counts_g1 (
		recipient_id text COLLATE "C" PRIMARY KEY,
		total        bigint NOT NULL,
		unread       bigint NOT NULL,
		canceled     bigint NOT NULL
	) WITH (fillfactor = 50);
	CREATE TABLE inbox_checkpoints_g1 (
		name     text COLLATE "C" PRIMARY KEY,
		position bigint NOT NULL
	) WITH (fillfactor = 50);
	CREATE VIEW inbox_notifications AS SELECT id, recipient_id, seq, status, doc FROM inbox_notifications_g1;
	CREATE VIEW inbox_counts AS SELECT recipient_id, total, unread, canceled FROM inbox_counts_g1;
	CREATE VIEW projection_checkpoints AS SELECT name, position FROM inbox_checkpoints_g1;`,
	// The identity of the event log the read model is built from (one row once bound).
	`CREATE TABLE read_model_log (one boolean PRIMARY KEY DEFAULT true CHECK (one), log_id text NOT NULL);`,
	// Issue #13, seen, archived and tags, in place: see "Migration 4" in the package doc.
	migration4,
}

// migration4 adds what issue #13 folds, in place and online: nullable columns (no table
// rewrite) on the live generation's tables and on a copy being built, the notifications read
// so far seen when they were read (seen_at and the document's seenAt: a notification read and
// then marked unread before the upgrade counts as unseen, as the old read model did not keep
// that it was seen; a replay makes it exact), none archived, none tagged; unseen counted from
// the rows; the views extended (columns appended, as CREATE OR REPLACE VIEW allows). The
// checkpoints' layout and the counts' unseen are NOT NULL without a default, and only this
// version writes them: an instance of the previous version still projecting has every batch
// refused (its checkpoint write leaves layout null) rather than skip the new events, which it
// does not know, or miscount. It writes nothing, and the projection resumes from its
// checkpoint when this version leads. Its replay fails as safely: finishing its copy leaves
// unseen null, and promoting it would drop the views' new columns, which PostgreSQL refuses.
const migration4 = `DO $m$
DECLARE
	lv   bigint;
	g    bigint;
BEGIN
	SELECT live INTO lv FROM generations;
	FOR g IN SELECT lv UNION SELECT building FROM generations WHERE building IS NOT NULL LOOP
		EXECUTE format('ALTER TABLE inbox_notifications_g%1$s ADD COLUMN seen_at timestamptz, ADD COLUMN archived_at timestamptz, ADD COLUMN tags text[];
			ALTER TABLE inbox_counts_g%1$s ADD COLUMN unseen bigint;
			ALTER TABLE inbox_checkpoints_g%1$s ADD COLUMN layout smallint;
			UPDATE inbox_checkpoints_g%1$s SET layout = 4;
			ALTER TABLE inbox_checkpoints_g%1$s ALTER COLUMN layout SET NOT NULL', g);
	END LOOP;
	EXECUTE format($q$
		UPDATE inbox_notifications_g%1$s SET seen_at = substring(doc from '"readAt":"([^"]*)"')::timestamptz,
			doc = left(doc, -1) || ',"seenAt":' || substring(doc from '"readAt":("[^"]*")') || '}'
		WHERE status = 'read';
		UPDATE inbox_counts_g%1$s AS c SET unseen = (SELECT count(*) FROM inbox_notifications_g%1$s AS n
			WHERE n.recipient_id = c.recipient_id AND n.status <> 'canceled' AND n.seen_at IS NULL AND n.archived_at IS NULL);
		ALTER TABLE inbox_counts_g%1$s ALTER COLUMN unseen SET NOT NULL;
		CREATE INDEX inbox_notifications_g%1$s_tags ON inbox_notifications_g%1$s USING gin (tags) WHERE tags IS NOT NULL;
		CREATE OR REPLACE VIEW inbox_notifications AS SELECT id, recipient_id, seq, status, doc, seen_at, archived_at, tags FROM inbox_notifications_g%1$s;
		CREATE OR REPLACE VIEW inbox_counts AS SELECT recipient_id, total, unread, canceled, unseen FROM inbox_counts_g%1$s;
	$q$, lv);
	FOR g IN SELECT building FROM generations WHERE building IS NOT NULL LOOP
		EXECUTE format('ALTER TABLE inbox_counts_g%1$s ALTER COLUMN unseen SET NOT NULL', g);
	END LOOP;
END
$m$;`

// Open connects to the database at url (postgres://…) and creates or migrates the schema.
// Concurrent Opens of one schema are safe: migrations run under a database lock.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	if opts.LeadPoll <= 0 {
		opts.LeadPoll = 500 * time.Millisecond
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pginbox: parse connection string: %w", err)
	}
	if opts.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	if opts.Tracer != nil {
		cfg.ConnConfig.Tracer = otelpgx.NewTracer(otelpgx.WithTracerProvider(opts.Tracer))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pginbox: connect: %w", err)
	}
	s := &Store{pool: pool, connCfg: cfg.ConnConfig.Copy(), opts: opts, ready: make(chan struct{}), closing: make(chan struct{})}
	if err := s.migrate(ctx); err != nil {
		if !opts.StartUnreachable || !errors.Is(unavailable(err), eventstore.ErrUnavailable) {
			pool.Close()
			return nil, err
		}
		go s.keepMigrating(err)
		return s, nil
	}
	close(s.ready)
	return s, nil
}

// Close closes the connection pool. Leases and copies keep their own connections: release,
// promote or drop them first.
func (s *Store) Close() {
	s.once.Do(func() { close(s.closing) })
	s.pool.Close()
}

// Ready is closed once the database has been reached and its schema migrated.
func (s *Store) Ready() <-chan struct{} { return s.ready }

// up fails with ErrUnavailable until the database has been reached.
func (s *Store) up() error {
	select {
	case <-s.ready:
		return nil
	default:
		return fmt.Errorf("pginbox: %w: the database has not been reached yet", eventstore.ErrUnavailable)
	}
}

// keepMigrating retries the migration with backoff until it succeeds or the store closes,
// logging the first failure, a summary every minute, and the success.
func (s *Store) keepMigrating(first error) {
	logger := s.opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.Warn("PostgreSQL read model unreachable: serving what does not need it, retrying in the background", "err", first)
	backoff, attempts, since, reported := 200*time.Millisecond, 1, time.Now(), time.Now()
	for {
		select {
		case <-time.After(backoff):
		case <-s.closing:
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := s.migrate(ctx)
		cancel()
		attempts++
		if err == nil {
			logger.Info("PostgreSQL read model reached", "after", time.Since(since).Round(time.Millisecond).String(), "attempts", attempts)
			close(s.ready)
			return
		}
		if time.Since(reported) >= time.Minute {
			reported = time.Now()
			logger.Warn("PostgreSQL read model still unreachable", "for", time.Since(since).Round(time.Second).String(), "attempts", attempts, "err", err)
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (s *Store) migrate(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey("migrate", s.opts.Schema, "")); err != nil {
			return err
		}
		if s.opts.Schema != "" {
			if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{s.opts.Schema}.Sanitize()); err != nil {
				return err
			}
		}
		// pgread_schema and the "notify/pgread/" lock keys keep the package's former name:
		// databases and running instances already use them.
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS pgread_schema (version int NOT NULL)`); err != nil {
			return err
		}
		var version int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM pgread_schema`).Scan(&version); err != nil {
			return err
		}
		if version > len(migrations) {
			return fmt.Errorf("schema version %d is newer than this build knows (%d): refusing to touch it", version, len(migrations))
		}
		for i := version; i < len(migrations); i++ {
			if _, err := tx.Exec(ctx, migrations[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
		}
		if version < len(migrations) {
			_, err := tx.Exec(ctx, `DELETE FROM pgread_schema; INSERT INTO pgread_schema VALUES (`+fmt.Sprint(len(migrations))+`)`)
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pginbox: migrate schema %q: %w", s.opts.Schema, err)
	}
	return nil
}

// Checkpoint returns the position the named projection has applied up to in the live copy
// (0 if none). Relay checkpoints are apart: see RelayCheckpoint.
func (s *Store) Checkpoint(ctx context.Context, name string) (eventstore.Position, error) {
	return s.readCheckpoint(ctx, `SELECT coalesce((SELECT position FROM projection_checkpoints WHERE name = $1), 0)`, "checkpoint", name)
}

// RelayCheckpoint returns how far the relay called name has published (0 if it never saved).
// Relay checkpoints have the table checkpoints to themselves (migration 2 moved the
// projections' out), outside the copies: a projection of the same name does not see them,
// nor a replay reset them.
func (s *Store) RelayCheckpoint(ctx context.Context, name string) (eventstore.Position, error) {
	return s.readCheckpoint(ctx, `SELECT coalesce((SELECT position FROM checkpoints WHERE name = $1), 0)`, "relay checkpoint", name)
}

// readCheckpoint runs a query of one checkpoint's position (0 when there is none).
func (s *Store) readCheckpoint(ctx context.Context, query, what, name string) (eventstore.Position, error) {
	if err := s.up(); err != nil {
		return 0, err
	}
	var p int64
	if err := s.pool.QueryRow(ctx, query, name).Scan(&p); err != nil {
		return 0, fmt.Errorf("pginbox: %s %s: %w", what, name, unavailable(err))
	}
	return eventstore.Position(p), nil
}

// LogID returns the identity of the event log the read model was built from ("" before it
// was first bound).
func (s *Store) LogID(ctx context.Context) (string, error) {
	if err := s.up(); err != nil {
		return "", err
	}
	var id string
	err := s.pool.QueryRow(ctx, `SELECT coalesce((SELECT log_id FROM read_model_log), '')`).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("pginbox: read the log identity: %w", err)
	}
	return id, nil
}

// BindLog records the identity of the event log the read model is built from.
func (s *Store) BindLog(ctx context.Context, id string) error {
	if err := s.up(); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO read_model_log (log_id) VALUES ($1) ON CONFLICT (one) DO UPDATE SET log_id = excluded.log_id`, id)
	if err != nil {
		return fmt.Errorf("pginbox: record the log identity: %w", err)
	}
	return nil
}

// SaveRelayCheckpoint records how far the relay called name has published (kept here when the
// events live in EventStoreDB).
func (s *Store) SaveRelayCheckpoint(ctx context.Context, name string, p eventstore.Position) error {
	if err := s.up(); err != nil {
		return err
	}
	pos, err := position(p)
	if err == nil {
		_, err = s.pool.Exec(ctx, `INSERT INTO checkpoints (name, position) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET position = excluded.position`, name, pos)
	}
	if err != nil {
		return fmt.Errorf("pginbox: save relay checkpoint %s: %w", name, err)
	}
	return nil
}

// Apply runs fn and stores the checkpoint in one transaction: both happen or neither.
//
// fn runs once. The rows a batch declares (inbox.Tx's Load) are fetched in one query, and its
// writes sent in one round trip at the end (new rows by COPY when there are many); the commit
// does not wait for the WAL flush: after a crash of the database server the projection may
// find itself a few batches back, and re-applies them.
//
// Apply does not exclude other writers: with several instances, project through a Lease.
func (s *Store) Apply(ctx context.Context, name string, from, to eventstore.Position, fn func(inbox.Tx) error) error {
	if err := s.up(); err != nil {
		return err
	}
	return apply(ctx, s.pool, liveGen, false, name, from, to, fn)
}

// beginner is a pool or a single connection.
type beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// liveGen asks apply to write into the live copy, whichever generation it is.
const liveGen = 0

// apply runs fn in one transaction on generation gen (liveGen: the live one) and moves the
// projection's checkpoint from from to to. A copy being built (building) gets no counts: they
// are summed when it is finished.
func apply(ctx context.Context, db beginner, gen int64, building bool, name string, from, to eventstore.Position, fn func(inbox.Tx) error) error {
	pos, err := position(to)
	if err != nil {
		return err
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pginbox: begin: %w", err)
	}
	committing := false
	defer func() {
		if !committing { // also when fn panics
			_ = tx.Rollback(ctx)
		}
	}()
	tab, err := guard(ctx, tx, gen, name, from)
	if err != nil {
		return err
	}
	t := newTxn(ctx, tab, building)
	t.tx, t.name, t.to = tx, name, pos
	if err := t.run(fn); err != nil {
		return err
	}
	committing = true
	return t.commit(ctx)
}

// guard locks the projection's checkpoint in generation gen (liveGen: the live one, which
// it resolves) and checks that it is at from.
func guard(ctx context.Context, tx pgx.Tx, gen int64, name string, from eventstore.Position) (tables, error) {
	if gen == liveGen {
		// The share lock on the generations row is held until commit: a Promote (which locks
		// the row for update) waits for this batch, and a batch begun after the switch waits
		// for it and then reads the new live generation.
		if err := tx.QueryRow(ctx, `SELECT live FROM generations FOR SHARE`).Scan(&gen); err != nil {
			return tables{}, fmt.Errorf("pginbox: live generation: %w", err)
		}
	}
	tab := genTables(gen)
	// The checkpoint row is locked until commit: a second writer waits, then sees it moved.
	var at int64
	err := tx.QueryRow(ctx, `SELECT position FROM `+tab.cps+` WHERE name = $1 FOR UPDATE`, name).Scan(&at)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return tab, fmt.Errorf("pginbox: checkpoint %s: %w", name, err)
	}
	if eventstore.Position(at) != from {
		return tab, fmt.Errorf("pginbox: %w: %s is at %d, not %d", projections.ErrMoved, name, at, from)
	}
	return tab, nil
}

// commit writes the batch and its checkpoint and commits, or rolls back on failure. ctx
// replaces the context the transaction was prepared with.
func (t *txn) commit(ctx context.Context) error {
	t.ctx = ctx
	if err := t.flush(t.name, t.to); err != nil {
		_ = t.tx.Rollback(ctx)
		return err
	}
	if err := t.tx.Commit(ctx); err != nil {
		return fmt.Errorf("pginbox: commit %s at %d: %w", t.name, t.to, err)
	}
	return nil
}

// List returns up to limit of the recipient's notifications, newest first, as published JSON.
func (s *Store) List(ctx context.Context, recipient string, limit int) ([]json.RawMessage, error) {
	if err := s.up(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT doc FROM inbox_notifications WHERE recipient_id = $1 ORDER BY seq DESC LIMIT $2`, recipient, limit)
	if err != nil {
		return nil, fmt.Errorf("pginbox: list %s: %w", recipient, unavailable(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (json.RawMessage, error) {
		var doc []byte
		err := row.Scan(&doc)
		return json.RawMessage(doc), err
	})
	if err != nil {
		return nil, fmt.Errorf("pginbox: list %s: %w", recipient, unavailable(err))
	}
	return out, nil
}

// Page returns a page of the recipient's notifications, newest first, filtered by status,
// category, archive and tag, along the (recipient_id, seq) index (or the tags index, should
// the planner prefer it for a rare tag).
func (s *Store) Page(ctx context.Context, q inbox.PageQuery) (inbox.Page, error) {
	if err := s.up(); err != nil {
		return inbox.Page{}, err
	}
	var page inbox.Page
	if q.Limit <= 0 {
		return page, nil
	}
	// One statement per filter combination, so that each is planned for what it filters.
	sql := `SELECT doc, seq FROM inbox_notifications
		WHERE recipient_id = $1 AND ($2 = 0 OR seq < $2) AND ($3 = '' OR status = $3)
		  AND ($4 = '' OR (doc::jsonb)->>'category' = $4)`
	args := []any{q.Recipient, int64(q.Before), string(q.Status), q.Category, q.Limit}
	switch q.Archived {
	case inbox.ArchivedHidden:
		sql += ` AND archived_at IS NULL`
	case inbox.ArchivedOnly:
		sql += ` AND archived_at IS NOT NULL`
	case inbox.ArchivedAll:
	default:
		return page, fmt.Errorf("pginbox: page of %s: unknown archive filter %d", q.Recipient, q.Archived)
	}
	if q.Tag != "" {
		sql += ` AND tags @> ARRAY[$6::text]`
		args = append(args, q.Tag)
	}
	rows, err := s.pool.Query(ctx, sql+` ORDER BY seq DESC LIMIT $5`, args...)
	if err != nil {
		return page, fmt.Errorf("pginbox: page of %s: %w", q.Recipient, unavailable(err))
	}
	var last int64
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc, &last); err != nil {
			rows.Close()
			return page, fmt.Errorf("pginbox: page of %s: %w", q.Recipient, unavailable(err))
		}
		page.Items = append(page.Items, json.RawMessage(doc))
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("pginbox: page of %s: %w", q.Recipient, unavailable(err))
	}
	if len(page.Items) == q.Limit {
		page.Next = eventstore.Position(last)
	}
	return page, nil
}

// UnreadIDs returns the ids of up to limit of the recipient's unread notifications, newest
// first, along the (recipient_id, seq) index.
func (s *Store) UnreadIDs(ctx context.Context, recipient string, limit int) ([]string, error) {
	if err := s.up(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT id FROM inbox_notifications WHERE recipient_id = $1 AND status = 'sent'
		ORDER BY seq DESC LIMIT $2`, recipient, limit)
	if err != nil {
		return nil, fmt.Errorf("pginbox: unread of %s: %w", recipient, unavailable(err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("pginbox: unread of %s: %w", recipient, unavailable(err))
	}
	return ids, nil
}

// Count returns the recipient's counts, kept per recipient so reading them is one row.
func (s *Store) Count(ctx context.Context, recipient string) (inbox.Counts, error) {
	if err := s.up(); err != nil {
		return inbox.Counts{}, err
	}
	var c inbox.Counts
	err := s.pool.QueryRow(ctx, `SELECT total, unread, unseen, canceled FROM inbox_counts WHERE recipient_id = $1`, recipient).
		Scan(&c.Total, &c.Unread, &c.Unseen, &c.Canceled)
	if errors.Is(err, pgx.ErrNoRows) {
		return inbox.Counts{}, nil
	}
	if err != nil {
		return c, fmt.Errorf("pginbox: count %s: %w", recipient, unavailable(err))
	}
	return c, nil
}

// lockKey names an advisory lock of a kind ("lead", "migrate"); the schema is part of it so
// read models in separate schemas of one database are led and migrated separately.
func lockKey(kind, schema, name string) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "notify/pgread/%s/%q/%q", kind, schema, name)
	return int64(h.Sum64())
}

func position(p eventstore.Position) (int64, error) {
	if p > math.MaxInt64 {
		return 0, fmt.Errorf("pginbox: position %d does not fit a bigint", p)
	}
	return int64(p), nil
}

// unavailable marks the errors of a database that cannot be reached (refused or dropped
// connections, a server shutting down or starting) with eventstore.ErrUnavailable, which the
// HTTP API answers with 503 and Retry-After.
func unavailable(err error) error {
	var (
		ce *pgconn.ConnectError
		ne net.Error
		pe *pgconn.PgError
	)
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &ce), errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), pgconn.SafeToRetry(err),
		errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")):
		return fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
	}
	return err
}
