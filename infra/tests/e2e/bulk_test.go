package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
)

// A bulk change killed (SIGKILL) while it runs, then sent again with the same
// Idempotency-Key, changes every notification exactly once: each stream ends with one
// NotificationArchived, whatever the kill left done.
func TestBulk_RetriedAfterSIGKILLChangesNothingTwice(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testBulkAfterKill(t, b)
		})
	}
}

func testBulkAfterKill(t *testing.T, b backend) {
	dir := t.TempDir()
	addr := freePort(t)
	flags, openLog := b.start(t, dir)
	args := append([]string{"--data-dir", dir, "--http-addr", addr}, flags...)
	s := startServiceArgs(t, args)

	const n = 600
	ids := make([]string, 0, n)
	for i := range n {
		code, _, body, err := s.try("POST", "/v1/notifications", fmt.Sprintf(`{"recipientId":"bulk-r","content":"bulk message %d","category":"bulk"}`, i))
		if err != nil || code != 201 {
			t.Fatalf("send %d: %d %s %v", i, code, body, err)
		}
		var a struct{ ID string }
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	req := `{"action":"archive","ids":["` + strings.Join(ids, `","`) + `"]}`
	all := fmt.Sprintf(`"total":%d,"unread":%d,`, n, n)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if code, _, body, _ := s.try("GET", "/v1/recipients/bulk-r/notifications/count", ""); code == 200 && strings.Contains(string(body), all) {
			break // every send is in the read model
		}
		if time.Now().After(deadline) {
			t.Fatal("the sends did not reach the read model")
		}
	}

	// The request runs; the service is killed once some of it is done.
	answered := make(chan string, 1)
	go func() {
		code, _, body, err := s.try("POST", "/v1/recipients/bulk-r/notifications/bulk", req, "Idempotency-Key", "bulk-kill-1")
		answered <- fmt.Sprintf("%d %s %v", code, body, err)
	}()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		code, _, body, _ := s.try("GET", "/v1/recipients/bulk-r/notifications/count", "")
		if code == 200 && !strings.Contains(string(body), all) {
			break // the unread count moved: archiving has begun
		}
		if time.Now().After(deadline) {
			t.Fatal("the bulk change did not begin")
		}
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.done <- nil
	t.Logf("the first request, killed: %s", <-answered)

	s = startServiceArgs(t, args)
	code, _, body, err := s.try("POST", "/v1/recipients/bulk-r/notifications/bulk", req, "Idempotency-Key", "bulk-kill-1")
	if err != nil || code != 200 {
		t.Fatalf("retry: %d %s %v", code, body, err)
	}
	var res struct{ Matched, Changed int }
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if res.Matched != n || res.Changed == n {
		t.Fatalf("retry = %s; want all %d matched and fewer changed (the kill came after some)", body, n)
	}
	again, _, body2, _ := s.try("POST", "/v1/recipients/bulk-r/notifications/bulk", req, "Idempotency-Key", "bulk-kill-1")
	if again != 200 || !strings.Contains(string(body2), `"changed":0`) {
		t.Fatalf("a third time = %d %s, want nothing changed", again, body2)
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.done
	s.done <- nil

	log, head := openLog(t)
	archived := map[string]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stop := errors.New("done")
	err = log.Subscribe(ctx, 0, eventstore.Filter{StreamPrefix: notification.StreamPrefix}, func(_ context.Context, b eventstore.Batch) error {
		for _, e := range b.Events {
			if e.Type == notification.TypeArchived {
				archived[e.Stream]++
			}
		}
		if b.Position >= head {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("read the log: %v", err)
	}
	for _, id := range ids {
		if c := archived[notification.Stream(id)]; c != 1 {
			t.Fatalf("notification %s archived %d times, want once", id, c)
		}
	}
	t.Logf("%d notifications, each archived once; the retry changed %d", n, res.Changed)
}
