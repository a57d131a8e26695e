package inbox_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/infra/eventlog"
	"github.com/eventnotify/notify/infra/inboxdb"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

// Given commands in the log, a runner builds the inbox; stopped and started again it resumes
// from its checkpoint, so events applied before the stop are not applied twice.
func TestRunner_ResumesFromCheckpoint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log, err := eventlog.Open(filepath.Join(dir, "events.db"), eventlog.Options{ReadBatch: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	rm, err := inboxdb.Open(filepath.Join(dir, "inbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	send := command.NewSendNotificationHandler(log, nil)
	read := command.NewReadNotificationHandler(log, nil)
	ctx := context.Background()

	sendN := func(from, n int) (last command.Result) {
		for i := from; i < from+n; i++ {
			res, err := send.Handle(ctx, command.SendNotification{RecipientID: "alice", Content: fmt.Sprintf("message %d", i), Category: "c"})
			if err != nil {
				t.Fatal(err)
			}
			last = res
		}
		return last
	}
	run := func(until command.Result) {
		t.Helper()
		r := projections.NewRunner(log, rm, inbox.Projection(), nil)
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- r.Run(rctx) }()
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		if err := r.WaitFor(wctx, until.Position); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}

	first := sendN(0, 30)
	run(first)
	if _, err := read.Handle(ctx, command.ReadNotification{NotificationID: first.Notification.ID()}); err != nil {
		t.Fatal(err)
	}
	last := sendN(30, 20)
	run(last)

	c, err := rm.Count(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if c != (inbox.Counts{Total: 50, Unread: 49}) {
		t.Fatalf("counts after restart = %+v, want total 50 unread 49", c)
	}
	docs, _ := rm.List(ctx, "alice", 100)
	if len(docs) != 50 {
		t.Fatalf("inbox lists %d, want 50", len(docs))
	}
	if cp, _ := rm.Checkpoint(ctx, inbox.Name); cp != last.Position {
		t.Fatalf("checkpoint %d, want %d", cp, last.Position)
	}
}
