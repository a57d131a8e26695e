package inboxdb_test

import (
	"path/filepath"
	"testing"

	"github.com/eventnotify/notify/infra/inboxdb"
	"github.com/eventnotify/notify/projections/inbox/inboxtest"
)

func TestContract(t *testing.T) {
	t.Parallel()
	s, err := inboxdb.Open(filepath.Join(t.TempDir(), "inbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	inboxtest.Run(t, func(*testing.T) inboxtest.Store { return s })
}
