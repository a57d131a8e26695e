package query_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/eventnotify/notify/app/query"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/projections/inbox"
)

// fakeReadModel records the page query it was asked and answers with docs.
type fakeReadModel struct {
	asked inbox.PageQuery
	docs  []json.RawMessage
}

func (f *fakeReadModel) List(context.Context, string, int) ([]json.RawMessage, error) {
	return f.docs, nil
}
func (f *fakeReadModel) Count(context.Context, string) (inbox.Counts, error) {
	return inbox.Counts{}, nil
}
func (f *fakeReadModel) Page(_ context.Context, q inbox.PageQuery) (inbox.Page, error) {
	f.asked = q
	return inbox.Page{}, nil
}
func (f *fakeReadModel) UnreadIDs(context.Context, string, int) ([]string, error) { return nil, nil }

func TestParseArchived(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]inbox.Archived{"": inbox.ArchivedHidden, "false": inbox.ArchivedHidden, "true": inbox.ArchivedOnly, "all": inbox.ArchivedAll} {
		if got, err := query.ParseArchived(in); err != nil || got != want {
			t.Errorf("ParseArchived(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"yes", "TRUE", "1", "none"} {
		var ve *notification.ValidationError
		if _, err := query.ParseArchived(in); !errors.As(err, &ve) || ve.Field != "archived" {
			t.Errorf("ParseArchived(%q): %v, want a validation error of archived", in, err)
		}
	}
}

// Page passes the archive and tag filters to the read model, and refuses a tag no
// notification can carry and an archive filter that does not exist.
func TestPage_Filters(t *testing.T) {
	t.Parallel()
	rm := &fakeReadModel{}
	q := query.NewInbox(rm)
	ctx := context.Background()
	if _, err := q.Page(ctx, inbox.PageQuery{Recipient: "alice", Archived: inbox.ArchivedOnly, Tag: "billing"}); err != nil {
		t.Fatal(err)
	}
	if rm.asked.Archived != inbox.ArchivedOnly || rm.asked.Tag != "billing" || rm.asked.Limit != query.DefaultPage {
		t.Fatalf("the read model was asked %+v", rm.asked)
	}
	for _, pq := range []inbox.PageQuery{{Recipient: "alice", Tag: "Not A Tag"}, {Recipient: "alice", Archived: inbox.ArchivedAll + 1}} {
		var ve *notification.ValidationError
		if _, err := q.Page(ctx, pq); !errors.As(err, &ve) {
			t.Errorf("page %+v: %v, want a validation error", pq, err)
		}
	}
}

// The seed's list serves the seed's shape, whatever the documents hold.
func TestList_SeedShape(t *testing.T) {
	t.Parallel()
	doc := `{"id":"n","recipientId":"alice","content":"hello","category":"c","status":"read","readAt":"2026-01-01T00:00:00Z","canceledAt":null,"createdAt":"2026-01-01T00:00:00Z"`
	rm := &fakeReadModel{docs: []json.RawMessage{
		json.RawMessage(doc + `,"seenAt":"2026-01-01T00:00:00Z","title":"t","tags":["a"]}`),
		json.RawMessage(doc + `}`),
	}}
	got, err := query.NewInbox(rm).List(context.Background(), "alice", 10)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range got {
		if string(d) != doc+`}` {
			t.Errorf("document %d = %s, want the seed's %s}", i, d, doc)
		}
	}
}
