package inbox_test

import (
	"testing"

	"github.com/eventnotify/notify/projections/inbox"
)

// Standings used by the tables: status, then s (seen) and a (archived).
var (
	none      = inbox.Standing{}
	sent      = inbox.Standing{Status: inbox.StatusSent}
	sentS     = inbox.Standing{Status: inbox.StatusSent, Seen: true}
	sentA     = inbox.Standing{Status: inbox.StatusSent, Archived: true}
	sentSA    = inbox.Standing{Status: inbox.StatusSent, Seen: true, Archived: true}
	read      = inbox.Standing{Status: inbox.StatusRead, Seen: true}
	readA     = inbox.Standing{Status: inbox.StatusRead, Seen: true, Archived: true}
	canceled  = inbox.Standing{Status: inbox.StatusCanceled}
	canceledS = inbox.Standing{Status: inbox.StatusCanceled, Seen: true}
	canceledA = inbox.Standing{Status: inbox.StatusCanceled, Archived: true}
)

// Every transition an event can make, with the change it makes to the counts: unread and
// unseen leave out archived and canceled notifications, exactly.
func TestCounts_Change(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		before, after inbox.Standing
		want          inbox.Counts
	}{
		{"sent", none, sent, inbox.Counts{Total: 1, Unread: 1, Unseen: 1}},
		{"new and already read", none, read, inbox.Counts{Total: 1}},
		{"new and archived", none, sentA, inbox.Counts{Total: 1}},
		{"new and canceled", none, canceled, inbox.Counts{Total: 1, Canceled: 1}},
		{"read", sent, read, inbox.Counts{Unread: -1, Unseen: -1}},
		{"read once seen", sentS, read, inbox.Counts{Unread: -1}},
		{"seen", sent, sentS, inbox.Counts{Unseen: -1}},
		{"unread again, still seen", read, sentS, inbox.Counts{Unread: 1}},
		{"archive unread and unseen", sent, sentA, inbox.Counts{Unread: -1, Unseen: -1}},
		{"unarchive unread and unseen", sentA, sent, inbox.Counts{Unread: 1, Unseen: 1}},
		{"archive unread, seen", sentS, sentSA, inbox.Counts{Unread: -1}},
		{"unarchive unread, seen", sentSA, sentS, inbox.Counts{Unread: 1}},
		{"archive read", read, readA, inbox.Counts{}},
		{"unarchive read", readA, read, inbox.Counts{}},
		{"read while archived", sentA, readA, inbox.Counts{}},
		{"read while archived, seen", sentSA, readA, inbox.Counts{}},
		{"seen while archived", sentA, sentSA, inbox.Counts{}},
		{"unread while archived", readA, sentSA, inbox.Counts{}},
		{"canceled while unread", sent, canceled, inbox.Counts{Unread: -1, Unseen: -1, Canceled: 1}},
		{"canceled once seen", sentS, canceledS, inbox.Counts{Unread: -1, Canceled: 1}},
		{"canceled once read", read, canceledS, inbox.Counts{Canceled: 1}},
		{"canceled while archived", sentA, canceledA, inbox.Counts{Canceled: 1}},
		{"canceled while archived and read", readA, inbox.Standing{Status: inbox.StatusCanceled, Seen: true, Archived: true}, inbox.Counts{Canceled: 1}},
		{"canceled, archived", canceled, canceledA, inbox.Counts{}},
		{"canceled, unarchived", canceledA, canceled, inbox.Counts{}},
		{"unchanged", canceled, canceled, inbox.Counts{}},
	}
	for _, tt := range tests {
		var c inbox.Counts
		c.Change(tt.before, tt.after)
		if c != tt.want {
			t.Errorf("%s (%+v → %+v): change %+v, want %+v", tt.name, tt.before, tt.after, c, tt.want)
		}
	}
}

// Whatever the path, counts changed step by step are the counts of where it ends: Change
// between any two standings is the difference of what each counts as, and each counts as the
// rule says.
func TestCounts_ChangeIsTheDifference(t *testing.T) {
	t.Parallel()
	var all []inbox.Standing
	for _, st := range []inbox.Status{inbox.StatusSent, inbox.StatusRead, inbox.StatusCanceled} {
		for _, seen := range []bool{false, true} {
			for _, archived := range []bool{false, true} {
				all = append(all, inbox.Standing{Status: st, Seen: seen, Archived: archived})
			}
		}
	}
	rule := func(s inbox.Standing) inbox.Counts {
		c := inbox.Counts{Total: 1}
		active := s.Status != inbox.StatusCanceled && !s.Archived
		if s.Status == inbox.StatusCanceled {
			c.Canceled = 1
		}
		if active && s.Status == inbox.StatusSent {
			c.Unread = 1
		}
		if active && !s.Seen {
			c.Unseen = 1
		}
		return c
	}
	for _, a := range all {
		var got inbox.Counts
		got.Change(none, a)
		if got != rule(a) {
			t.Errorf("%+v counts %+v, want %+v", a, got, rule(a))
		}
		for _, b := range all {
			var c inbox.Counts
			c.Change(none, a)
			c.Change(a, b)
			if c != rule(b) {
				t.Errorf("%+v then %+v counts %+v, want %+v", a, b, c, rule(b))
			}
		}
	}
}

// A read notification counts as seen even when its view has no seenAt (folded before it
// existed); archivedAt makes it archived.
func TestStandingOf(t *testing.T) {
	t.Parallel()
	at := t0()
	tests := []struct {
		v    inbox.View
		want inbox.Standing
	}{
		{inbox.View{Status: inbox.StatusSent}, sent},
		{inbox.View{Status: inbox.StatusRead, ReadAt: &at}, read},
		{inbox.View{Status: inbox.StatusSent, SeenAt: &at}, sentS},
		{inbox.View{Status: inbox.StatusSent, ArchivedAt: &at}, sentA},
		{inbox.View{Status: inbox.StatusCanceled, CanceledAt: &at, ArchivedAt: &at}, canceledA},
	}
	for _, tt := range tests {
		if got := inbox.StandingOf(tt.v); got != tt.want {
			t.Errorf("StandingOf(%+v) = %+v, want %+v", tt.v, got, tt.want)
		}
	}
}
