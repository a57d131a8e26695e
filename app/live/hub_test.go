package live_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/app/live"
	"github.com/eventnotify/notify/domain/notification"
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
	for _, ev := range collectEvents(t, s, n) {
		got = append(got, ev.Position)
	}
	return got
}

// collectEvents reads n events or fails after 10 s.
func collectEvents(t *testing.T, s *live.Subscription, n int) []*live.Event {
	t.Helper()
	var got []*live.Event
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case ev := <-s.C():
			got = append(got, ev)
		case <-s.Done():
			t.Fatalf("subscription ended after %d events: %v", len(got), s.Err())
		case <-timeout:
			t.Fatalf("got %d of %d events", len(got), n)
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

// TestSubscribe_DataIsTheStoredJSONWithItsPosition: an event's data on a subscription is its
// stored JSON with "position" added last — for what the command side writes, exactly what
// encoding/json gives for the event plus its position — and events of unknown types or that do
// not decode are left out, live and in a catch-up from the log alike.
func TestSubscribe_DataIsTheStoredJSONWithItsPosition(t *testing.T) {
	t.Parallel()
	f := start(t, live.Options{Ring: 1}, 0)
	ctx := context.Background()
	liveSub, err := f.hub.Subscribe("alice", live.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer liveSub.Close()
	records := []struct {
		name, typ, data string
		want            string // with %d for the position; "" when left out
	}{
		{"a stored read", notification.TypeRead, `{"notificationId":"n-1","recipientId":"alice","readAt":"2026-12-01T00:00:00Z"}`,
			`{"notificationId":"n-1","recipientId":"alice","readAt":"2026-12-01T00:00:00Z","position":%d}`},
		{"a newer version's type", "NotificationSnoozed", `{"notificationId":"n-2","recipientId":"alice"}`, ""},
		{"a known type that does not decode", notification.TypeRead, `{"notificationId":"n-3","recipientId":"alice","readAt":5}`, ""},
		{"spaces around the object", notification.TypeUnread, " {\"notificationId\":\"n-4\", \"recipientId\":\"alice\"} \n",
			`{"notificationId":"n-4", "recipientId":"alice","position":%d}`},
		{"another recipient's", notification.TypeRead, `{"notificationId":"n-5","recipientId":"bob","readAt":"2026-12-01T00:00:00Z"}`, ""},
	}
	var want []string
	for _, r := range records {
		res, err := f.log.Append(ctx, notification.Stream(uuid.NewString()), eventstore.NoStream, eventstore.EventData{ID: uuid.New(), Type: r.typ, Data: []byte(r.data)})
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		if r.want != "" {
			want = append(want, fmt.Sprintf("%d %s", res.Position, fmt.Sprintf(r.want, res.Position)))
		}
	}
	res, err := f.send.Handle(ctx, command.SendNotification{RecipientID: "alice", Content: "hello <there> & \"you\"", Category: "c"})
	if err != nil {
		t.Fatal(err)
	}
	last := res.Position
	recs, err := f.log.ReadStream(ctx, notification.Stream(res.Notification.ID()), 0, 0)
	if err != nil || len(recs) != 1 {
		t.Fatalf("the sent notification's stream: %v, %v", recs, err)
	}
	e, err := notification.Decode(recs[0].Type, recs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	sent, err := json.Marshal(struct {
		notification.Sent
		Position eventstore.Position `json:"position"`
	}{e.(notification.Sent), last})
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, fmt.Sprintf("%d %s", last, sent))

	catchUp, err := f.hub.Subscribe("alice", live.After(0)) // older than the ring: read from the log
	if err != nil {
		t.Fatal(err)
	}
	defer catchUp.Close()
	for name, s := range map[string]*live.Subscription{"live": liveSub, "catch-up": catchUp} {
		var got []string
		for _, ev := range collectEvents(t, s, len(want)) {
			got = append(got, fmt.Sprintf("%d %s", ev.Position, ev.Data))
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s subscription got\n%s\nwant\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}
