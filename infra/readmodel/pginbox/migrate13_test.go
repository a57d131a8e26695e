package pginbox_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/readmodel/pginbox"
	"github.com/eventnotify/notify/projections/inbox"
)

// A read model of schema 3 (before issue #13), with rows and counts the previous version
// wrote, migrates in place: read notifications seen when read (their documents gain seenAt,
// nothing else changes), none archived, unseen counted; the projection goes on from its
// checkpoint and folds the new events. An instance of the previous version still writing
// fails instead of skipping the new events or miscounting.
func TestOpen_Migrates13InPlace(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	q := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+q+`; SET search_path = `+q+`; CREATE TABLE pgread_schema (version int NOT NULL); INSERT INTO pgread_schema VALUES (3)`); err != nil {
		t.Fatal(err)
	}
	for i, m := range pginbox.Migrations[:3] {
		if _, err := conn.Exec(ctx, m); err != nil {
			t.Fatalf("migration %d: %v", i+1, err)
		}
	}
	const (
		sent     = `{"id":"n1","recipientId":"r1","content":"first","category":"c","status":"sent","readAt":null,"canceledAt":null,"createdAt":"2026-01-01T00:00:00Z"}`
		read     = `{"id":"n2","recipientId":"r1","content":"second \"readAt\":\"x\"","category":"c","status":"read","readAt":"2026-01-02T03:04:05.123456789+02:00","canceledAt":null,"createdAt":"2026-01-01T00:00:01Z"}`
		canceled = `{"id":"n3","recipientId":"r1","content":"third","category":"c","status":"canceled","readAt":null,"canceledAt":"2026-01-03T00:00:00Z","createdAt":"2026-01-01T00:00:02Z"}`
	)
	if _, err := conn.Exec(ctx, `INSERT INTO inbox_notifications_g1 (id, recipient_id, seq, status, doc) VALUES
			('n1', 'r1', 1, 'sent', $1), ('n2', 'r1', 2, 'read', $2), ('n3', 'r1', 3, 'canceled', $3)`, sent, read, canceled); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO inbox_counts_g1 VALUES ('r1', 3, 1, 1); INSERT INTO inbox_checkpoints_g1 VALUES ('inbox', 3)`); err != nil {
		t.Fatal(err)
	}

	s := open(t, schema, pginbox.Options{})
	if p, err := s.Checkpoint(ctx, inbox.Name); err != nil || p != 3 {
		t.Fatalf("checkpoint after the migration: %d, %v; want 3, kept", p, err)
	}
	if c, err := s.Count(ctx, "r1"); err != nil || c != (inbox.Counts{Total: 3, Unread: 1, Unseen: 1, Canceled: 1}) {
		t.Fatalf("counts after the migration: %+v, %v", c, err)
	}
	docs, err := s.List(ctx, "r1", 10)
	if err != nil || len(docs) != 3 {
		t.Fatalf("list: %d, %v", len(docs), err)
	}
	want := []string{canceled, read[:len(read)-1] + `,"seenAt":"2026-01-02T03:04:05.123456789+02:00"}`, sent}
	for i, d := range docs {
		if string(d) != want[i] {
			t.Errorf("document %d after the migration:\n%s\nwant\n%s", i, d, want[i])
		}
	}
	var seen time.Time
	if err := conn.QueryRow(ctx, `SELECT seen_at FROM inbox_notifications WHERE id = 'n2'`).Scan(&seen); err != nil || !seen.Equal(time.Date(2026, 1, 2, 1, 4, 5, 123456789, time.UTC).Round(time.Microsecond)) {
		t.Errorf("seen_at of the read one: %v, %v", seen, err)
	}

	// The projection goes on: archive the unread one, see nothing new, read it.
	events := []notification.Event{
		notification.Archived{NotificationID: "n1", RecipientID: "r1", ArchivedAt: time.Unix(10, 0).UTC()},
		notification.Read{NotificationID: "n1", RecipientID: "r1", ReadAt: time.Unix(11, 0).UTC()},
		notification.Unarchived{NotificationID: "n1", RecipientID: "r1", UnarchivedAt: time.Unix(12, 0).UTC()},
		notification.Unread{NotificationID: "n2", RecipientID: "r1", UnreadAt: time.Unix(13, 0).UTC()},
	}
	wants := []inbox.Counts{
		{Total: 3, Unread: 0, Unseen: 0, Canceled: 1},
		{Total: 3, Unread: 0, Unseen: 0, Canceled: 1},
		{Total: 3, Unread: 0, Unseen: 0, Canceled: 1},
		{Total: 3, Unread: 1, Unseen: 0, Canceled: 1},
	}
	for i, e := range events {
		data, _ := json.Marshal(e)
		rec := eventstore.RecordedEvent{Stream: notification.Stream(e.Notification()), Position: eventstore.Position(4 + i), Type: e.Type(), Data: data}
		if err := s.Apply(ctx, inbox.Name, rec.Position-1, rec.Position, func(tx inbox.Tx) error { return inbox.Projection().Apply(tx, rec) }); err != nil {
			t.Fatalf("%s: %v", e.Type(), err)
		}
		if c, err := s.Count(ctx, "r1"); err != nil || c != wants[i] {
			t.Fatalf("after %s: %+v, %v; want %+v", e.Type(), c, err, wants[i])
		}
	}

	// The previous version's counts upsert (its every batch that changes a count) is refused.
	_, err = conn.Exec(ctx, `INSERT INTO inbox_counts_g1 AS c (recipient_id, total, unread, canceled)
		SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[])
		ON CONFLICT (recipient_id) DO UPDATE SET total = c.total + excluded.total,
			unread = c.unread + excluded.unread, canceled = c.canceled + excluded.canceled`,
		[]string{"r1"}, []int64{1}, []int64{1}, []int64{0})
	if err == nil {
		t.Fatal("the previous version's counts upsert succeeded after the migration; it must fail rather than leave unseen behind")
	}
	t.Logf("the previous version's counts upsert: %v", err)
	// Its checkpoint write (every batch's, even one that only skips events it does not know)
	// is refused too.
	_, err = conn.Exec(ctx, `INSERT INTO inbox_checkpoints_g1 (name, position) VALUES ('inbox', 8)
		ON CONFLICT (name) DO UPDATE SET position = excluded.position`)
	if err == nil {
		t.Fatal("the previous version's checkpoint write succeeded after the migration; it would move past events it skipped")
	}
	if p, err := s.Checkpoint(ctx, inbox.Name); err != nil || p != 7 {
		t.Fatalf("checkpoint %d, %v; want 7, this version's", p, err)
	}
}
