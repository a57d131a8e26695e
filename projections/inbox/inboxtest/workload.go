package inboxtest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
)

// Workload returns n recorded events at positions 1…n for benchmarks: notifications sent to
// recipients r-0…r-(recipients-1), of which 30 % are read and 10 % canceled 200–600 events
// later. It is deterministic.
func Workload(n, recipients int) []eventstore.RecordedEvent { return workload(n, recipients, false) }

// RichWorkload is Workload with #13's shapes: every notification carries a title, data, an
// action URL, two actions and two tags; 10 % are later seen, 10 % archived, 10 % read and
// 10 % canceled.
func RichWorkload(n, recipients int) []eventstore.RecordedEvent { return workload(n, recipients, true) }

func workload(n, recipients int, rich bool) []eventstore.RecordedEvent {
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type pending struct {
		at int
		e  notification.Event
	}
	var later []pending
	out := make([]eventstore.RecordedEvent, 0, n)
	add := func(e notification.Event) {
		data, _ := json.Marshal(e)
		out = append(out, eventstore.RecordedEvent{Stream: notification.Stream(e.Notification()), Position: eventstore.Position(len(out) + 1), ID: uuid.New(), Type: e.Type(), Data: data})
	}
	for len(out) < n {
		if len(later) > 0 && later[0].at <= len(out) {
			add(later[0].e)
			later = later[1:]
			continue
		}
		id, r := uuid.NewString(), "r-"+strconv.Itoa(rng.IntN(recipients))
		at := t0.Add(time.Duration(len(out)) * time.Millisecond)
		sent := notification.Sent{NotificationID: id, RecipientID: r, Content: fmt.Sprintf("You have a new follower number %d", len(out)), Category: "social", SentAt: at}
		if rich {
			sent.Title = fmt.Sprintf("New follower #%d", len(out))
			sent.Data = json.RawMessage(fmt.Sprintf(`{"follower":{"id":%d,"name":"user %d"},"source":"web"}`, len(out), len(out)))
			sent.ActionURL = "/followers/" + strconv.Itoa(len(out))
			sent.Actions = []notification.Action{{Label: "Follow back", URL: "/follow/" + strconv.Itoa(len(out))}, {Label: "Dismiss", URL: "/dismiss"}}
			sent.Tags = []string{"social", []string{"web", "mobile"}[rng.IntN(2)]}
		}
		add(sent)
		var e notification.Event
		switch x := rng.IntN(100); {
		case rich && x < 10:
			e = notification.Seen{NotificationID: id, RecipientID: r, SeenAt: at.Add(time.Minute)}
		case rich && x < 20:
			e = notification.Archived{NotificationID: id, RecipientID: r, ArchivedAt: at.Add(time.Minute)}
		case x < 30:
			e = notification.Read{NotificationID: id, RecipientID: r, ReadAt: at.Add(time.Minute)}
		case x < 40:
			e = notification.Canceled{NotificationID: id, RecipientID: r, CanceledAt: at.Add(time.Minute)}
		default:
			continue
		}
		p := pending{len(out) + 200 + rng.IntN(400), e}
		i, _ := slices.BinarySearchFunc(later, p, func(a, b pending) int { return a.at - b.at })
		later = slices.Insert(later, i, p)
	}
	return out
}
