// Package inboxtest is the contract every inbox read-model adapter must pass: the inbox
// projection applied through the adapter's transactions, and the queries reading it back.
package inboxtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

// Store is the port under test.
type Store interface {
	Checkpoint(ctx context.Context, name string) (eventstore.Position, error)
	Apply(ctx context.Context, name string, from, to eventstore.Position, fn func(inbox.Tx) error) error
	List(ctx context.Context, recipient string, limit int) ([]json.RawMessage, error)
	Count(ctx context.Context, recipient string) (inbox.Counts, error)
	Page(ctx context.Context, q inbox.PageQuery) (inbox.Page, error)
	UnreadIDs(ctx context.Context, recipient string, limit int) ([]string, error)
	projections.LogBinding
}

// Run runs every case against the store newStore returns; each case uses its own recipients
// and projection names, so one store may serve all.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"TestList_NewestFirstPerRecipient", testListNewestFirst},
		{"TestList_Limit", testListLimit},
		{"TestCounts_FollowTransitions", testCounts},
		{"TestApply_FailureWritesNothing", testApplyAtomic},
		{"TestCheckpoint_PerProjection", testCheckpoints},
		{"TestView_PublishedShape", testPublishedShape},
		{"TestPage_CursorAndFilters", testPage},
		{"TestApply_RefusedWhenCheckpointMoved", testApplyMoved},
		{"TestPage_FiltersMatchFieldsNotContent", testPageFilterLookalikes},
		{"TestLog_BoundOnceThenChecked", testLogBinding},
		{"TestUnreadIDs_NewestFirstUpToLimit", testUnreadIDs},
		{"TestTx_LoadedViewsServeTheBatch", testTxLoad},
		{"TestCounts_SeenArchivedExact", testCountsSeenArchived},
		{"TestPage_ArchivedAndTagFilters", testPageArchivedTags},
		{"TestView_RichDocument", testRichDocument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, newStore(t))
		})
	}
}

var t0 = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

// feed builds recorded events at increasing positions.
type feed struct {
	pos     eventstore.Position
	applied eventstore.Position // where the last apply left the checkpoint
	events  []eventstore.RecordedEvent
}

func (f *feed) add(e notification.Event) {
	data, _ := json.Marshal(e)
	f.pos++
	f.events = append(f.events, eventstore.RecordedEvent{
		Stream: notification.Stream(e.Notification()), Position: f.pos, ID: uuid.New(), Type: e.Type(), Data: data,
	})
}

func (f *feed) sent(recipient string, n int) string {
	id := uuid.NewString()
	f.add(notification.Sent{NotificationID: id, RecipientID: recipient, Content: fmt.Sprintf("message %d", n), Category: "c", SentAt: t0.Add(time.Duration(n) * time.Second)})
	return id
}

// Fold folds events through tx as the runner does a batch: decoded, preloaded, then folded.
func Fold(tx inbox.Tx, events []eventstore.RecordedEvent) error {
	p := inbox.Projection()
	decoded := make([]any, len(events))
	for i, e := range events {
		v, err := p.Decode(e)
		if err != nil {
			return fmt.Errorf("decode %s at %d: %w", e.Type, e.Position, err)
		}
		decoded[i] = v
	}
	if err := p.Preload(tx, decoded); err != nil {
		return err
	}
	for i, e := range events {
		if err := p.Fold(tx, e, decoded[i]); err != nil {
			return fmt.Errorf("fold %s at %d: %w", e.Type, e.Position, err)
		}
	}
	return nil
}

func apply(t *testing.T, s projections.Store[inbox.Tx], name string, f *feed) {
	t.Helper()
	err := s.Apply(context.Background(), name, f.applied, f.pos, func(tx inbox.Tx) error {
		return Fold(tx, f.events)
	})
	if err != nil {
		t.Fatalf("apply %d events: %v", len(f.events), err)
	}
	f.events, f.applied = nil, f.pos
}

func list(t *testing.T, s Store, recipient string, limit int) []inbox.View {
	t.Helper()
	raw, err := s.List(context.Background(), recipient, limit)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]inbox.View, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			t.Fatalf("document %d is not a view: %s: %v", i, r, err)
		}
	}
	return out
}

func recipient() string { return "r-" + uuid.NewString()[:8] }

func testListNewestFirst(t *testing.T, s Store) {
	a, b := recipient(), recipient()
	f := &feed{}
	var ids []string
	for i := range 5 {
		ids = append(ids, f.sent(a, i))
		f.sent(b, i)
	}
	apply(t, s, "p-"+a, f)
	got := list(t, s, a, 100)
	if len(got) != 5 {
		t.Fatalf("recipient has %d notifications, want 5", len(got))
	}
	for i, v := range got {
		if want := ids[4-i]; v.ID != want || v.RecipientID != a {
			t.Fatalf("position %d: %s of %s, want %s of %s (newest first)", i, v.ID, v.RecipientID, want, a)
		}
	}
	if got := list(t, s, a[:len(a)-1], 100); len(got) != 0 {
		t.Fatalf("a recipient id prefix sees %d notifications of another recipient", len(got))
	}
}

func testListLimit(t *testing.T, s Store) {
	r := recipient()
	f := &feed{}
	for i := range 7 {
		f.sent(r, i)
	}
	apply(t, s, "p-"+r, f)
	if got := list(t, s, r, 3); len(got) != 3 || got[0].Content != "message 6" {
		t.Fatalf("limit 3 gave %d, first %q", len(got), got[0].Content)
	}
}

func count(t *testing.T, s Store, r string) inbox.Counts {
	t.Helper()
	c, err := s.Count(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testCounts(t *testing.T, s Store) {
	r := recipient()
	name := "p-" + r
	f := &feed{}
	if c := count(t, s, r); c != (inbox.Counts{}) {
		t.Fatalf("unknown recipient counts %+v, want zero", c)
	}
	a, b := f.sent(r, 1), f.sent(r, 2)
	f.sent(r, 3)
	apply(t, s, name, f)
	steps := []struct {
		event notification.Event
		want  inbox.Counts
	}{
		{notification.Read{NotificationID: a, RecipientID: r, ReadAt: t0}, inbox.Counts{Total: 3, Unread: 2, Unseen: 2}},
		{notification.Read{NotificationID: b, RecipientID: r, ReadAt: t0}, inbox.Counts{Total: 3, Unread: 1, Unseen: 1}},
		{notification.Unread{NotificationID: a, RecipientID: r, UnreadAt: t0}, inbox.Counts{Total: 3, Unread: 2, Unseen: 1}},
		{notification.Canceled{NotificationID: a, RecipientID: r, CanceledAt: t0}, inbox.Counts{Total: 3, Unread: 1, Unseen: 1, Canceled: 1}},
		{notification.Canceled{NotificationID: b, RecipientID: r, CanceledAt: t0}, inbox.Counts{Total: 3, Unread: 1, Unseen: 1, Canceled: 2}},
	}
	for _, st := range steps {
		f.add(st.event)
		apply(t, s, name, f)
		if c := count(t, s, r); c != st.want {
			t.Fatalf("after %s of %s: counts %+v, want %+v", st.event.Type(), st.event.Notification(), c, st.want)
		}
	}
	views := list(t, s, r, 10)
	if views[2].ID != a || views[2].Status != inbox.StatusCanceled || views[2].ReadAt != nil || views[2].CanceledAt == nil {
		t.Fatalf("view of %s after read, unread, cancel = %+v", a, views[2])
	}
}

func testApplyAtomic(t *testing.T, s Store) {
	r := recipient()
	name := "p-" + r
	boom := errors.New("boom")
	err := s.Apply(context.Background(), name, 0, 42, func(tx inbox.Tx) error {
		f := &feed{}
		f.sent(r, 1)
		if err := inbox.Projection().Apply(tx, f.events[0]); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("apply error = %v, want the function's error", err)
	}
	if got := list(t, s, r, 10); len(got) != 0 {
		t.Fatalf("failed apply left %d notifications", len(got))
	}
	if c := count(t, s, r); c.Total != 0 {
		t.Fatalf("failed apply left counts %+v", c)
	}
	if p, _ := s.Checkpoint(context.Background(), name); p != 0 {
		t.Fatalf("failed apply moved the checkpoint to %d", p)
	}
}

func testCheckpoints(t *testing.T, s Store) {
	a, b := "p-"+uuid.NewString(), "p-"+uuid.NewString()
	noop := func(inbox.Tx) error { return nil }
	if err := s.Apply(context.Background(), a, 0, 7, noop); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(context.Background(), b, 0, 3, noop); err != nil {
		t.Fatal(err)
	}
	pa, _ := s.Checkpoint(context.Background(), a)
	pb, _ := s.Checkpoint(context.Background(), b)
	if pa != 7 || pb != 3 {
		t.Fatalf("checkpoints %d, %d; want 7, 3", pa, pb)
	}
}

// A projector that did not start from the stored checkpoint (another one wrote meanwhile, or a
// replayed copy was promoted) is refused, so no batch is applied twice.
func testApplyMoved(t *testing.T, s Store) {
	r := recipient()
	name := "p-" + r
	f := &feed{}
	f.sent(r, 1)
	f.sent(r, 2)
	apply(t, s, name, f) // checkpoint 2
	stale := &feed{pos: 2}
	stale.sent(r, 3)
	err := s.Apply(context.Background(), name, 1, stale.pos, func(tx inbox.Tx) error {
		return inbox.Projection().Apply(tx, stale.events[0])
	})
	if !errors.Is(err, projections.ErrMoved) {
		t.Fatalf("apply from 1 with the checkpoint at 2: %v, want ErrMoved", err)
	}
	if c := count(t, s, r); c.Total != 2 {
		t.Fatalf("refused apply changed the counts to %+v", c)
	}
	if p, _ := s.Checkpoint(context.Background(), name); p != 2 {
		t.Fatalf("refused apply moved the checkpoint to %d", p)
	}
	stale.applied = 2
	apply(t, s, name, stale)
	if c := count(t, s, r); c.Total != 3 {
		t.Fatalf("apply from the stored checkpoint: counts %+v, want total 3", c)
	}
}

// Filters match the status and category fields, never content that looks like them, and
// categories with characters JSON escapes.
func testPageFilterLookalikes(t *testing.T, s Store) {
	r := recipient()
	f := &feed{}
	tricky := uuid.NewString()
	f.add(notification.Sent{NotificationID: tricky, RecipientID: r, Content: `fake "status":"read" and "category":"plain"`, Category: `a"b<c>&d`, SentAt: t0})
	plain := uuid.NewString()
	f.add(notification.Sent{NotificationID: plain, RecipientID: r, Content: "an ordinary one", Category: "plain", SentAt: t0})
	f.add(notification.Read{NotificationID: plain, RecipientID: r, ReadAt: t0})
	apply(t, s, "p-"+r, f)
	tests := []struct {
		q    inbox.PageQuery
		want []string
	}{
		{inbox.PageQuery{Status: inbox.StatusRead}, []string{plain}},
		{inbox.PageQuery{Status: inbox.StatusSent}, []string{tricky}},
		{inbox.PageQuery{Category: "plain"}, []string{plain}},
		{inbox.PageQuery{Category: `a"b<c>&d`}, []string{tricky}},
		{inbox.PageQuery{Category: `a"b<c>&`}, nil},
	}
	for _, tt := range tests {
		tt.q.Recipient, tt.q.Limit = r, 10
		p, err := s.Page(context.Background(), tt.q)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, raw := range p.Items {
			var v inbox.View
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatal(err)
			}
			got = append(got, v.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Fatalf("status %q category %q: %v, want %v", tt.q.Status, tt.q.Category, got, tt.want)
		}
	}
}

func testPublishedShape(t *testing.T, s Store) {
	r := recipient()
	f := &feed{}
	id := f.sent(r, 1)
	apply(t, s, "p-"+r, f)
	raw, err := s.List(context.Background(), r, 1)
	if err != nil || len(raw) != 1 {
		t.Fatalf("list = %d, %v", len(raw), err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw[0], &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id": id, "recipientId": r, "content": "message 1", "category": "c", "status": "sent",
		"readAt": nil, "canceledAt": nil, "createdAt": t0.Add(time.Second).Format(time.RFC3339Nano),
	}
	if fmt.Sprint(doc) != fmt.Sprint(want) {
		t.Fatalf("document = %v\nwant       %v", doc, want)
	}
}

func testPage(t *testing.T, s Store) {
	r := recipient()
	f := &feed{}
	var ids []string // oldest first
	for i := range 7 {
		id := uuid.NewString()
		cat := "even"
		if i%2 == 1 {
			cat = "odd"
		}
		f.add(notification.Sent{NotificationID: id, RecipientID: r, Content: fmt.Sprintf("message %d", i), Category: cat, SentAt: t0})
		ids = append(ids, id)
	}
	f.add(notification.Read{NotificationID: ids[5], RecipientID: r, ReadAt: t0})
	f.add(notification.Read{NotificationID: ids[2], RecipientID: r, ReadAt: t0})
	f.add(notification.Canceled{NotificationID: ids[1], RecipientID: r, CanceledAt: t0})
	apply(t, s, "p-"+r, f)

	page := func(q inbox.PageQuery) ([]string, inbox.Page) {
		t.Helper()
		q.Recipient = r
		p, err := s.Page(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, raw := range p.Items {
			var v inbox.View
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatalf("page item %s: %v", raw, err)
			}
			got = append(got, v.ID)
		}
		return got, p
	}
	// Pages of 3 walk the whole inbox newest first, each page continuing the last.
	var walked []string
	q := inbox.PageQuery{Limit: 3}
	for range 4 {
		got, p := page(q)
		walked = append(walked, got...)
		if p.Next == 0 {
			break
		}
		q.Before = p.Next
	}
	want := []string{ids[6], ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]}
	if fmt.Sprint(walked) != fmt.Sprint(want) {
		t.Fatalf("pages of 3 walked %v, want %v", walked, want)
	}
	tests := []struct {
		name string
		q    inbox.PageQuery
		want []string
	}{
		{"unread only", inbox.PageQuery{Status: inbox.StatusSent, Limit: 10}, []string{ids[6], ids[4], ids[3], ids[0]}},
		{"read only", inbox.PageQuery{Status: inbox.StatusRead, Limit: 10}, []string{ids[5], ids[2]}},
		{"canceled only", inbox.PageQuery{Status: inbox.StatusCanceled, Limit: 10}, []string{ids[1]}},
		{"category odd", inbox.PageQuery{Category: "odd", Limit: 10}, []string{ids[5], ids[3], ids[1]}},
		{"unread and even, 2 at a time", inbox.PageQuery{Status: inbox.StatusSent, Category: "even", Limit: 2}, []string{ids[6], ids[4]}},
		{"unknown category", inbox.PageQuery{Category: "none", Limit: 10}, nil},
	}
	for _, tt := range tests {
		got, p := page(tt.q)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Fatalf("%s: %v, want %v", tt.name, got, tt.want)
		}
		if tt.name == "unread and even, 2 at a time" {
			rest, last := page(inbox.PageQuery{Status: inbox.StatusSent, Category: "even", Limit: 2, Before: p.Next})
			if fmt.Sprint(rest) != fmt.Sprint([]string{ids[0]}) || last.Next != 0 {
				t.Fatalf("second filtered page = %v next %d, want [%s] and no next", rest, last.Next, ids[0])
			}
		}
	}
}

// testLogBinding: a read model records the log it is built from; projections.CheckLog binds
// an unbound one, accepts its own log, and refuses another log and a checkpoint past the head.
func testLogBinding(t *testing.T, s Store) {
	ctx := context.Background()
	name := "binding-" + uuid.NewString()[:8]
	if err := s.Apply(ctx, name, 0, 10, func(inbox.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	cp := func(ctx context.Context) (eventstore.Position, error) { return s.Checkpoint(ctx, name) }
	mine := "log-" + uuid.NewString()
	if recorded, _ := s.LogID(ctx); recorded != "" {
		mine = recorded // the store is shared with other cases: keep what it records
	}
	if err := projections.CheckLog(ctx, s, cp, name, mine, 10); err != nil {
		t.Fatalf("its own log, checkpoint at the head: %v", err)
	}
	if got, _ := s.LogID(ctx); got != mine {
		t.Fatalf("bound to %q, want %q", got, mine)
	}
	if err := projections.CheckLog(ctx, s, cp, name, "log-other", 10); !errors.Is(err, projections.ErrOtherLog) {
		t.Fatalf("another log: %v, want ErrOtherLog", err)
	}
	if err := projections.CheckLog(ctx, s, cp, name, mine, 9); !errors.Is(err, projections.ErrAheadOfLog) {
		t.Fatalf("checkpoint past the head: %v, want ErrAheadOfLog", err)
	}
	if got, _ := s.LogID(ctx); got != mine {
		t.Fatalf("a refused check changed the binding to %q", got)
	}
}

// UnreadIDs lists the notifications neither read nor canceled, newest first, never one whose
// content only looks unread, and at most limit of them.
func testUnreadIDs(t *testing.T, s Store) {
	r, other := recipient(), recipient()
	f := &feed{}
	var ids []string // oldest first
	for i := range 5 {
		ids = append(ids, f.sent(r, i))
	}
	f.sent(other, 9)
	lookalike := uuid.NewString()
	f.add(notification.Sent{NotificationID: lookalike, RecipientID: r, Content: `"status":"sent"`, Category: "c", SentAt: t0})
	f.add(notification.Read{NotificationID: lookalike, RecipientID: r, ReadAt: t0})
	f.add(notification.Read{NotificationID: ids[1], RecipientID: r, ReadAt: t0})
	f.add(notification.Canceled{NotificationID: ids[3], RecipientID: r, CanceledAt: t0})
	f.add(notification.Read{NotificationID: ids[4], RecipientID: r, ReadAt: t0})
	f.add(notification.Unread{NotificationID: ids[4], RecipientID: r, UnreadAt: t0})
	apply(t, s, "p-"+r, f)
	tests := []struct {
		recipient string
		limit     int
		want      []string
	}{
		{r, 10, []string{ids[4], ids[2], ids[0]}},
		{r, 2, []string{ids[4], ids[2]}},
		{r[:len(r)-1], 10, nil},
		{"r-nobody", 10, nil},
	}
	for _, tt := range tests {
		got, err := s.UnreadIDs(context.Background(), tt.recipient, tt.limit)
		if err != nil {
			t.Fatalf("unread of %s: %v", tt.recipient, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Fatalf("unread of %s, limit %d: %v, want %v (newest first)", tt.recipient, tt.limit, got, tt.want)
		}
	}
}

// A batch loads the notifications it declares, sees its own puts, and loading again (or
// getting an id it did not declare) never loses them.
func testTxLoad(t *testing.T, s Store) {
	r := recipient()
	name := "p-" + r
	f := &feed{}
	have := f.sent(r, 1)
	apply(t, s, name, f)
	absent, late := uuid.NewString(), uuid.NewString()
	err := s.Apply(context.Background(), name, f.applied, f.pos+1, func(tx inbox.Tx) error {
		if err := tx.Load([]string{have, absent}); err != nil {
			return fmt.Errorf("load: %w", err)
		}
		if v, ok, err := tx.Get(have); err != nil || !ok || v.ID != have || v.RecipientID != r || v.Content != "message 1" || v.Seq != 1 {
			return fmt.Errorf("get of a loaded notification = %+v, %v, %v; want its stored view", v, ok, err)
		}
		if _, ok, err := tx.Get(absent); err != nil || ok {
			return fmt.Errorf("get of a loaded absent id = %v, %v; want absent", ok, err)
		}
		put := inbox.View{ID: absent, RecipientID: r, Content: "put", Category: "c", Status: inbox.StatusSent, CreatedAt: t0, Seq: 2}
		if err := tx.Put(put); err != nil {
			return err
		}
		read := put
		read.ID, read.Content, read.Seq, read.Status, read.ReadAt = late, "late", 3, inbox.StatusRead, &t0
		if err := tx.Put(read); err != nil { // put without a load
			return err
		}
		if err := tx.Load([]string{absent, late, have}); err != nil {
			return fmt.Errorf("load again: %w", err)
		}
		for _, want := range []inbox.View{put, read} {
			if v, ok, err := tx.Get(want.ID); err != nil || !ok || v.Content != want.Content || v.Status != want.Status {
				return fmt.Errorf("get of %s after its put and a second load = %+v, %v, %v; want the put", want.Content, v, ok, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := count(t, s, r); c != (inbox.Counts{Total: 3, Unread: 2, Unseen: 2}) {
		t.Fatalf("counts after the batch = %+v, want total 3, unread and unseen 2 (the read one is seen)", c)
	}
	if got := list(t, s, r, 10); len(got) != 3 || got[0].ID != late || got[1].ID != absent || got[2].ID != have {
		t.Fatalf("after the batch the inbox lists %+v; want the late, the put and the first", got)
	}
}

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// Unread and unseen leave out archived and canceled notifications, exactly, whatever the order
// of events: each step's counts are checked, and the views at the end.
func testCountsSeenArchived(t *testing.T, s Store) {
	r := recipient()
	name := "p-" + r
	f := &feed{}
	a, b, c, d := f.sent(r, 1), f.sent(r, 2), f.sent(r, 3), f.sent(r, 4)
	apply(t, s, name, f)
	if got := count(t, s, r); got != (inbox.Counts{Total: 4, Unread: 4, Unseen: 4}) {
		t.Fatalf("after four sends: %+v", got)
	}
	steps := []struct {
		what  string
		event notification.Event
		want  inbox.Counts
	}{
		{"a seen", notification.Seen{NotificationID: a, RecipientID: r, SeenAt: at(10)}, inbox.Counts{Total: 4, Unread: 4, Unseen: 3}},
		{"a read once seen", notification.Read{NotificationID: a, RecipientID: r, ReadAt: at(11)}, inbox.Counts{Total: 4, Unread: 3, Unseen: 3}},
		{"a unread: still seen", notification.Unread{NotificationID: a, RecipientID: r, UnreadAt: at(12)}, inbox.Counts{Total: 4, Unread: 4, Unseen: 3}},
		{"b archived, unread and unseen", notification.Archived{NotificationID: b, RecipientID: r, ArchivedAt: at(13)}, inbox.Counts{Total: 4, Unread: 3, Unseen: 2}},
		{"b read while archived", notification.Read{NotificationID: b, RecipientID: r, ReadAt: at(14)}, inbox.Counts{Total: 4, Unread: 3, Unseen: 2}},
		{"b unread while archived", notification.Unread{NotificationID: b, RecipientID: r, UnreadAt: at(15)}, inbox.Counts{Total: 4, Unread: 3, Unseen: 2}},
		{"b unarchived: unread, seen", notification.Unarchived{NotificationID: b, RecipientID: r, UnarchivedAt: at(16)}, inbox.Counts{Total: 4, Unread: 4, Unseen: 2}},
		{"c archived", notification.Archived{NotificationID: c, RecipientID: r, ArchivedAt: at(17)}, inbox.Counts{Total: 4, Unread: 3, Unseen: 1}},
		{"c canceled while archived", notification.Canceled{NotificationID: c, RecipientID: r, CanceledAt: at(18)}, inbox.Counts{Total: 4, Unread: 3, Unseen: 1, Canceled: 1}},
		{"c unarchived, canceled", notification.Unarchived{NotificationID: c, RecipientID: r, UnarchivedAt: at(19)}, inbox.Counts{Total: 4, Unread: 3, Unseen: 1, Canceled: 1}},
		{"d canceled, unread and unseen", notification.Canceled{NotificationID: d, RecipientID: r, CanceledAt: at(20)}, inbox.Counts{Total: 4, Unread: 2, Unseen: 0, Canceled: 2}},
		{"d archived once canceled", notification.Archived{NotificationID: d, RecipientID: r, ArchivedAt: at(21)}, inbox.Counts{Total: 4, Unread: 2, Unseen: 0, Canceled: 2}},
		{"a archived: unread, seen", notification.Archived{NotificationID: a, RecipientID: r, ArchivedAt: at(22)}, inbox.Counts{Total: 4, Unread: 1, Unseen: 0, Canceled: 2}},
		{"a read while archived", notification.Read{NotificationID: a, RecipientID: r, ReadAt: at(23)}, inbox.Counts{Total: 4, Unread: 1, Unseen: 0, Canceled: 2}},
		{"a unarchived, read", notification.Unarchived{NotificationID: a, RecipientID: r, UnarchivedAt: at(24)}, inbox.Counts{Total: 4, Unread: 1, Unseen: 0, Canceled: 2}},
	}
	for _, st := range steps {
		f.add(st.event)
		apply(t, s, name, f)
		if got := count(t, s, r); got != st.want {
			t.Fatalf("after %s: counts %+v, want %+v", st.what, got, st.want)
		}
	}
	// The same events in one batch count the same.
	r2 := recipient()
	one := &feed{}
	ids := map[string]string{a: one.sent(r2, 1), b: one.sent(r2, 2), c: one.sent(r2, 3), d: one.sent(r2, 4)}
	for _, st := range steps {
		e := retarget(st.event, ids[st.event.Notification()], r2)
		one.add(e)
	}
	apply(t, s, "p-"+r2, one)
	if got, want := count(t, s, r2), steps[len(steps)-1].want; got != want {
		t.Fatalf("the same events in one batch: counts %+v, want %+v", got, want)
	}

	views := map[string]inbox.View{}
	for _, v := range list(t, s, r, 10) {
		views[v.ID] = v
	}
	check := func(id, what string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("%s: %+v", what, views[id])
		}
	}
	va, vb, vc, vd := views[a], views[b], views[c], views[d]
	check(a, "a: read at 23, seen at 10 (its first seen), not archived", va.Status == inbox.StatusRead && va.ReadAt.Equal(at(23)) && va.SeenAt.Equal(at(10)) && va.ArchivedAt == nil)
	check(b, "b: unread, seen when first read (14), not archived", vb.Status == inbox.StatusSent && vb.ReadAt == nil && vb.SeenAt.Equal(at(14)) && vb.ArchivedAt == nil)
	check(c, "c: canceled, never seen, not archived", vc.Status == inbox.StatusCanceled && vc.SeenAt == nil && vc.ArchivedAt == nil)
	check(d, "d: canceled and archived at 21", vd.Status == inbox.StatusCanceled && vd.ArchivedAt.Equal(at(21)))
}

// retarget returns e about notification id of recipient r instead.
func retarget(e notification.Event, id, r string) notification.Event {
	switch e := e.(type) {
	case notification.Read:
		e.NotificationID, e.RecipientID = id, r
		return e
	case notification.Unread:
		e.NotificationID, e.RecipientID = id, r
		return e
	case notification.Canceled:
		e.NotificationID, e.RecipientID = id, r
		return e
	case notification.Seen:
		e.NotificationID, e.RecipientID = id, r
		return e
	case notification.Archived:
		e.NotificationID, e.RecipientID = id, r
		return e
	case notification.Unarchived:
		e.NotificationID, e.RecipientID = id, r
		return e
	}
	panic(fmt.Sprintf("retarget %T", e))
}

// Pages leave archived notifications out unless asked (only them, or all), keep only those of
// a tag when asked, never on content or data that only looks like it, and combine with the
// other filters and the cursor; counts ignore every filter.
func testPageArchivedTags(t *testing.T, s Store) {
	r := recipient()
	f := &feed{}
	var ids []string // oldest first
	for i := range 8 {
		id := uuid.NewString()
		e := notification.Sent{NotificationID: id, RecipientID: r, Content: fmt.Sprintf("message %d", i), Category: "c", SentAt: at(i)}
		switch i % 3 {
		case 0:
			e.Tags = []string{"billing", "urgent"}
		case 1:
			e.Tags = []string{"urgent"}
		}
		ids = append(ids, id)
		f.add(e)
	}
	// Lookalikes: the tag, quoted, in content and in data; archivedAt in data.
	fake := uuid.NewString()
	f.add(notification.Sent{NotificationID: fake, RecipientID: r, Content: `"billing" "tags":["billing"]`, Category: "c", SentAt: at(9),
		Data: json.RawMessage(`{"tags":["billing"],"archivedAt":"2026-01-01T00:00:00Z","status":"read"}`), Title: `"billing"`})
	f.add(notification.Archived{NotificationID: ids[0], RecipientID: r, ArchivedAt: at(20)})
	f.add(notification.Archived{NotificationID: ids[4], RecipientID: r, ArchivedAt: at(21)})
	f.add(notification.Archived{NotificationID: ids[5], RecipientID: r, ArchivedAt: at(22)})
	f.add(notification.Unarchived{NotificationID: ids[5], RecipientID: r, UnarchivedAt: at(23)})
	f.add(notification.Read{NotificationID: ids[3], RecipientID: r, ReadAt: at(24)})
	f.add(notification.Read{NotificationID: ids[4], RecipientID: r, ReadAt: at(25)})
	apply(t, s, "p-"+r, f)
	before := count(t, s, r)

	page := func(q inbox.PageQuery) ([]string, inbox.Page) {
		t.Helper()
		q.Recipient = r
		if q.Limit == 0 {
			q.Limit = 20
		}
		p, err := s.Page(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, raw := range p.Items {
			var v inbox.View
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatalf("page item %s: %v", raw, err)
			}
			got = append(got, v.ID)
		}
		return got, p
	}
	tests := []struct {
		name string
		q    inbox.PageQuery
		want []string
	}{
		{"default: archived left out", inbox.PageQuery{}, []string{fake, ids[7], ids[6], ids[5], ids[3], ids[2], ids[1]}},
		{"archived only", inbox.PageQuery{Archived: inbox.ArchivedOnly}, []string{ids[4], ids[0]}},
		{"all", inbox.PageQuery{Archived: inbox.ArchivedAll}, []string{fake, ids[7], ids[6], ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{"tag billing", inbox.PageQuery{Tag: "billing"}, []string{ids[6], ids[3]}},
		{"tag billing, all", inbox.PageQuery{Tag: "billing", Archived: inbox.ArchivedAll}, []string{ids[6], ids[3], ids[0]}},
		{"tag urgent, archived only", inbox.PageQuery{Tag: "urgent", Archived: inbox.ArchivedOnly}, []string{ids[4], ids[0]}},
		{"tag urgent, unread", inbox.PageQuery{Tag: "urgent", Status: inbox.StatusSent}, []string{ids[7], ids[6], ids[1]}},
		{"tag urgent, read, all", inbox.PageQuery{Tag: "urgent", Status: inbox.StatusRead, Archived: inbox.ArchivedAll}, []string{ids[4], ids[3]}},
		{"a tag no one has", inbox.PageQuery{Tag: "none", Archived: inbox.ArchivedAll}, nil},
		{"a tag's prefix", inbox.PageQuery{Tag: "bill", Archived: inbox.ArchivedAll}, nil},
		{"read: not the data's status", inbox.PageQuery{Status: inbox.StatusRead}, []string{ids[3]}},
	}
	for _, tt := range tests {
		if got, _ := page(tt.q); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	// Filtered pages of 2 walk on with the cursor.
	var walked []string
	q := inbox.PageQuery{Tag: "urgent", Archived: inbox.ArchivedAll, Limit: 2}
	for range 5 {
		got, p := page(q)
		walked = append(walked, got...)
		if p.Next == 0 {
			break
		}
		q.Before = p.Next
	}
	if want := []string{ids[7], ids[6], ids[4], ids[3], ids[1], ids[0]}; fmt.Sprint(walked) != fmt.Sprint(want) {
		t.Errorf("tag urgent, all, 2 at a time: %v, want %v", walked, want)
	}
	if after := count(t, s, r); after != before || after != (inbox.Counts{Total: 9, Unread: 6, Unseen: 6}) {
		t.Errorf("counts %+v (before the pages %+v), want total 9, unread and unseen 6 (two archived, two read, one of them both)", after, before)
	}
}

// A rich notification's document holds its fields after the seed's, as AppendJSON writes
// them, byte for byte; seen and archived ones show when.
func testRichDocument(t *testing.T, s Store) {
	r := recipient()
	f := &feed{}
	id := uuid.NewString()
	sent := notification.Sent{NotificationID: id, RecipientID: r, Content: "Your invoice is ready", Category: "billing", SentAt: at(1),
		Title: "Invoice <42>", Data: json.RawMessage(`{"amount":12.5,"lines":[{"sku":"a&b"}]}`), ActionURL: "/invoices/42",
		Actions: []notification.Action{{Label: "Pay", URL: "https://pay.example.com/42"}, {Label: "Later", URL: "/later"}}, Tags: []string{"billing", "q4"}}
	f.add(sent)
	f.add(notification.Seen{NotificationID: id, RecipientID: r, SeenAt: at(2)})
	f.add(notification.Archived{NotificationID: id, RecipientID: r, ArchivedAt: at(3)})
	apply(t, s, "p-"+r, f)
	want := `{"id":"` + id + `","recipientId":"` + r + `","content":"Your invoice is ready","category":"billing","status":"sent","readAt":null,"canceledAt":null,` +
		`"createdAt":"2026-05-06T07:08:10Z","seenAt":"2026-05-06T07:08:11Z","archivedAt":"2026-05-06T07:08:12Z","title":"Invoice \u003c42\u003e",` +
		`"data":{"amount":12.5,"lines":[{"sku":"a\u0026b"}]},"actionUrl":"/invoices/42",` +
		`"actions":[{"label":"Pay","url":"https://pay.example.com/42"},{"label":"Later","url":"/later"}],"tags":["billing","q4"]}`
	raw, err := s.List(context.Background(), r, 1)
	if err != nil || len(raw) != 1 {
		t.Fatalf("list = %d, %v", len(raw), err)
	}
	if string(raw[0]) != want {
		t.Fatalf("document\n%s\nwant\n%s", raw[0], want)
	}
	// Read and unarchived in a later batch: the rich fields stay, seenAt too.
	f.add(notification.Read{NotificationID: id, RecipientID: r, ReadAt: at(4)})
	f.add(notification.Unarchived{NotificationID: id, RecipientID: r, UnarchivedAt: at(5)})
	apply(t, s, "p-"+r, f)
	v := list(t, s, r, 1)[0]
	if v.Title != sent.Title || string(v.Data) != `{"amount":12.5,"lines":[{"sku":"a\u0026b"}]}` || v.ActionURL != sent.ActionURL ||
		fmt.Sprint(v.Actions) != fmt.Sprint(sent.Actions) || fmt.Sprint(v.Tags) != fmt.Sprint(sent.Tags) ||
		!v.SeenAt.Equal(at(2)) || v.ArchivedAt != nil || v.Status != inbox.StatusRead {
		t.Fatalf("after read and unarchive: %+v", v)
	}
	if c := count(t, s, r); c != (inbox.Counts{Total: 1}) {
		t.Fatalf("counts %+v, want one, read", c)
	}
}
