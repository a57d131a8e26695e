// Package servicetest builds the application for component tests, as the service does
// (service.NewApplication) but on embedded stores in a test's temporary directory, with the
// inbox projection running: the transports' tests serve it over real HTTP or real Kafka.
package servicetest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventnotify/notify/app"
	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/app/live"
	"github.com/eventnotify/notify/app/query"
	"github.com/eventnotify/notify/infra/platform/metrics"
	"github.com/eventnotify/notify/infra/readmodel/inboxdb"
	"github.com/eventnotify/notify/infra/service"
	"github.com/eventnotify/notify/infra/store/eventlog"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

// Options adjust the component; the zero value is a plain application.
type Options struct {
	// ReadWait bounds read-your-writes waits (2 s).
	ReadWait time.Duration
	// Metrics observes commands, appends and positions (nil: nothing is observed).
	Metrics *metrics.Registry
	// ReplayLog wraps the log replays read (a test holds it to keep a replay running).
	ReplayLog func(projections.Log) projections.Log
	// Head wraps the log head the API checks client positions against and reports.
	Head func(eventstore.Position) eventstore.Position
	// Live, when set, runs a live hub with these options (else Queries.Live is nil).
	Live *live.Options
}

// Component is a built and running application with its parts, closed when the test ends.
type Component struct {
	App       app.Application
	Log       *eventlog.Store
	ReadModel *inboxdb.Store
	Runner    *projections.Runner[inbox.Tx]
	Replays   *projections.Replays[inbox.Tx]
	// StopHub ends the live hub and with it every live stream (nil without Options.Live);
	// the cleanup calls it too.
	StopHub func()
}

// NewComponentTestApplication opens an embedded log and read model in t's temporary
// directory, runs the inbox projection (and the hub), and builds the application over them.
func NewComponentTestApplication(t testing.TB, o Options) *Component {
	t.Helper()
	dir := t.TempDir()
	log, err := eventlog.Open(filepath.Join(dir, "events.db"), eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rm, err := inboxdb.Open(filepath.Join(dir, "inbox.db"))
	if err != nil {
		log.Close()
		t.Fatal(err)
	}
	if o.ReadWait == 0 {
		o.ReadWait = 2 * time.Second
	}
	var replayLog projections.Log = log
	if o.ReplayLog != nil {
		replayLog = o.ReplayLog(log)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runner := projections.NewRunner(log, rm, inbox.Projection(), nil)
	done := make(chan struct{})
	go func() { _ = runner.Run(ctx); close(done) }()
	replays := projections.NewReplays(ctx, replayLog, rm, nil, inbox.Projection())
	head := func(context.Context) (eventstore.Position, error) {
		if o.Head != nil {
			return o.Head(log.Head()), nil
		}
		return log.Head(), nil
	}
	position := func(ctx context.Context) (eventstore.Position, error) { return rm.Checkpoint(ctx, inbox.Name) }
	o.Metrics.WatchLog(func(context.Context) (eventstore.Position, error) { return log.Head(), nil }, map[string]metrics.PositionFunc{inbox.Name: position}, time.Second)
	status := &query.Status{
		Head:       head,
		Projection: query.Projection{Name: inbox.Name, Position: position, Replays: replays},
		ReadWait:   o.ReadWait,
		MaxLag:     1 << 62,
	}
	c := &Component{Log: log, ReadModel: rm, Runner: runner, Replays: replays}
	var hub *live.Hub
	hubDone := make(chan struct{})
	close(hubDone)
	if o.Live != nil {
		hub = live.NewHub(log, log.Head(), *o.Live)
		hctx, stop := context.WithCancel(context.Background())
		hubDone = make(chan struct{})
		go func() { _ = hub.Run(hctx); close(hubDone) }()
		c.StopHub = stop
	}
	c.App = service.NewApplication(log, rm, o.Metrics, status, hub, nil, "")
	t.Cleanup(func() {
		if c.StopHub != nil {
			c.StopHub()
		}
		<-hubDone
		cancel()
		<-done
		replays.Wait()
		rm.Close()
		log.Close()
	})
	return c
}
