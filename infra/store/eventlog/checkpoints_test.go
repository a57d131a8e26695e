package eventlog_test

import (
	"path/filepath"
	"testing"

	"github.com/eventnotify/notify/infra/transport/kafkabridge"
	"github.com/eventnotify/notify/infra/transport/kafkabridge/checkpointtest"
)

// The log keeps the relay's checkpoint when it is the event store; it keeps no projection
// checkpoints.
func TestRelayCheckpoints(t *testing.T) {
	t.Parallel()
	checkpointtest.Run(t, func(t *testing.T) checkpointtest.Store {
		path := filepath.Join(t.TempDir(), "events.db")
		s := open(t, path)
		return checkpointtest.Store{Checkpoints: s, Reopen: func(t *testing.T) kafkabridge.Checkpoints {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			return open(t, path)
		}}
	})
}
