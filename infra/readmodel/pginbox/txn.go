package pginbox

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/projections/inbox"
)

// txn is the inbox projection's view of one PostgreSQL transaction, for one batch. Load
// fetches the rows a batch declares in one query (what a copy being built knows of its own
// rows, it answers without one); Get and Put then work in memory, and flush sends the views
// put in one batch, with the counts' changes summed per recipient.
type txn struct {
	ctx context.Context
	tx  pgx.Tx
	// begin, when tx is nil, opens the transaction at the first need of the database (a copy
	// being built answers many batches' reads from known, and needs it only to write).
	begin func() (pgx.Tx, error)
	tab   tables
	// building: a copy being built keeps no counts; they are summed when it is finished.
	building bool
	err      error  // the first store error, kept in case fn swallows it
	name     string // the projection and the position commit moves its checkpoint to
	to       int64

	// known, when set, answers for rows before the database is asked (a copy being built
	// knows what it wrote): ok reports whether it knows, exists whether the row is there.
	known func(id string) (v inbox.View, exists, ok bool)

	// before is each looked-up notification's row as the transaction found it.
	before map[string]stored
	// current is each looked-up or written notification's view as the transaction sees it.
	current map[string]inbox.View
	// written lists the ids Put, in the order first put.
	written []string
	isDirty map[string]bool
}

// stored is a notification row as found in the database.
type stored struct {
	exists    bool
	recipient string
	seq       eventstore.Position
	standing  inbox.Standing
	tags      []string
}

func storedOf(v inbox.View) stored {
	return stored{exists: true, recipient: v.RecipientID, seq: v.Seq, standing: inbox.StandingOf(v), tags: v.Tags}
}

func newTxn(ctx context.Context, tab tables, building bool) *txn {
	return &txn{ctx: ctx, tab: tab, building: building, before: map[string]stored{}, current: map[string]inbox.View{}, isDirty: map[string]bool{}}
}

// open makes sure the transaction has begun.
func (t *txn) open() error {
	if t.tx != nil {
		return nil
	}
	tx, err := t.begin()
	if err != nil {
		return err
	}
	t.tx = tx
	return nil
}

// run runs fn on the transaction; a store error fn swallowed fails it all the same.
func (t *txn) run(fn func(inbox.Tx) error) error {
	if err := fn(t); err != nil {
		return err
	}
	return t.err // fn swallowed a store error; its writes cannot be trusted
}

// Load reads the rows of ids the transaction has not seen: from known if it can tell, the
// rest in one query.
func (t *txn) Load(ids []string) error {
	var ask []string
	for _, id := range ids {
		if _, ok := t.current[id]; ok {
			continue
		}
		if _, ok := t.before[id]; ok || t.resolve(id) {
			continue
		}
		ask = append(ask, id)
	}
	if len(ask) == 0 {
		return nil
	}
	if err := t.open(); err != nil {
		return t.fail(err)
	}
	if err := t.load(ask); err != nil {
		return t.fail(err)
	}
	return nil
}

// load fetches the rows of ids in one query; ids absent from the table are noted as such.
func (t *txn) load(ids []string) error {
	rows, err := t.tx.Query(t.ctx, `SELECT id, seq, doc FROM `+t.tab.notes+` WHERE id = ANY($1)`, ids)
	if err != nil {
		return fmt.Errorf("pginbox: load %d notifications: %w", len(ids), err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id  string
			seq int64
			doc []byte
		)
		if err := rows.Scan(&id, &seq, &doc); err != nil {
			return fmt.Errorf("pginbox: load notifications: %w", err)
		}
		if err := t.found(id, seq, doc); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("pginbox: load notifications: %w", err)
	}
	for _, id := range ids {
		if _, ok := t.before[id]; !ok {
			t.before[id] = stored{}
		}
	}
	return nil
}

func (t *txn) found(id string, seq int64, doc []byte) error {
	var v inbox.View
	if err := inbox.DecodeView(doc, &v); err != nil {
		return fmt.Errorf("pginbox: decode notification %s: %w", id, err)
	}
	v.Seq = eventstore.Position(seq)
	t.before[id] = storedOf(v)
	t.current[id] = v
	return nil
}

func (t *txn) fail(err error) error {
	if t.err == nil {
		t.err = err
	}
	return err
}

// Get returns the view of notification id, if the inbox has it; an id not loaded is loaded
// alone.
func (t *txn) Get(id string) (inbox.View, bool, error) {
	if v, ok := t.current[id]; ok {
		return v, true, nil
	}
	if _, ok := t.before[id]; !ok {
		if err := t.Load([]string{id}); err != nil {
			return inbox.View{}, false, err
		}
	}
	v, ok := t.current[id]
	return v, ok, nil
}

// resolve asks known about id, and notes the row as found if it knows.
func (t *txn) resolve(id string) bool {
	if t.known == nil {
		return false
	}
	v, exists, ok := t.known(id)
	if !ok {
		return false
	}
	if exists {
		t.before[id] = storedOf(v)
		t.current[id] = v
	} else {
		t.before[id] = stored{}
	}
	return true
}

// Put inserts or replaces a view; flush keeps the counts in step.
func (t *txn) Put(v inbox.View) error {
	if v.ID == "" || v.RecipientID == "" {
		return t.fail(fmt.Errorf("pginbox: a view needs an id and a recipient: %+v", v))
	}
	if prev, ok := t.current[v.ID]; ok && (prev.RecipientID != v.RecipientID || prev.Seq != v.Seq) {
		return t.fail(fmt.Errorf("pginbox: notification %s cannot move between recipients or positions", v.ID))
	}
	if _, err := position(v.Seq); err != nil {
		return t.fail(err)
	}
	t.current[v.ID] = v
	if !t.isDirty[v.ID] {
		t.isDirty[v.ID] = true
		t.written = append(t.written, v.ID)
	}
	return nil
}

// flush writes the views put, the counts' changes and the checkpoint in one round trip.
func (t *txn) flush(name string, to int64) error {
	var unknown []string
	for _, id := range t.written {
		if _, ok := t.before[id]; !ok { // put without a Load: find what it replaces
			put := t.current[id]
			if t.resolve(id) {
				t.current[id] = put
				continue
			}
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		written := t.current
		t.current = map[string]inbox.View{}
		err := t.load(unknown)
		for id, v := range written {
			t.current[id] = v
		}
		if err != nil {
			return err
		}
	}

	// Rows in key order, so that concurrent transactions lock them in the same order.
	slices.Sort(t.written)
	n := len(t.written)
	var inserts [][]any // rows the table does not hold yet
	var upIDs, upStatuses, upDocs []string
	var upSeen, upArchived []*time.Time
	var retagged [][]any // rows whose tags change (never, from the fold: a notification's tags are its send's)
	deltas := map[string]*inbox.Counts{}
	var order []string
	for _, id := range t.written {
		v, was := t.current[id], t.before[id]
		if was.exists && (was.recipient != v.RecipientID || was.seq != v.Seq) {
			return fmt.Errorf("pginbox: notification %s cannot move between recipients or positions", id)
		}
		doc, err := inbox.AppendJSON(nil, v)
		if err != nil {
			return fmt.Errorf("pginbox: encode %s: %w", id, err)
		}
		if was.exists {
			upIDs, upStatuses, upDocs = append(upIDs, id), append(upStatuses, string(v.Status)), append(upDocs, string(doc))
			upSeen, upArchived = append(upSeen, v.SeenAt), append(upArchived, v.ArchivedAt)
			if !slices.Equal(was.tags, v.Tags) {
				retagged = append(retagged, []any{id, tagsOf(v)})
			}
		} else {
			inserts = append(inserts, []any{id, v.RecipientID, int64(v.Seq), string(v.Status), string(doc), v.SeenAt, v.ArchivedAt, tagsOf(v)})
		}

		d := deltas[v.RecipientID]
		if d == nil {
			d = &inbox.Counts{}
			deltas[v.RecipientID] = d
			order = append(order, v.RecipientID)
		}
		d.Change(was.standing, inbox.StandingOf(v))
	}

	// New rows are inserted plainly, without ON CONFLICT: the transaction has read that they
	// are absent, and a concurrent writer (possible only without a Lease) makes the insert
	// fail, and the whole batch with it, rather than count a notification twice. Many rows go
	// by COPY, the fastest way into a table; a few ride in the batch below.
	b := &pgx.Batch{}
	// The read model is derived from the log: a commit need not wait for its WAL flush. A
	// server crash may lose the last batches (up to about 3 × wal_writer_delay), but their
	// checkpoint goes with them, so the projection applies them again; nothing is torn.
	b.Queue(`SET LOCAL synchronous_commit = off`)
	if len(inserts) >= copyFrom {
		if _, err := t.tx.CopyFrom(t.ctx, pgx.Identifier{t.tab.notes}, []string{"id", "recipient_id", "seq", "status", "doc", "seen_at", "archived_at", "tags"}, pgx.CopyFromRows(inserts)); err != nil {
			return fmt.Errorf("pginbox: copy %d notifications: %w", len(inserts), err)
		}
	} else {
		for _, row := range inserts {
			b.Queue(`INSERT INTO `+t.tab.notes+` (id, recipient_id, seq, status, doc, seen_at, archived_at, tags) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, row...)
		}
	}
	if len(upIDs) > 0 {
		b.Queue(`UPDATE `+t.tab.notes+` AS n SET status = u.st, doc = u.d, seen_at = u.s, archived_at = u.a
			FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[]) AS u(i, st, d, s, a) WHERE n.id = u.i`,
			upIDs, upStatuses, upDocs, upSeen, upArchived)
	}
	for _, row := range retagged {
		b.Queue(`UPDATE `+t.tab.notes+` SET tags = $2 WHERE id = $1`, row...)
	}
	if n > 0 && !t.building {
		var rs []string
		var total, unread, unseen, canceled []int64
		slices.Sort(order)
		for _, r := range order {
			d := deltas[r]
			if *d == (inbox.Counts{}) {
				continue
			}
			rs = append(rs, r)
			total, unread, canceled = append(total, int64(d.Total)), append(unread, int64(d.Unread)), append(canceled, int64(d.Canceled))
			unseen = append(unseen, int64(d.Unseen))
		}
		if len(rs) > 0 {
			b.Queue(`INSERT INTO `+t.tab.counts+` AS c (recipient_id, total, unread, canceled, unseen)
				SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[])
				ON CONFLICT (recipient_id) DO UPDATE SET total = c.total + excluded.total,
					unread = c.unread + excluded.unread, canceled = c.canceled + excluded.canceled, unseen = c.unseen + excluded.unseen`,
				rs, total, unread, canceled, unseen)
		}
	}
	// layout is migration 4's: a writer of the previous version, which does not set it, is
	// refused (see migration4).
	b.Queue(`INSERT INTO `+t.tab.cps+` (name, position, layout) VALUES ($1, $2, 4)
		ON CONFLICT (name) DO UPDATE SET position = excluded.position, layout = excluded.layout`, name, to)
	if err := t.tx.SendBatch(t.ctx, b).Close(); err != nil {
		return fmt.Errorf("pginbox: write %d notifications and checkpoint %s: %w", n, name, err)
	}
	return nil
}

// tagsOf is the tags column of v: NULL when it has none (the tags index leaves those out).
func tagsOf(v inbox.View) []string {
	if len(v.Tags) == 0 {
		return nil
	}
	return v.Tags
}

// copyFrom is how many new rows make COPY, with its extra round trip, worth it.
const copyFrom = 32
