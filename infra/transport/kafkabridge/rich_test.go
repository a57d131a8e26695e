package kafkabridge_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/transport/kafkabridge"
)

// Issue #13 over Kafka: a SendNotification with the optional fields, then SeeNotification,
// ArchiveNotification and UnarchiveNotification (a repeat of each a no-op); the events topic
// carries each event as stored, keyed by recipient, the send with its rich fields; a send
// breaking a rule of the new fields is poisoned as invalid, naming the field.
func TestTypedCommands_RichSendSeenArchive(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.start(t, "")
	id := uuid.NewString()
	f.command(t, kafkabridge.Envelope{Type: kafkabridge.TypeSend, CommandID: "r1", NotificationID: id, RecipientID: "erin", Content: "Your order shipped", Category: "orders",
		Title: "Shipped", Data: json.RawMessage(`{"orderId": 7}`), ActionURL: "/orders/7",
		Actions: []notification.Action{{Label: "Track", URL: "https://shop.example/t/7"}}, Tags: []string{"orders"}})
	for i, typ := range []string{kafkabridge.TypeSee, kafkabridge.TypeSee, kafkabridge.TypeArchive, kafkabridge.TypeArchive, kafkabridge.TypeUnarchive, kafkabridge.TypeUnarchive} {
		f.command(t, kafkabridge.Envelope{Type: typ, CommandID: fmt.Sprintf("r%d", i+2), NotificationID: id})
	}
	bad := `{"type":"SendNotification","recipientId":"erin","content":"hello there","category":"c","actions":[{"label":"a","url":"/a"},{"label":"b","url":"ftp://b"}]}`
	f.produce(t, f.cfg.CommandsTopic, "bad", bad, nil)

	recs := consume(t, f, f.cfg.EventsTopic, func(r []*kgo.Record) bool { return len(r) >= 4 })
	want := []string{notification.TypeSent, notification.TypeSeen, notification.TypeArchived, notification.TypeUnarchived}
	if len(recs) != len(want) {
		t.Fatalf("%d events out, want %d", len(recs), len(want))
	}
	for i, r := range recs {
		if string(r.Key) != "erin" || header(r, kafkabridge.HeaderEventType) != want[i] {
			t.Fatalf("event %d: key %q type %q, want erin %s", i, r.Key, header(r, kafkabridge.HeaderEventType), want[i])
		}
	}
	if v := string(recs[0].Value); !strings.Contains(v, `"title":"Shipped","data":{"orderId":7},"actionUrl":"/orders/7","actions":[{"label":"Track","url":"https://shop.example/t/7"}],"tags":["orders"]`) {
		t.Fatalf("the send out = %s, want its rich fields as stored", v)
	}
	for i, field := range []string{"", "seenAt", "archivedAt", "unarchivedAt"} {
		if field != "" && !strings.Contains(string(recs[i].Value), `"`+field+`"`) {
			t.Fatalf("event %d = %s, want %s", i, recs[i].Value, field)
		}
	}
	poison := consume(t, f, f.cfg.PoisonTopic, func(r []*kgo.Record) bool { return len(r) >= 1 })
	if reason := header(poison[0], "reason_poisoned"); len(poison) != 1 || !strings.Contains(reason, "actions[1].url") {
		t.Fatalf("poisoned %d, reason %q; want the bad send, naming actions[1].url", len(poison), reason)
	}
}
