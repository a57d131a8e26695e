package inbox_test

import (
	"testing"

	"github.com/eventnotify/notify/projections/inbox"
)

func TestCounts_Change(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		before, after inbox.Status
		want          inbox.Counts
	}{
		{"new and unread", "", inbox.StatusSent, inbox.Counts{Total: 1, Unread: 1}},
		{"new and already read", "", inbox.StatusRead, inbox.Counts{Total: 1}},
		{"read", inbox.StatusSent, inbox.StatusRead, inbox.Counts{Unread: -1}},
		{"unread again", inbox.StatusRead, inbox.StatusSent, inbox.Counts{Unread: 1}},
		{"canceled while unread", inbox.StatusSent, inbox.StatusCanceled, inbox.Counts{Unread: -1, Canceled: 1}},
		{"canceled once read", inbox.StatusRead, inbox.StatusCanceled, inbox.Counts{Canceled: 1}},
		{"unchanged", inbox.StatusCanceled, inbox.StatusCanceled, inbox.Counts{}},
	}
	for _, tt := range tests {
		var c inbox.Counts
		c.Change(tt.before, tt.after)
		if c != tt.want {
			t.Errorf("%s (%q → %q): change %+v, want %+v", tt.name, tt.before, tt.after, c, tt.want)
		}
	}
}
