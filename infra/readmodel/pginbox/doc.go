// Package pginbox is the PostgreSQL inbox read model, for several API instances sharing one
// read model. Each recipient's notifications are rows holding their published JSON (the bytes
// infra/readmodel/inboxdb serves), with counts per recipient and the projection checkpoints
// updated in the same transaction. Exactly one instance projects at a time: see Lead.
//
// It implements the inbox projection's transaction, the runner's store, the inbox queries and
// replay into a fresh copy (projections.Copies), and passes inboxtest. It imports the ports
// only, never another adapter.
//
// # Batches
//
// A batch is one transaction. It first declares the notifications it touches (inbox.Tx's
// Load), which are fetched with one SELECT ... WHERE id = ANY($1); the fold then reads and
// writes views in memory, once, and the views it put are sent at the end in one round trip,
// new rows by COPY when there are many, with the counts' changes summed per recipient.
//
// # Copies
//
// The read model lives in generations: generation N is the tables inbox_notifications_gN,
// inbox_counts_gN and inbox_checkpoints_gN (the projections' checkpoints). The one-row table
// generations names the live generation and the one being built, if any. Queries read through
// views of the old names (inbox_notifications, inbox_counts, projection_checkpoints), so their
// SQL never changes; the relay checkpoints (SaveRelayCheckpoint) stay in the table
// checkpoints, outside the copies, apart from the projections'.
//
// Writers name the generation's tables. A live Apply first reads the live generation with a
// share lock on the generations row, held until it commits. Promote locks that row for
// update, so in one transaction, with no live batch in flight or able to start, it compares
// the checkpoints (ErrBehind if the copy is behind), replaces the three views, records the new
// live generation and drops the old tables. A query sees the old copy or the new one whole: a
// statement locks the views before it reads, so one running during the switch holds it off,
// and one arriving during it waits and then reads the new definition. Replacing a view
// invalidates every plan cached on it, in every session, so statements that pgx keeps prepared
// on pooled connections are re-planned against the new tables, not left reading dropped ones;
// and as the columns are the same, pgx's cached descriptions stay valid (tested). The live
// projector's next batch, begun from its old checkpoint, reads the new generation's and fails
// with ErrMoved; its runner resumes from the copy's checkpoint. The switch waits at most 2s
// for its locks (a session holding a view in a long transaction would otherwise stall every
// query queued behind it), then gives up, changing nothing, with an error wrapping ErrBehind,
// so that projections.Replay tries again.
//
// A copy is built for speed: without the recipient index and without counts (its batches
// skip the count upserts, about a third of the server's work in place). The first Promote
// finishes it outside the switch: counts summed with one GROUP BY, the index built, ANALYZE;
// later batches keep counts as the live model does. Being the copy's only writer, it answers
// most of a batch's reads from what it wrote (see known), sparing the query that loads a
// batch's rows; and it commits each batch in the background while the runner folds the next. (UNLOGGED tables were measured too and not kept: see buildUnlogged.) A copy left
// unfinished, by a crash or a failed connection, is dropped by the next Fresh. Only one
// replay runs per read model: the copy holds an advisory lock on a connection of its own and
// writes on that connection only; Fresh elsewhere fails with ErrReplayRunning until the copy
// is promoted or dropped, or its instance dies.
//
// Migration 2 moved an existing read model into generation 1 by dropping its rows (they are
// derived from the log): the projection rebuilds it from position 0 after the upgrade.
//
// # Migration 4
//
// Issue #13 (seen, archived, tags, unseen counts) migrates in place, online: nullable columns
// (no table rewrite) on the live generation's tables and on a copy being built, seen_at and
// the documents' seenAt backfilled from readAt (a notification read and then marked unread
// before the upgrade stays unseen until a replay: the old read model did not keep that it was
// seen), unseen counted from the rows, a partial GIN index on tags, the views extended. It
// holds the tables for the length of its backfill. The checkpoints' layout and the counts'
// unseen are NOT NULL without a default: an instance of the previous version still projecting
// has every batch refused (its checkpoint write leaves layout null), so it stalls, writing
// nothing, rather than skip the new events or miscount, until this version leads and resumes
// from the checkpoint. Its replay fails as safely.
//
// # The former name
//
// The package was called pgread. The table recording the schema version, pgread_schema, and
// the prefix of the advisory-lock keys, "notify/pgread/", keep that name: live databases and
// running instances use them, and a rename would orphan the one and split the locks.
package pginbox
