package pginbox_test

import (
	"testing"

	"github.com/eventnotify/notify/infra/readmodel/pginbox"
	"github.com/eventnotify/notify/infra/transport/kafkabridge"
	"github.com/eventnotify/notify/infra/transport/kafkabridge/checkpointtest"
	"github.com/eventnotify/notify/projections/inbox"
)

// The read model keeps the relay's checkpoint when the events live in EventStoreDB, beside
// the projections' own.
func TestRelayCheckpoints(t *testing.T) {
	t.Parallel()
	checkpointtest.Run(t, func(t *testing.T) checkpointtest.Store {
		schema := freshSchema(t)
		s := open(t, schema, pginbox.Options{})
		return checkpointtest.Store{Checkpoints: s, Projections: checkpointtest.ProjectionsOf[inbox.Tx](s),
			Reopen: func(t *testing.T) kafkabridge.Checkpoints {
				s.Close()
				return open(t, schema, pginbox.Options{})
			}}
	})
}
