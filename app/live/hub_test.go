package live_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/app/live"
	"github.com/eventnotify/notify/infra/store/eventlog"
)

type fixture struct {
	log  *eventlog.Store
	hub  *live.Hub
	send command.SendNotificationHandler
	stop context.CancelFunc
}

// start runs a hub over a real embedded log that already holds `before` events.
func start(t *testing.T, opts live.Options, before int) fixture {
	t.Helper()
	log, err := eventlog.Open(filepath.Join(t.TempDir(), "events.db"), eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{log: log, send: command.NewSendNotificationHandler(log, nil)}
	for i := 0; i < before; i++ {
		f.append(t, "alice")
	}
	f.hub = live.NewHub(log, log.Head(), opts)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.hub.Run(ctx); close(done) }()
	f.stop = stop
	t.Cleanup(func() { stop(); <-done; log.Close() })
	return f
}

// append sends a notification to recipient; a failure fails the test (from any goroutine).
func (f fixture) append(t *testing.T, recipient string) eventstore.Position {
	t.Helper()
	res, err := f.send.Handle(context.Background(), command.SendNotification{RecipientID: recipient, Content: "hello there", Category: "c"})
	if err != nil {
		t.Error(err)
	}
	return res.Position
}

// collect reads n events or fails after 10 s.
func collect(t *testing.T, s *live.Subscription, n int) []eventstore.Position {
	t.Helper()
	var got []eventstore.Position
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case ev := <-s.C():
			got = append(got, ev.Position)
		case <-s.Done():
			t.Fatalf("subscription ended after %v: %v", got, s.Err())
		case <-timeout:
			t.Fatalf("got %d of %d events: %v", len(got), n, got)
		}
	}
	return got
}

// TestSubscribe_ResumeAnywhereWhileAppending: subscribers resume from every position (in the
// ring, older than the ring, before the hub started, at and past its head) while appends run;
// each gets exactly its recipient's events after its position, in order, once.
func TestSubscribe_ResumeAnywhereWhileAppending(t *testing.T) {
	t.Parallel()
	f := start(t, live.Options{Ring: 16, MaxPerRecipient: 1000, MaxClients: 1000}, 10)
	var mu sync.Mutex
	var alice []eventstore.Position // every alice event, in log order
	for p := eventstore.Position(1); p <= f.log.Head(); p++ {
		alice = append(alice, p)
	}
	const total = 60
	appended := make(chan struct{})
	go func() {
		defer close(appended)
		for i := 0; i < total; i++ {
			f.append(t, "bob")
			p := f.append(t, "alice")
			mu.Lock()
			alice = append(alice, p)
			mu.Unlock()
		}
	}()
	var wg sync.WaitGroup
	for from := eventstore.Position(0); from < 2*total+10; from += 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := f.hub.Subscribe("alice", live.After(from))
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			<-appended
			var want []eventstore.Position
			for _, p := range alice {
				if p > from {
					want = append(want, p)
				}
			}
			got := collect(t, s, len(want))
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("after %d: got %v, want %v", from, got, want)
			}
			select {
			case ev := <-s.C():
				t.Errorf("after %d: an extra event at %d", from, ev.Position)
			case <-time.After(20 * time.Millisecond):
			}
		}()
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
}

// TestSubscribe_SlowSubscriberIsCutOffOthersContinue: a subscriber that does not read is
// ended with ErrSlow once its buffer is full; the hub and the other subscribers go on.
func TestSubscribe_SlowSubscriberIsCutOffOthersContinue(t *testing.T) {
	t.Parallel()
	f := start(t, live.Options{Buffer: 4}, 0)
	slow, err := f.hub.Subscribe("alice", live.Now())
	if err != nil {
		t.Fatal(err)
	}
	fast, err := f.hub.Subscribe("alice", live.Now())
	if err != nil {
		t.Fatal(err)
	}
	var got []eventstore.Position
	for i := 0; i < 20; i++ {
		f.append(t, "alice")
		got = append(got, collect(t, fast, 1)...)
	}
	select {
	case <-slow.Done():
		if !errors.Is(slow.Err(), live.ErrSlow) {
			t.Fatalf("slow subscriber ended with %v, want ErrSlow", slow.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the slow subscriber was not cut off")
	}
	if len(got) != 20 || f.hub.Subscribers() != 1 {
		t.Fatalf("fast subscriber got %d events, %d subscribers open; want 20 and 1", len(got), f.hub.Subscribers())
	}
}

func TestSubscribe_Limits(t *testing.T) {
	t.Parallel()
	f := start(t, live.Options{MaxPerRecipient: 1, MaxClients: 2}, 0)
	a, err := f.hub.Subscribe("alice", live.Now())
	if err != nil {
		t.Fatal(err)
	}
	var le *live.LimitError
	if _, err := f.hub.Subscribe("alice", live.Now()); !errors.As(err, &le) || !le.PerRecipient || !errors.Is(err, live.ErrTooMany) {
		t.Fatalf("alice's second = %v, want the per-recipient limit", err)
	}
	if _, err := f.hub.Subscribe("bob", live.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.hub.Subscribe("carol", live.Now()); !errors.As(err, &le) || le.PerRecipient {
		t.Fatalf("a third subscriber = %v, want the global limit", err)
	}
	a.Close()
	a.Close() // twice is harmless
	if _, err := f.hub.Subscribe("alice", live.Now()); err != nil {
		t.Fatalf("after Close: %v", err)
	}
	f.stop()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := f.hub.Subscribe("dave", live.Now())
		if errors.Is(err, live.ErrClosed) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after stop: %v, want ErrClosed", err)
		}
		time.Sleep(time.Millisecond)
	}
}
