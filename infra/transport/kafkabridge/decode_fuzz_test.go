package kafkabridge

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/eventnotify/notify/app"
	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/infra/store/eventlog"
)

// FuzzCommand feeds arbitrary payloads to both command topics' handlers on a real embedded
// event log: nothing panics, and every refusal is permanent (the poison topic, with its
// reason as text), never a retry that would block the partition. Oversized payloads are
// refused before decoding. The seed corpus is in testdata/fuzz/FuzzCommand.
func FuzzCommand(f *testing.F) {
	f.Add([]byte(`{"type":"SendNotification","recipientId":"alice","content":"hello there","category":"c"}`))
	f.Add([]byte(`{"type":"SendNotification","recipientId":"alice","content":"hello there","category":"c","title":"t","data":{"k":1},"actionUrl":"/a","actions":[{"label":"Go","url":"/go"}],"tags":["x"]}`))
	f.Add([]byte(`{"type":"SeeNotification","notificationId":"00000000-0000-4000-8000-000000000000"}`))
	f.Add([]byte(`{"type":"ArchiveNotification","notificationId":"nope"}`))
	f.Add([]byte(`{"type":"UnarchiveNotification"}`))
	log, err := eventlog.Open(filepath.Join(f.TempDir(), "events.db"), eventlog.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { log.Close() })
	const maxBytes = 1024
	h := commandHandlers{maxBytes: maxBytes, cmds: app.Commands{
		Send:   command.NewSendNotificationHandler(log, nil),
		Read:   command.NewReadNotificationHandler(log, nil),
		Unread: command.NewUnreadNotificationHandler(log, nil),
		Cancel: command.NewCancelNotificationHandler(log, nil),

		See:       command.NewSeeNotificationHandler(log, nil),
		Archive:   command.NewArchiveNotificationHandler(log, nil),
		Unarchive: command.NewUnarchiveNotificationHandler(log, nil),
	}}
	f.Fuzz(func(t *testing.T, payload []byte) {
		for name, handle := range map[string]func(*message.Message) error{"typed": h.typed, "seed": h.seed} {
			err := handle(message.NewMessage(uuid.NewString(), payload))
			if err == nil {
				continue
			}
			if !isPermanent(err) || strings.TrimSpace(err.Error()) == "" {
				t.Fatalf("%s %q: %v is not a permanent error with a reason", name, payload, err)
			}
			if len(payload) > maxBytes && !strings.Contains(err.Error(), "exceeds the limit") {
				t.Fatalf("%s: an oversized payload was refused for another reason: %v", name, err)
			}
		}
	})
}
