package service

import (
	"go.opentelemetry.io/otel/trace"

	"github.com/eventnotify/notify/app"
	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/live"
	"github.com/eventnotify/notify/app/query"
	"github.com/eventnotify/notify/infra/platform/metrics"
	"github.com/eventnotify/notify/infra/platform/tracing"
)

// NewApplication builds the application as the service runs it: commands append through
// reg's counting store and are counted themselves (reg may be nil: nothing is observed), and
// with a tracer provider both are spans (tp may be nil: tracing off; system names the event
// store in its spans). The component tests build theirs with it too (servicetest).
func NewApplication(log command.EventStore, rm query.ReadModel, reg *metrics.Registry, status *query.Status, hub *live.Hub, tp trace.TracerProvider, system string) app.Application {
	var rec command.Recorder
	if reg != nil {
		rec = reg
	}
	return app.New(app.Deps{Log: reg.EventStore(tracing.EventStore(tp, system, log)), ReadModel: rm, Recorder: rec, Tracer: tp, Status: status, Live: hub})
}
