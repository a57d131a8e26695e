package pginbox_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/readmodel/pginbox"
	"github.com/eventnotify/notify/projections/inbox"
)

const (
	killFeed    = 600 // events in the feed both processes project
	killBatch   = 10
	killName    = "inbox-kill"
	killCounter = "ledger-kill"
)

// killEvent is event at position p of a feed both processes compute alike: a send to one of
// seven recipients.
func killEvent(p int) eventstore.RecordedEvent {
	id := uuid.NewSHA1(uuid.NameSpaceOID, []byte(strconv.Itoa(p))).String()
	e := notification.Sent{NotificationID: id, RecipientID: "r-" + strconv.Itoa(p%7), Content: "message " + strconv.Itoa(p), Category: "c", SentAt: time.Unix(int64(p), 0).UTC()}
	data, _ := json.Marshal(e)
	return eventstore.RecordedEvent{Stream: notification.Stream(id), Position: eventstore.Position(p), Type: e.Type(), Data: data}
}

// projectFeed applies the feed from the lease's checkpoint to its end, pausing between
// batches, as a runner following a live log would.
func projectFeed(ctx context.Context, l *pginbox.Lease, pause time.Duration) error {
	p := ledger(killName, killCounter)
	for {
		from, err := l.Checkpoint(ctx, killName)
		if err != nil {
			return err
		}
		if from >= killFeed {
			return nil
		}
		to := min(from+killBatch, killFeed)
		err = l.Apply(ctx, killName, from, to, func(tx inbox.Tx) error {
			for pos := from + 1; pos <= to; pos++ {
				if err := p.Apply(tx, killEvent(int(pos))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		time.Sleep(pause)
	}
}

// The leader is a separate process, killed with SIGKILL in the middle of projecting: the
// kernel closes its connection, the server frees the lock, and this process takes over within
// seconds and finishes the feed with every event applied exactly once.
func TestLead_LeaderProcessKilled(t *testing.T) {
	if schema := os.Getenv("PGREAD_KILL_CHILD_SCHEMA"); schema != "" {
		leaderChild(schema)
		return
	}
	t.Parallel()
	schema := freshSchema(t)
	s := open(t, schema, pginbox.Options{LeadPoll: poll})
	ctx := context.Background()

	child := exec.Command(os.Args[0], "-test.run=^TestLead_LeaderProcessKilled$", "-test.count=1")
	child.Env = append(os.Environ(), "PGREAD_KILL_CHILD_SCHEMA="+schema)
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "leading" {
		t.Fatalf("child did not lead: %q", lines.Text())
	}

	leased := make(chan *pginbox.Lease, 1)
	go func() {
		l, err := s.Lead(ctx, killName)
		if err != nil {
			t.Error(err)
		}
		leased <- l
	}()
	for {
		p, err := s.Checkpoint(ctx, killName)
		if err != nil {
			t.Fatal(err)
		}
		if p >= killFeed/3 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-leased:
		t.Fatal("this process leads while the child still does")
	default:
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	_ = child.Wait()
	var l *pginbox.Lease
	select {
	case l = <-leased:
	case <-time.After(5 * time.Second):
		t.Fatal("no takeover within 5s of the leader's SIGKILL")
	}
	defer l.Release()
	at, _ := s.Checkpoint(ctx, killName)
	t.Logf("took over %v after SIGKILL, at position %d of %d", time.Since(killed).Round(time.Millisecond), at, killFeed)
	if at >= killFeed {
		t.Fatalf("the child finished before it was killed; the test proves nothing")
	}
	if err := projectFeed(ctx, l, 0); err != nil {
		t.Fatal(err)
	}
	docs, err := s.List(ctx, killCounter, 1)
	if err != nil || len(docs) != 1 {
		t.Fatalf("ledger: %d, %v", len(docs), err)
	}
	var v inbox.View
	if err := json.Unmarshal(docs[0], &v); err != nil {
		t.Fatal(err)
	}
	if v.Content != strconv.Itoa(killFeed) {
		t.Fatalf("events applied %s times, the feed holds %d", v.Content, killFeed)
	}
	for r := range 7 {
		c, _ := s.Count(ctx, "r-"+strconv.Itoa(r))
		if want := killFeed/7 + btoi(r >= 1 && r <= killFeed%7); c.Total != want {
			t.Fatalf("r-%d: %d notifications, want %d", r, c.Total, want)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// leaderChild leads the projection and projects the feed slowly until it is killed.
func leaderChild(schema string) {
	ctx := context.Background()
	s, err := pginbox.Open(ctx, os.Getenv("PG_URL"), pginbox.Options{Schema: schema, LeadPoll: poll})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	l, err := s.Lead(ctx, killName)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("leading")
	if err := projectFeed(ctx, l, 20*time.Millisecond); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(0)
}
