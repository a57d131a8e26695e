package compat_test

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/app/query"
)

// The v1 workload: what TestGenerateFixture ran, with the code of the commit testdata/v1/README.md
// names, to write testdata/v1. It is kept to show how the fixture was made; running it again
// with later code writes a log in that code's format, which is not the fixture (the generator
// refuses to overwrite testdata/v1).
//
// It is sequential, with a fixed clock and fixed command ids, so that it writes the same
// events (ids, data, metadata, order) every time on any event store: the generator checks that
// by running it twice on the embedded log and once on the EventStoreDB double.

// fixtureRecipients are the recipients of the v1 workload, in testdata/v1/recipients.txt.
// "ghost" never gets a notification (its counts are zeros; a read-all of it reads nothing);
// the last one is as long as a recipient id may be.
var fixtureRecipients = []string{
	"alice",
	"bob@example.com",
	"user:carol",
	"dave.smith_01",
	"erin-9f8e",
	"frank",
	"ghost",
	"tenant-a:" + strings.Repeat("x", 128-len("tenant-a:")),
}

// fixtureClock is the handlers' clock: it starts half an hour before a new year (UTC), so the
// log spans a change of date and year, and each call moves it on by 7 to 49 seconds; every
// fourth reading is a whole second (RFC 3339 without a fraction), the others carry
// nanoseconds, some with trailing zeros.
type fixtureClock struct {
	t time.Time
	n int
}

func newFixtureClock() *fixtureClock {
	return &fixtureClock{t: time.Date(2025, 12, 31, 23, 30, 0, 0, time.UTC)}
}

func (c *fixtureClock) now() time.Time {
	c.n++
	c.t = c.t.Add(time.Duration(7+(c.n*13)%43) * time.Second).Truncate(time.Second)
	switch c.n % 4 {
	case 1:
		c.t = c.t.Add(time.Duration((c.n*123456789)%1e9) * time.Nanosecond)
	case 2:
		c.t = c.t.Add(time.Duration((c.n*7919)%1000) * time.Millisecond)
	case 3:
		c.t = c.t.Add(time.Duration((c.n*104729)%1e6) * time.Microsecond)
	}
	return c.t
}

// seedCommandID is the command id a seed-route send without an Idempotency-Key gets (the
// handler draws a random UUIDv4): here a fixed UUID with the same version bits.
func seedCommandID(n int) string {
	return uuid.NewHash(sha1.New(), command.Namespace, fmt.Appendf(nil, "fixture-v1-seed-%d", n), 4).String()
}

// tracedCtx carries the sampled W3C trace context of a traced command (the events it appends
// keep traceparent and tracestate in their metadata); unsampledCtx one that is not sampled
// (the events keep none).
func tracedCtx(ctx context.Context, sampled bool) context.Context {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ts, _ := trace.ParseTraceState("notify=fixture-v1,vendor=x")
	cfg := trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceState: ts, Remote: true}
	if sampled {
		cfg.TraceFlags = trace.FlagsSampled
	}
	return trace.ContextWithSpanContext(ctx, trace.NewSpanContext(cfg))
}

// workload drives the command handlers.
type workload struct {
	ctx     context.Context
	send    command.SendNotificationHandler
	read    command.ReadNotificationHandler
	unread  command.UnreadNotificationHandler
	cancel  command.CancelNotificationHandler
	readAll command.ReadAllNotificationsHandler
	// caughtUp waits until the read model the read-all lists from reflects position p.
	caughtUp func(ctx context.Context, p eventstore.Position) error

	rm     query.ReadModel
	ids    map[string]string                   // label → notification id
	sends  map[string]command.SendNotification // label → the send, for redelivery
	labels []string                            // the labels, in the order sent
	last   eventstore.Position                 // the latest position a command reported
	// Outcomes counts the commands by kind and outcome ("send ok", "read conflict", ...).
	Outcomes map[string]int
	Commands int
	errs     []error
}

// runWorkload runs the v1 workload against store, read-alls listing from rm, and fails with
// every command whose outcome was not the expected one.
func runWorkload(ctx context.Context, store command.EventStore, rm query.ReadModel, caughtUp func(context.Context, eventstore.Position) error) (*workload, error) {
	clock := newFixtureClock()
	read := command.NewReadNotificationHandler(store, clock.now)
	w := &workload{
		ctx:      ctx,
		send:     command.NewSendNotificationHandler(store, clock.now),
		read:     read,
		unread:   command.NewUnreadNotificationHandler(store, clock.now),
		cancel:   command.NewCancelNotificationHandler(store, clock.now),
		readAll:  command.NewReadAllNotificationsHandler(read, query.NewInbox(rm)),
		caughtUp: caughtUp,
		rm:       rm,
		ids:      map[string]string{},
		sends:    map[string]command.SendNotification{},
		Outcomes: map[string]int{},
	}
	w.script()
	return w, errors.Join(w.errs...)
}

func (w *workload) check(kind, what string, res command.Result, err error, want string) {
	w.Commands++
	got := command.Outcome(res, err)
	w.Outcomes[kind+" "+got]++
	if got != want {
		w.errs = append(w.errs, fmt.Errorf("command %d (%s %s): outcome %s (%v), want %s", w.Commands, kind, what, got, err, want))
	}
	w.last = max(w.last, res.Position)
}

func meta(id string) command.Meta { return command.Meta{CommandID: id} }

// sendAs sends cmd under label (the notification's id is remembered under it).
func (w *workload) sendAs(ctx context.Context, label string, cmd command.SendNotification, want string) {
	res, err := w.send.Handle(ctx, cmd)
	w.check("send", label, res, err, want)
	if err == nil && label != "" {
		if _, dup := w.ids[label]; !dup {
			w.ids[label], w.sends[label] = res.Notification.ID(), cmd
			w.labels = append(w.labels, label)
		}
	}
}

// change runs a read, unread or cancel of the notification under label ("id:<raw>" names a
// raw id instead).
func (w *workload) change(ctx context.Context, kind, label string, m command.Meta, want string) {
	id, ok := w.ids[label]
	if raw, isRaw := strings.CutPrefix(label, "id:"); isRaw {
		id, ok = raw, true
	}
	if !ok {
		w.errs = append(w.errs, fmt.Errorf("%s of %s: no such label", kind, label))
		return
	}
	var (
		res command.Result
		err error
	)
	switch kind {
	case "read":
		res, err = w.read.Handle(ctx, command.ReadNotification{Meta: m, NotificationID: id})
	case "unread":
		res, err = w.unread.Handle(ctx, command.UnreadNotification{Meta: m, NotificationID: id})
	case "cancel":
		res, err = w.cancel.Handle(ctx, command.CancelNotification{Meta: m, NotificationID: id})
	default:
		panic(kind)
	}
	w.check(kind, label, res, err, want)
}

// readAllOf runs a read-all once the read model has caught up with every command so far.
// want is "all" (it reads every one of the recipient's unread notifications, at least one),
// "none" (it reads nothing) or "invalid".
func (w *workload) readAllOf(recipient, commandID, want string) {
	w.Commands++
	fail := func(format string, args ...any) {
		w.errs = append(w.errs, fmt.Errorf("command %d (read-all of %s, %s): %s", w.Commands, recipient, commandID, fmt.Sprintf(format, args...)))
	}
	unread := func() int {
		if err := w.caughtUp(w.ctx, w.last); err != nil {
			fail("the read model did not catch up: %v", err)
			return -1
		}
		c, err := w.rm.Count(w.ctx, recipient)
		if err != nil && want != "invalid" {
			fail("count: %v", err)
		}
		return c.Unread
	}
	before := unread()
	res, err := w.readAll.Handle(w.ctx, command.ReadAllNotifications{Meta: meta(commandID), RecipientID: recipient})
	w.last = max(w.last, res.Position)
	got := "ok"
	switch {
	case err != nil:
		got = command.Outcome(nil, err)
	case res.Read == 0:
		got = "unchanged"
	}
	w.Outcomes["read_all "+got]++
	after := unread()
	switch want {
	case "all":
		if err != nil || res.Read == 0 || res.Read != before || after != 0 {
			fail("read %d of %d unread (%d left), error %v; want all, at least one", res.Read, before, after, err)
		}
	case "none":
		if err != nil || res.Read != 0 || after != before {
			fail("read %d of %d unread (%d left), error %v; want none", res.Read, before, after, err)
		}
	case "invalid":
		if got != "invalid" {
			fail("outcome %s (%v), want invalid", got, err)
		}
	}
}

// script is the v1 workload: 200 commands (the count of each part in brackets).
func (w *workload) script() {
	ctx := w.ctx
	a, b, c, d, e, f, g, long := fixtureRecipients[0], fixtureRecipients[1], fixtureRecipients[2], fixtureRecipients[3], fixtureRecipients[4], fixtureRecipients[5], fixtureRecipients[6], fixtureRecipients[7]

	// Seed-route sends (POST /notifications without an Idempotency-Key): a random command id,
	// no correlation id; content and category trimmed. [12]
	seedContent := []string{
		"Your order #1001 has shipped", "  Welcome aboard!  ", "Invoice 2025-12 is ready\t",
		"\n\tSomeone liked your photo", "Password changed", "Weekly digest: 3 new posts",
		"Your trial ends in 3 days", "Build #42 passed", "New comment on \"Roadmap\"",
		"Payment received: 12.50 EUR", "Meeting moved to 10:30", "Reminder: dentist tomorrow",
	}
	seedTo := []string{a, a, b, c, a, d, e, b, c, a, f, long}
	seedCategory := []string{"sales", "system", " billing ", "social", "security", "digest", "billing", "ci", "social", "billing", "calendar", "personal"}
	for i := range seedContent {
		w.sendAs(ctx, fmt.Sprintf("seed%d", i), command.SendNotification{Meta: meta(seedCommandID(i)), RecipientID: seedTo[i], Content: seedContent[i], Category: seedCategory[i]}, "ok")
	}

	// Seed-route changes (PATCH /notifications/:id/read|unread|cancel, no Idempotency-Key):
	// random command ids too. [5]
	w.change(ctx, "read", "seed9", meta(seedCommandID(100)), "ok")
	w.change(ctx, "read", "seed11", meta(seedCommandID(101)), "ok")
	w.change(ctx, "unread", "seed9", meta(seedCommandID(102)), "ok")
	w.change(ctx, "read", "seed11", meta(seedCommandID(103)), "unchanged")
	w.change(ctx, "cancel", "seed9", meta(seedCommandID(104)), "ok")

	// /v1 sends with an Idempotency-Key and an X-Correlation-Id, text that tests the
	// encoders (escapes, non-ASCII, the length limits counted in characters). [40]
	v1Content := []string{
		"Plain ASCII notification",
		"Quotes \" and backslash \\ and slash /",
		"HTML-ish <b>bold</b> & <script>x</script>",
		"Accents: café, naïve, Ærøskøbing, Straße",
		"CJK: 新しいメッセージがあります",
		"Emoji: 🎉🚀 party time 👩‍👩‍👧",
		"Line\nbreaks\nand\ttabs inside",
		"Separators \u2028 and \u2029 in text",
		"12345",
		strings.Repeat("a", 240),
		strings.Repeat("é", 240),
		strings.Repeat("🙂", 240),
		"Right-to-left: مرحبا بالعالم",
		"Zero-width\u200bjoiner and \ufeffBOM",
		"Percent %s %d and braces {}",
	}
	v1Category := []string{"sales", "billing", "social", "system", "café", "🎉", strings.Repeat("c", 64), "news"}
	v1To := []string{a, b, c, d, e, a, b, c, long, a, b, d, e, f}
	for i := range 40 {
		to := v1To[i%len(v1To)]
		content := v1Content[i%len(v1Content)]
		if i >= len(v1Content) {
			content = fmt.Sprintf("Update %d for %s", i, to)
		}
		w.sendAs(ctx, fmt.Sprintf("v%d", i), command.SendNotification{
			Meta:        command.Meta{CommandID: fmt.Sprintf("fx-send-%04d", i), CorrelationID: fmt.Sprintf("req-%04d", i)},
			RecipientID: to, Content: content, Category: v1Category[i%len(v1Category)],
		}, "ok")
	}

	// Kafka command sends: the notification id chosen by the producer (upper case is
	// normalised), correlation and causation ids from the message; one with a tenant. [10]
	for i := range 10 {
		id := uuid.NewSHA1(command.Namespace, fmt.Appendf(nil, "fixture-v1-kafka-%d", i)).String()
		if i%3 == 0 {
			id = strings.ToUpper(id)
		}
		m := command.Meta{CommandID: fmt.Sprintf("kafka-msg-%d", i), CorrelationID: fmt.Sprintf("corr-k%d", i), CausationID: fmt.Sprintf("cause-k%d", i)}
		if i == 7 {
			m.Tenant = "acme"
		}
		w.sendAs(ctx, fmt.Sprintf("k%d", i), command.SendNotification{Meta: m, NotificationID: id, RecipientID: []string{a, b, c, d, e}[i%5], Content: fmt.Sprintf("Kafka notification %d", i), Category: "kafka"}, "ok")
	}

	// Traced commands: sampled ones keep traceparent and tracestate in their events'
	// metadata; an unsampled one keeps neither. [6]
	traced, unsampled := tracedCtx(ctx, true), tracedCtx(ctx, false)
	for i := range 3 {
		w.sendAs(traced, fmt.Sprintf("t%d", i), command.SendNotification{Meta: meta(fmt.Sprintf("fx-traced-%d", i)), RecipientID: []string{a, c, e}[i], Content: fmt.Sprintf("Traced notification %d", i), Category: "traced"}, "ok")
	}
	w.sendAs(unsampled, "t3", command.SendNotification{Meta: meta("fx-unsampled-0"), RecipientID: d, Content: "Unsampled trace", Category: "traced"}, "ok")
	w.change(traced, "read", "t0", meta("fx-traced-read-0"), "ok")
	w.change(traced, "read", "v1", meta("fx-traced-read-1"), "ok")

	// Reads. [33]
	for i, l := range []string{"seed0", "seed2", "seed3", "seed5", "seed7", "seed8", "v0", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v20", "v21", "v22", "k0", "k1", "k2", "k4"} {
		w.change(ctx, "read", l, meta(fmt.Sprintf("fx-read-%04d", i)), "ok")
	}
	for i, l := range []string{"seed0", "v2", "v3", "k0", "t0"} { // already read: no event
		w.change(ctx, "read", l, meta(fmt.Sprintf("fx-reread-%d", i)), "unchanged")
	}
	// An end user's commands (Meta.Recipient): their own notification, and another's, which
	// is not found for them.
	w.change(ctx, "read", "v14", command.Meta{CommandID: "fx-user-read-0", Recipient: w.sends["v14"].RecipientID}, "ok")
	w.change(ctx, "read", "v15", command.Meta{CommandID: "fx-user-read-1", Recipient: w.sends["v15"].RecipientID}, "ok")
	w.change(ctx, "read", "v19", command.Meta{CommandID: "fx-user-read-2", Recipient: g}, "not_found")

	// Unreads. [13]
	for i, l := range []string{"seed2", "v0", "v4", "v6", "v8", "v10", "v12", "v21", "k1", "k4"} {
		w.change(ctx, "unread", l, meta(fmt.Sprintf("fx-unread-%04d", i)), "ok")
	}
	for i, l := range []string{"seed1", "v0", "k3"} { // not read: no event
		w.change(ctx, "unread", l, meta(fmt.Sprintf("fx-unread-again-%d", i)), "unchanged")
	}

	// One notification read, unread, read, unread, read; another read, unread, read. [8]
	for i, kind := range []string{"read", "unread", "read", "unread", "read"} {
		w.change(ctx, kind, "v16", meta(fmt.Sprintf("fx-flip-%d", i)), "ok")
	}
	for i, kind := range []string{"read", "unread", "read"} {
		w.change(ctx, kind, "v17", meta(fmt.Sprintf("fx-flip2-%d", i)), "ok")
	}

	// Cancels: sent ones, read ones, and every one of frank's; canceling twice is a no-op.
	// [14]
	cancels := []string{"seed4", "seed6", "v5", "v9", "v18", "v23", "k5", "v2"}
	for _, l := range w.labels {
		if w.sends[l].RecipientID == f {
			cancels = append(cancels, l)
		}
	}
	for i, l := range cancels {
		w.change(ctx, "cancel", l, meta(fmt.Sprintf("fx-cancel-%04d", i)), "ok")
	}
	for i, l := range []string{"seed4", "v5", "v2"} {
		w.change(ctx, "cancel", l, meta(fmt.Sprintf("fx-cancel-again-%d", i)), "unchanged")
	}

	// A canceled notification refuses read and unread. [4]
	w.change(ctx, "read", "seed4", meta("fx-read-canceled-0"), "conflict")
	w.change(ctx, "read", "v9", meta("fx-read-canceled-1"), "conflict")
	w.change(ctx, "unread", "v5", meta("fx-unread-canceled-0"), "conflict")
	w.change(ctx, "unread", "seed6", meta("fx-unread-canceled-1"), "conflict")

	// Redeliveries: the same command again changes nothing, even when later commands changed
	// the notification since (a redelivered read of a notification unread since stays unread).
	// [15]
	for _, l := range []string{"seed0", "seed1", "seed11", "v0", "v7", "v12", "k0", "k9"} {
		w.sendAs(ctx, "", w.sends[l], "unchanged")
	}
	w.change(ctx, "read", "v0", meta("fx-read-0006"), "unchanged")    // unread since
	w.change(ctx, "read", "seed2", meta("fx-read-0001"), "unchanged") // unread since
	w.change(ctx, "read", "v16", meta("fx-flip-0"), "unchanged")
	w.change(ctx, "cancel", "v18", meta("fx-cancel-0004"), "unchanged")
	w.change(ctx, "cancel", "k5", meta("fx-cancel-0006"), "unchanged")
	w.change(ctx, "unread", "v4", meta("fx-unread-0002"), "unchanged")
	w.change(ctx, "unread", "v16", meta("fx-flip-1"), "unchanged") // read since

	// A command id reused for other content, and a producer's notification id reused for
	// other content: refused. [2]
	w.sendAs(ctx, "", command.SendNotification{Meta: meta("fx-send-0003"), RecipientID: d, Content: "Different content", Category: "system"}, "conflict")
	w.sendAs(ctx, "", command.SendNotification{Meta: meta("kafka-msg-99"), NotificationID: w.ids["k2"], RecipientID: c, Content: "Other content", Category: "kafka"}, "conflict")

	// Invalid commands: refused before anything is appended. [9]
	for i, cmd := range []command.SendNotification{
		{RecipientID: a, Content: "", Category: "x"},
		{RecipientID: a, Content: "abcd", Category: "x"},
		{RecipientID: a, Content: strings.Repeat("z", 241), Category: "x"},
		{RecipientID: "not allowed!", Content: "Hello there", Category: "x"},
		{RecipientID: a, Content: "Hello there", Category: "   "},
		{RecipientID: a, Content: "Bell \a here", Category: "x"},
	} {
		cmd.Meta = meta(fmt.Sprintf("fx-invalid-%d", i))
		w.sendAs(ctx, "", cmd, "invalid")
	}
	w.change(ctx, "read", "id:not-a-uuid", meta("fx-invalid-read"), "invalid")
	w.change(ctx, "read", "id:"+uuid.NewSHA1(command.Namespace, []byte("fixture-v1-absent")).String(), meta("fx-absent-read"), "not_found")
	w.change(ctx, "cancel", "id:"+uuid.NewSHA1(command.Namespace, []byte("fixture-v1-absent")).String(), meta("fx-absent-cancel"), "not_found")

	// Read-alls, from the read model once it has caught up: alice's and bob's read all their
	// unread notifications; ghost's reads nothing; an invalid recipient is refused. Then one
	// of alice's is unread again and her read-all is retried under the same command id: its
	// per-notification command ids were used, so it reads nothing and the notification stays
	// unread. [6]
	w.readAllOf(a, "fx-readall-0", "all")
	w.readAllOf(b, "fx-readall-1", "all")
	w.readAllOf(g, "fx-readall-2", "none")
	w.readAllOf("bad recipient", "fx-readall-3", "invalid")
	w.change(ctx, "unread", "seed1", meta("fx-unread-after-readall"), "ok")
	w.readAllOf(a, "fx-readall-0", "none")

	// More sends after the read-alls, and a last mix. [23]
	for i := range 15 {
		to := []string{a, b, c, d, e}[i%5]
		w.sendAs(ctx, fmt.Sprintf("late%d", i), command.SendNotification{
			Meta:        command.Meta{CommandID: fmt.Sprintf("fx-late-%04d", i), CorrelationID: "req-late"},
			RecipientID: to, Content: fmt.Sprintf("Late notification %d for %s", i, to), Category: []string{"sales", "billing", "social"}[i%3],
		}, "ok")
	}
	for i, l := range []string{"late0", "late3", "late6", "late9", "late12"} {
		w.change(ctx, "read", l, meta(fmt.Sprintf("fx-late-read-%d", i)), "ok")
	}
	w.change(ctx, "cancel", "late1", meta("fx-late-cancel-0"), "ok")
	w.change(ctx, "cancel", "late6", meta("fx-late-cancel-1"), "ok")
	w.readAllOf(c, "fx-readall-4", "all")
}
