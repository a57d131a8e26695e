// Package app is the application façade: every command handler and query the service
// offers, built once (New) and handed to each transport. The HTTP API and the Kafka bridge
// take an Application (or its Commands) instead of declaring handler interfaces of their own.
package app

import (
	"go.opentelemetry.io/otel/trace"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/live"
	"github.com/eventnotify/notify/app/query"
)

// Application is what the transports serve.
type Application struct {
	Commands Commands
	Queries  Queries
}

// Commands are the command handlers, each observed by the Recorder given to New.
type Commands struct {
	Send    command.Handler[command.SendNotification, command.Result]
	Read    command.Handler[command.ReadNotification, command.Result]
	Unread  command.Handler[command.UnreadNotification, command.Result]
	Cancel  command.Handler[command.CancelNotification, command.Result]
	ReadAll command.Handler[command.ReadAllNotifications, command.ReadAllResult]
	// See, Archive and Unarchive came with issue #13.
	See       command.Handler[command.SeeNotification, command.Result]
	Archive   command.Handler[command.ArchiveNotification, command.Result]
	Unarchive command.Handler[command.UnarchiveNotification, command.Result]
	// Bulk changes many notifications of a recipient (HTTP only).
	Bulk command.Handler[command.BulkChange, command.BulkResult]
}

// Queries answer from the read model (Inbox), the event store (Notifications), the live
// feed (Live) and the projections' progress (Status).
type Queries struct {
	Inbox         query.Inbox
	Notifications query.Notifications
	// Status reports projections, runs replays, waits for read-your-writes and says whether
	// the service is ready (nil: none of these are served).
	Status *query.Status
	// Live fans inbox changes out to live streams (nil: none are served).
	Live *live.Hub
}

// Deps are what the application is built over.
type Deps struct {
	// Log is the event store the commands load from and append to, and the history reads.
	Log       command.EventStore
	ReadModel query.ReadModel
	// Recorder observes every command (nil: none is).
	Recorder command.Recorder
	// Tracer makes every command a span (nil: none is).
	Tracer trace.TracerProvider
	Status *query.Status
	Live   *live.Hub
}

// New builds the application.
func New(d Deps) Application {
	inbox := query.NewInbox(d.ReadModel)
	read := command.NewReadNotificationHandler(d.Log, nil)
	see := command.NewSeeNotificationHandler(d.Log, nil)
	unread := command.NewUnreadNotificationHandler(d.Log, nil)
	archive := command.NewArchiveNotificationHandler(d.Log, nil)
	unarchive := command.NewUnarchiveNotificationHandler(d.Log, nil)
	return Application{
		Commands: Commands{
			Send:    wrap(d, "send", command.NewSendNotificationHandler(d.Log, nil)),
			Read:    wrap(d, "read", read),
			Unread:  wrap(d, "unread", unread),
			Cancel:  wrap(d, "cancel", command.NewCancelNotificationHandler(d.Log, nil)),
			ReadAll: wrap(d, "read_all", command.NewReadAllNotificationsHandler(read, inbox)),

			See:       wrap(d, "see", see),
			Archive:   wrap(d, "archive", archive),
			Unarchive: wrap(d, "unarchive", unarchive),
			Bulk:      wrap(d, "bulk", command.NewBulkChangeHandler(see, read, unread, archive, unarchive, inbox)),
		},
		Queries: Queries{Inbox: inbox, Notifications: query.NewNotifications(d.Log), Status: d.Status, Live: d.Live},
	}
}

// wrap observes and traces a command handler (the span inside: it does not time the recorder).
func wrap[C, R any](d Deps, name string, h command.Handler[C, R]) command.Handler[C, R] {
	return command.Observed(d.Recorder, name, command.Traced(d.Tracer, name, h))
}
