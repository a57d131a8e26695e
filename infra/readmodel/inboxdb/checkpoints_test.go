package inboxdb_test

import (
	"path/filepath"
	"testing"

	"github.com/eventnotify/notify/infra/transport/kafkabridge"
	"github.com/eventnotify/notify/infra/transport/kafkabridge/checkpointtest"
	"github.com/eventnotify/notify/projections/inbox"
)

// The read model keeps the relay's checkpoint when the events live in EventStoreDB, beside
// the projections' own.
func TestRelayCheckpoints(t *testing.T) {
	t.Parallel()
	checkpointtest.Run(t, func(t *testing.T) checkpointtest.Store {
		path := filepath.Join(t.TempDir(), "inbox.db")
		s := open(t, path)
		return checkpointtest.Store{Checkpoints: s, Projections: checkpointtest.ProjectionsOf[inbox.Tx](s),
			Reopen: func(t *testing.T) kafkabridge.Checkpoints {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				return open(t, path)
			}}
	})
}
