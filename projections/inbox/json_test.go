package inbox_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/projections/inbox"
)

func t0() time.Time { return time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC) }

// plainView has View's JSON fields without its MarshalJSON: what encoding/json writes for them.
type plainView struct {
	ID          string                `json:"id"`
	RecipientID string                `json:"recipientId"`
	Content     string                `json:"content"`
	Category    string                `json:"category"`
	Status      inbox.Status          `json:"status"`
	ReadAt      *time.Time            `json:"readAt"`
	CanceledAt  *time.Time            `json:"canceledAt"`
	CreatedAt   time.Time             `json:"createdAt"`
	SeenAt      *time.Time            `json:"seenAt,omitempty"`
	ArchivedAt  *time.Time            `json:"archivedAt,omitempty"`
	Title       string                `json:"title,omitempty"`
	Data        json.RawMessage       `json:"data,omitempty"`
	ActionURL   string                `json:"actionUrl,omitempty"`
	Actions     []notification.Action `json:"actions,omitempty"`
	Tags        []string              `json:"tags,omitempty"`
}

// FuzzAppendJSONMatchesEncodingJSON holds AppendJSON to encoding/json, the optional fields
// too: rich's bits choose which are set (1 seenAt, 2 archivedAt, 4 title, 8 data, 16
// actionUrl, 32 actions, 64 tags, 128 empty but non-nil actions and tags); an extra that is a
// JSON object follows as it is (and is read back by UnmarshalJSON), one that is not fails.
func FuzzAppendJSONMatchesEncodingJSON(f *testing.F) {
	f.Add("5f0c2a3e-1111-4a4a-9b9b-000000000001", "alice", "You have a new follower", "social", "sent", int64(1767225600123456789), int32(0), true, false, uint8(0), "", "", "")
	f.Add("x", "r", `quote " back\ <tag> & ünïcode `+"\u2028\n\t\x01\xff", "c", "read", int64(-62135596800000000), int32(7200), false, true, uint8(0x7f), `{"a":[1,{"b":"<&>"}], "c" : null}`, "billing", `{"priority":{"level":2},"x":"<&>"}`)
	f.Add("", "", "", "", "", int64(0), int32(-3600*23-59*60), true, true, uint8(0xff), `not json`, "", `[1]`)
	f.Fuzz(func(t *testing.T, id, recipient, content, category, status string, nanos int64, offset int32, read, canceled bool, rich uint8, data, word, extra string) {
		at := time.Unix(0, nanos).In(time.FixedZone("", int(offset)))
		p := plainView{ID: id, RecipientID: recipient, Content: content, Category: category, Status: inbox.Status(status), CreatedAt: at}
		if read {
			p.ReadAt = &at
		}
		if canceled {
			p.CanceledAt = &at
		}
		if rich&1 != 0 {
			p.SeenAt = &at
		}
		if rich&2 != 0 {
			later := at.Add(time.Second)
			p.ArchivedAt = &later
		}
		if rich&4 != 0 {
			p.Title = word + content
		}
		if rich&8 != 0 {
			p.Data = json.RawMessage(data)
		}
		if rich&16 != 0 {
			p.ActionURL = "/x/" + word
		}
		if rich&32 != 0 {
			p.Actions = []notification.Action{{Label: word, URL: category}, {Label: content, URL: "https://e.com/" + word}}
		}
		if rich&64 != 0 {
			p.Tags = []string{word, category}
		}
		if rich&128 != 0 && rich&(32|64) == 0 {
			p.Actions, p.Tags = []notification.Action{}, []string{}
		}
		want, wantErr := json.Marshal(p)
		v := inbox.View{ID: p.ID, RecipientID: p.RecipientID, Content: p.Content, Category: p.Category, Status: p.Status, ReadAt: p.ReadAt, CanceledAt: p.CanceledAt, CreatedAt: p.CreatedAt, Seq: 7,
			SeenAt: p.SeenAt, ArchivedAt: p.ArchivedAt, Title: p.Title, Data: p.Data, ActionURL: p.ActionURL, Actions: p.Actions, Tags: p.Tags}
		if extra != "" {
			v.Extra = json.RawMessage(extra)
			var members map[string]json.RawMessage
			switch trimmed := strings.TrimSpace(extra); {
			case json.Unmarshal([]byte(extra), &members) != nil || trimmed[0] != '{':
				wantErr = errors.New("not an object")
			case wantErr == nil && len(members) > 0:
				inner := strings.TrimSpace(trimmed[1 : len(trimmed)-1])
				want = append(append(want[:len(want)-1:len(want)-1], ","+inner...), '}')
			}
		}
		got, err := inbox.AppendJSON(nil, v)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("error %v, encoding/json's %v", err, wantErr)
		}
		if wantErr != nil {
			return
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("\ngot  %s\nwant %s", got, want)
		}
		var back inbox.View
		if err := inbox.DecodeView(got, &back); err == nil { // (encoding/json refuses some times it writes)
			again := v // the known fields as they were: encoding/json rewrites invalid UTF-8
			again.Extra = back.Extra
			if enc, err := inbox.AppendJSON(nil, again); err != nil || !bytes.Equal(enc, got) {
				t.Fatalf("Extra read back as %s, written again:\ngot  %s (%v)\nwant %s", back.Extra, enc, err, got)
			}
		}
		// The seed's shape is the document without the optional fields.
		seed := p
		seed.SeenAt, seed.ArchivedAt, seed.Title, seed.Data, seed.ActionURL, seed.Actions, seed.Tags = nil, nil, "", nil, "", nil, nil
		wantSeed, _ := json.Marshal(seed) // without Extra too
		if gotSeed := inbox.SeedJSON(got); !bytes.Equal(gotSeed, wantSeed) {
			t.Fatalf("seed shape\ngot  %s\nwant %s", gotSeed, wantSeed)
		}
	})
}

func BenchmarkAppendJSON(b *testing.B) {
	at := time.Now().UTC()
	v := inbox.View{ID: "5f0c2a3e-1111-4a4a-9b9b-000000000001", RecipientID: "r-42", Content: "You have a new follower number 42", Category: "social", Status: inbox.StatusRead, ReadAt: &at, CreatedAt: at}
	buf := make([]byte, 0, 512)
	b.Run("append", func(b *testing.B) {
		for range b.N {
			buf, _ = inbox.AppendJSON(buf[:0], v)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for range b.N {
			_, _ = json.Marshal(plainView{ID: v.ID, RecipientID: v.RecipientID, Content: v.Content, Category: v.Category, Status: v.Status, ReadAt: v.ReadAt, CanceledAt: v.CanceledAt, CreatedAt: v.CreatedAt})
		}
	})
}

// Reading a document back costs the scan for its extra members on top of encoding/json.
func BenchmarkUnmarshalView(b *testing.B) {
	at := time.Now().UTC()
	doc, _ := inbox.AppendJSON(nil, inbox.View{ID: "5f0c2a3e-1111-4a4a-9b9b-000000000001", RecipientID: "r-42", Content: "You have a new follower number 42", Category: "social", Status: inbox.StatusRead, ReadAt: &at, CreatedAt: at})
	b.Run("view", func(b *testing.B) {
		for range b.N {
			var v inbox.View
			if err := inbox.DecodeView(doc, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plain", func(b *testing.B) {
		for range b.N {
			var v plainView
			if err := json.Unmarshal(doc, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
