package inbox_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/eventnotify/notify/projections/inbox"
)

// plainView has View's JSON fields without its MarshalJSON: what encoding/json writes for them.
type plainView struct {
	ID          string       `json:"id"`
	RecipientID string       `json:"recipientId"`
	Content     string       `json:"content"`
	Category    string       `json:"category"`
	Status      inbox.Status `json:"status"`
	ReadAt      *time.Time   `json:"readAt"`
	CanceledAt  *time.Time   `json:"canceledAt"`
	CreatedAt   time.Time    `json:"createdAt"`
}

func FuzzAppendJSONMatchesEncodingJSON(f *testing.F) {
	f.Add("5f0c2a3e-1111-4a4a-9b9b-000000000001", "alice", "You have a new follower", "social", "sent", int64(1767225600123456789), int32(0), true, false)
	f.Add("x", "r", `quote " back\ <tag> & ünïcode `+"\u2028\n\t\x01\xff", "c", "read", int64(-62135596800000000), int32(7200), false, true)
	f.Add("", "", "", "", "", int64(0), int32(-3600*23-59*60), true, true)
	f.Fuzz(func(t *testing.T, id, recipient, content, category, status string, nanos int64, offset int32, read, canceled bool) {
		at := time.Unix(0, nanos).In(time.FixedZone("", int(offset)))
		p := plainView{ID: id, RecipientID: recipient, Content: content, Category: category, Status: inbox.Status(status), CreatedAt: at}
		if read {
			p.ReadAt = &at
		}
		if canceled {
			p.CanceledAt = &at
		}
		want, wantErr := json.Marshal(p)
		v := inbox.View{ID: p.ID, RecipientID: p.RecipientID, Content: p.Content, Category: p.Category, Status: p.Status, ReadAt: p.ReadAt, CanceledAt: p.CanceledAt, CreatedAt: p.CreatedAt, Seq: 7}
		got, err := inbox.AppendJSON(nil, v)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("error %v, encoding/json's %v", err, wantErr)
		}
		if wantErr == nil && !bytes.Equal(got, want) {
			t.Fatalf("\ngot  %s\nwant %s", got, want)
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
			_, _ = json.Marshal(plainView{v.ID, v.RecipientID, v.Content, v.Category, v.Status, v.ReadAt, v.CanceledAt, v.CreatedAt})
		}
	})
}
