package service

import (
	"github.com/eventnotify/notify/app"
	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/live"
	"github.com/eventnotify/notify/app/query"
	"github.com/eventnotify/notify/infra/platform/metrics"
)

// NewApplication builds the application as the service runs it: commands append through
// reg's counting store and are counted themselves (reg may be nil: nothing is observed).
// The component tests build theirs with it too (servicetest).
func NewApplication(log command.EventStore, rm query.ReadModel, reg *metrics.Registry, status *query.Status, hub *live.Hub) app.Application {
	var rec command.Recorder
	if reg != nil {
		rec = reg
	}
	return app.New(app.Deps{Log: reg.EventStore(log), ReadModel: rm, Recorder: rec, Status: status, Live: hub})
}
