package inboxdb

import "testing"

// head keeps the fields the filters read and leaves out what a sender or a newer version
// wrote after them, whatever it holds.
func TestHead_EndsAfterTheFilteredFields(t *testing.T) {
	t.Parallel()
	base := `{"id":"n","recipientId":"r","content":"say \"status\":\"read\"","category":"c","status":"sent","readAt":null,"canceledAt":null,"createdAt":"2026-01-01T00:00:00Z"`
	for _, tt := range []struct{ name, doc, want string }{
		{"plain", base + `}`, base},
		{"seen and archived", base + `,"seenAt":"2026-01-02T00:00:00Z","archivedAt":"2026-01-03T00:00:00Z","title":"t"}`,
			base + `,"seenAt":"2026-01-02T00:00:00Z","archivedAt":"2026-01-03T00:00:00Z"`},
		{"archived only", base + `,"archivedAt":"2026-01-03T00:00:00Z"}`, base + `,"archivedAt":"2026-01-03T00:00:00Z"`},
		{"a newer version's member holding a status", base + `,"meta":{"status":"read","archivedAt":"x"}}`, base},
		{"data holding a status", base + `,"data":{"status":"read"}}`, base},
	} {
		if got := string(head([]byte(tt.doc))); got != tt.want {
			t.Errorf("%s:\n got  %s\n want %s", tt.name, got, tt.want)
		}
	}
}
