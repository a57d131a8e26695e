package pginbox

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

// ErrReplayRunning is returned by Fresh while another instance builds a copy of the read model.
// It wraps projections.ErrReplayRunning, which the HTTP API answers with 409.
var ErrReplayRunning = fmt.Errorf("pginbox: another instance is replaying into a copy of this read model: %w", projections.ErrReplayRunning)

// errCopyGone is returned by a copy that was promoted, dropped, replaced by a newer Fresh, or
// whose lock connection failed.
var errCopyGone = fmt.Errorf("pginbox: dropped, promoted, replaced by another Fresh, or its connection failed: %w", projections.ErrCopyGone)

// tables are the physical tables of one generation of the read model.
type tables struct{ notes, counts, cps string }

func genTables(gen int64) tables {
	return tables{
		notes:  fmt.Sprintf("inbox_notifications_g%d", gen),
		counts: fmt.Sprintf("inbox_counts_g%d", gen),
		cps:    fmt.Sprintf("inbox_checkpoints_g%d", gen),
	}
}

// pipelineBuild lets a copy being built send a batch's writes and commit in the background
// while the runner prepares the next batch. A variable so that the benchmark can compare.
var pipelineBuild = true

// knownBuild lets a copy being built answer its batches' reads from what it wrote (see
// known). A variable so that the benchmark can compare.
var knownBuild = true

// buildUnlogged makes a copy's tables UNLOGGED while it is built (SET LOGGED when finished).
// Off: measured over 1M events, it saves about 1 µs of the server's 13 µs per event, but SET
// LOGGED, which rewrites the tables into the WAL, doubles the finishing time (6–8 s instead
// of 3–4 s), and the totals came out even within the machine's noise. A variable so that the
// benchmark can compare.
var buildUnlogged = false

// createCopy creates the tables of a copy being built: no secondary index and no counts yet
// (finish adds them), unlogged.
func createCopy(ctx context.Context, tx pgx.Tx, gen int64) error {
	t, unlogged := genTables(gen), ""
	if buildUnlogged {
		unlogged = "UNLOGGED"
	}
	_, err := tx.Exec(ctx, fmt.Sprintf(`CREATE %[4]s TABLE %[1]s (
		id           text COLLATE "C" PRIMARY KEY,
		recipient_id text COLLATE "C" NOT NULL,
		seq          bigint NOT NULL,
		status       text   NOT NULL CHECK (status IN ('sent', 'read', 'canceled')),
		doc          text   NOT NULL,
		seen_at      timestamptz,
		archived_at  timestamptz,
		tags         text[]
	) WITH (fillfactor = 80);
	CREATE %[4]s TABLE %[2]s (
		recipient_id text COLLATE "C" PRIMARY KEY,
		total        bigint NOT NULL,
		unread       bigint NOT NULL,
		canceled     bigint NOT NULL,
		unseen       bigint NOT NULL
	) WITH (fillfactor = 50);
	CREATE %[4]s TABLE %[3]s (
		name     text COLLATE "C" PRIMARY KEY,
		position bigint NOT NULL,
		layout   smallint NOT NULL
	) WITH (fillfactor = 50);`, t.notes, t.counts, t.cps, unlogged))
	return err
}

// finishCopy gives a built copy what queries need: the counts, summed in one pass, the
// recipient index, and durability (SET LOGGED rewrites each table once, before the index is
// built, so that the index is built once).
func finishCopy(ctx context.Context, tx pgx.Tx, gen int64) error {
	t := genTables(gen)
	stmts := []string{
		// The index build sorts every row: in memory rather than in temporary files.
		`SET LOCAL maintenance_work_mem = '256MB'`,
		`SET LOCAL work_mem = '64MB'`,
		// What inbox.Counts.Add decides, summed; the copies contract compares it with the
		// counts the live model keeps through Add.
		`INSERT INTO ` + t.counts + ` (recipient_id, total, unread, canceled, unseen)
			SELECT recipient_id, count(*),
				count(*) FILTER (WHERE status = 'sent' AND archived_at IS NULL),
				count(*) FILTER (WHERE status = 'canceled'),
				count(*) FILTER (WHERE status = 'sent' AND archived_at IS NULL AND seen_at IS NULL)
			FROM ` + t.notes + ` GROUP BY recipient_id`,
	}
	if buildUnlogged {
		stmts = append(stmts, `ALTER TABLE `+t.notes+` SET LOGGED`, `ALTER TABLE `+t.counts+` SET LOGGED`, `ALTER TABLE `+t.cps+` SET LOGGED`)
	}
	stmts = append(stmts, `CREATE INDEX `+t.notes+`_recipient_seq ON `+t.notes+` (recipient_id, seq DESC)`,
		`CREATE INDEX `+t.notes+`_tags ON `+t.notes+` USING gin (tags) WHERE tags IS NOT NULL`, `ANALYZE `+t.notes, `ANALYZE `+t.counts)
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

func dropGen(ctx context.Context, tx pgx.Tx, gen int64) error {
	t := genTables(gen)
	_, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+t.notes+`, `+t.counts+`, `+t.cps)
	return err
}

// Fresh creates an empty copy of the read model for a replay of the named projection,
// dropping a copy left unfinished (by this instance, or by one that died); queries and the
// live projector go on using the live copy until the new one is promoted. While the copy
// exists no other instance can make one: Fresh there fails with ErrReplayRunning.
func (s *Store) Fresh(ctx context.Context, name string) (projections.Copy[inbox.Tx], error) {
	if err := s.up(); err != nil {
		return nil, err
	}
	s.replayMu.Lock()
	defer s.replayMu.Unlock()
	var conn *pgx.Conn
	if prev := s.replay; prev != nil {
		conn = prev.takeConn() // this instance's own unfinished copy: keep its lock, drop it below
		s.replay = nil
	}
	if conn == nil {
		var err error
		if conn, err = s.connectHolder(ctx); err != nil {
			return nil, fmt.Errorf("pginbox: connect to replay %s: %w", name, err)
		}
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockKey("replay", s.opts.Schema, "")).Scan(&ok); err != nil {
			closeConn(conn)
			return nil, fmt.Errorf("pginbox: take the replay lock: %w", err)
		}
		if !ok {
			closeConn(conn)
			return nil, fmt.Errorf("%w (schema %q)", ErrReplayRunning, s.opts.Schema)
		}
	}
	var gen int64
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var building *int64
		if err := tx.QueryRow(ctx, `SELECT building, next FROM generations FOR UPDATE`).Scan(&building, &gen); err != nil {
			return err
		}
		if building != nil {
			if err := dropGen(ctx, tx, *building); err != nil {
				return fmt.Errorf("drop the unfinished copy %d: %w", *building, err)
			}
		}
		if err := createCopy(ctx, tx, gen); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE generations SET building = next, next = next + 1`)
		return err
	})
	if err != nil {
		closeConn(conn) // frees the replay lock
		return nil, fmt.Errorf("pginbox: fresh copy of %s: %w", name, err)
	}
	c := &Copy{s: s, name: name, gen: gen, tab: genTables(gen), conn: conn}
	if knownBuild {
		c.known = newKnown()
	}
	s.replay = c
	return c, nil
}

// Copy is a copy of the read model being rebuilt by a replay. It holds the replay lock on a
// connection of its own, and writes on that connection only: if the connection fails, the
// lock is gone and so is the copy (the next Fresh drops it).
type Copy struct {
	s    *Store
	name string // the projection being replayed
	gen  int64
	tab  tables

	mu       sync.Mutex // serialises use of conn
	conn     *pgx.Conn  // nil once promoted, dropped or replaced
	finished bool       // counts summed, index built, tables logged
	known    *known     // while building: the copy's own rows, to spare the database reads
	// pending, while a batch's writes and commit are under way in the background, delivers
	// their outcome; conn is not to be used until it has.
	pending chan error
}

// wait waits for the batch under way in the background, if any, and returns its failure.
// The caller holds c.mu.
func (c *Copy) wait() error {
	if c.pending == nil {
		return nil
	}
	err := <-c.pending
	c.pending = nil
	if err != nil && c.known != nil {
		c.known.forget()
	}
	return err
}

// takeConn ends the copy's use of its connection and hands the connection over.
func (c *Copy) takeConn() *pgx.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.wait()
	conn := c.conn
	c.conn = nil
	if conn != nil && conn.IsClosed() {
		return nil
	}
	return conn
}

// end closes the copy's connection, which frees the replay lock. (Store.replay may still
// point at the copy: Fresh finds it ended.) The caller holds c.mu.
func (c *Copy) end() {
	_ = c.wait()
	if c.conn != nil {
		closeConn(c.conn)
		c.conn = nil
	}
}

// BackendPID is the server process holding the replay lock and building the copy, 0 once
// the copy is promoted, dropped or replaced.
func (c *Copy) BackendPID() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return 0
	}
	return c.conn.PgConn().PID()
}

// Checkpoint returns the position the copy has been built up to, once the batch under way
// (if any) is committed. (Should that batch fail, the checkpoint is short of where the runner
// thinks it is; the runner's next Apply fails with ErrMoved, and it resumes from here.)
func (c *Copy) Checkpoint(ctx context.Context, name string) (eventstore.Position, error) {
	c.mu.Lock()
	_ = c.wait()
	c.mu.Unlock()
	var p int64
	err := c.s.pool.QueryRow(ctx, `SELECT coalesce((SELECT position FROM `+c.tab.cps+` WHERE name = $1), 0)`, name).Scan(&p)
	if err != nil {
		if isUndefinedTable(err) {
			err = errCopyGone
		}
		return 0, fmt.Errorf("pginbox: checkpoint %s of copy %d: %w", name, c.gen, err)
	}
	return eventstore.Position(p), nil
}

// Apply runs fn on the copy and moves its checkpoint, in one transaction on the copy's
// connection. Until the copy is finished (the first Promote) it maintains no counts, and it
// returns once the batch is prepared: the batch's writes and commit go on in the background
// while the runner reads the next batch and folds it, which needs the connection (and so
// waits for them) only for the rows the copy does not know it wrote. A failure there is
// returned by the next Apply (the runner then resumes from the checkpoint, as for any failed
// batch), and nothing reads the copy before it has committed.
func (c *Copy) Apply(ctx context.Context, name string, from, to eventstore.Position, fn func(inbox.Tx) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return errCopyGone
	}
	pos, err := position(to)
	if err != nil {
		return err
	}
	building := !c.finished
	t := newTxn(ctx, c.tab, building)
	t.name, t.to = name, pos
	if building && c.known != nil {
		t.known = c.known.lookup
	}
	t.begin = func() (pgx.Tx, error) {
		if err := c.wait(); err != nil { // the previous batch, committing meanwhile
			return nil, err
		}
		tx, err := c.conn.Begin(ctx)
		if err != nil {
			return nil, fmt.Errorf("pginbox: begin: %w", err)
		}
		if _, err := guard(ctx, tx, c.gen, name, from); err != nil {
			_ = tx.Rollback(ctx)
			return nil, err
		}
		return tx, nil
	}
	prepared := false
	defer func() {
		if !prepared && t.tx != nil { // also when fn panics
			_ = t.tx.Rollback(ctx)
		}
	}()
	err = t.run(fn)
	if err == nil {
		err = t.open() // a batch whose reads known answered opens its transaction only now
	}
	if err == nil {
		prepared = true
		if building && c.known != nil {
			c.known.wrote(t)
		}
		if pipelineBuild && building {
			done := make(chan error, 1)
			c.pending = done
			// Not cancelled with the runner: a batch under way finishes, so that Drop can
			// use the connection after the replay is stopped.
			go func() { done <- t.commit(context.WithoutCancel(ctx)) }()
			return nil
		}
		if err = t.commit(ctx); err == nil {
			return nil
		}
	}
	if t.tx == nil { // fn failed before it needed the connection: the previous batch may hold it
		if werr := c.wait(); werr != nil {
			err = werr // reported first, as promised: the runner resumes from the checkpoint
		}
	}
	if c.known != nil {
		c.known.forget() // the database may not hold what it remembers of this batch
	}
	if c.conn.IsClosed() {
		c.end()
		return fmt.Errorf("%w: %w", errCopyGone, err)
	}
	return err
}

// Promote makes the copy live and drops the old one. The first call finishes the copy (sums
// the counts, builds the index, makes the tables logged), outside the switch. The switch is
// one transaction: it locks the generations row, which every live Apply holds shared until it
// commits, so no live batch lands between the comparison of checkpoints and the switch;
// replaces the views queries read through (which invalidates every plan cached on them); and
// drops the old generation's tables. Queries see the old copy or the new one, whole.
func (c *Copy) Promote(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return errCopyGone
	}
	if err := c.wait(); err != nil {
		if c.conn.IsClosed() {
			c.end()
			return fmt.Errorf("%w: %w", errCopyGone, err)
		}
		// The runner will apply the failed batch again; until then the copy is behind.
		return fmt.Errorf("pginbox: promote copy %d: its last batch failed (%v): %w", c.gen, err, projections.ErrBehind)
	}
	if !c.finished {
		if err := pgx.BeginFunc(ctx, c.conn, func(tx pgx.Tx) error { return finishCopy(ctx, tx, c.gen) }); err != nil {
			return c.failed(fmt.Errorf("pginbox: finish copy %d: %w", c.gen, err))
		}
		c.finished, c.known = true, nil
	}
	err := pgx.BeginFunc(ctx, c.conn, func(tx pgx.Tx) error {
		// While the switch waits for a lock, queries and batches queue behind it: give up
		// soon (a session holding the views in a long transaction) and let the caller retry.
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+switchLockTimeout+`'`); err != nil {
			return err
		}
		var live int64
		var building *int64
		if err := tx.QueryRow(ctx, `SELECT live, building FROM generations FOR UPDATE`).Scan(&live, &building); err != nil {
			return err
		}
		if building == nil || *building != c.gen {
			return errCopyGone
		}
		old := genTables(live)
		var want, have int64
		err := tx.QueryRow(ctx, `SELECT coalesce((SELECT position FROM `+old.cps+` WHERE name = $1), 0),
			coalesce((SELECT position FROM `+c.tab.cps+` WHERE name = $1), 0)`, c.name).Scan(&want, &have)
		if err != nil {
			return err
		}
		if have < want {
			return fmt.Errorf("%w: copy at %d, live at %d", projections.ErrBehind, have, want)
		}
		_, err = tx.Exec(ctx, `CREATE OR REPLACE VIEW inbox_notifications AS SELECT id, recipient_id, seq, status, doc, seen_at, archived_at, tags FROM `+c.tab.notes+`;
			CREATE OR REPLACE VIEW inbox_counts AS SELECT recipient_id, total, unread, canceled, unseen FROM `+c.tab.counts+`;
			CREATE OR REPLACE VIEW projection_checkpoints AS SELECT name, position FROM `+c.tab.cps+`;
			UPDATE generations SET live = building, building = NULL;
			DROP TABLE `+old.notes+`, `+old.counts+`, `+old.cps)
		return err
	})
	if err != nil {
		if errors.Is(err, projections.ErrBehind) {
			return fmt.Errorf("pginbox: promote copy %d: %w", c.gen, err)
		}
		if isLockTimeout(err) && !c.conn.IsClosed() {
			// Nothing changed; for the caller this is as if the copy were behind: try again.
			return fmt.Errorf("pginbox: promote copy %d: the switch could not lock the views within %s (%v): %w", c.gen, switchLockTimeout, err, projections.ErrBehind)
		}
		return c.failed(fmt.Errorf("pginbox: promote copy %d: %w", c.gen, err))
	}
	c.end()
	return nil
}

// failed ends the copy if its connection broke, and returns err.
func (c *Copy) failed(err error) error {
	if c.conn.IsClosed() {
		c.end()
	}
	return err
}

// Drop deletes the copy unless it was promoted or replaced, and frees the replay lock. If the
// copy's connection failed (a cancelled batch closes it), the lock is already free and the
// copy is dropped through the pool, unless another Fresh has replaced it meanwhile.
func (c *Copy) Drop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.wait()
	var db beginner = c.s.pool
	if c.conn != nil && !c.conn.IsClosed() {
		db = c.conn
	}
	defer c.end()
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var building *int64
		if err := tx.QueryRow(ctx, `SELECT building FROM generations FOR UPDATE`).Scan(&building); err != nil {
			return err
		}
		if building == nil || *building != c.gen {
			return nil // promoted, or replaced by a newer copy
		}
		if err := dropGen(ctx, tx, c.gen); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE generations SET building = NULL`)
		return err
	})
	if err != nil {
		return fmt.Errorf("pginbox: drop copy %d: %w", c.gen, err)
	}
	return nil
}

// switchLockTimeout bounds how long Promote's switch waits for a lock.
const switchLockTimeout = "2s"

func isLockTimeout(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}

func isUndefinedTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P01"
}
