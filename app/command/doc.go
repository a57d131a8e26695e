// Package command holds one handler per command: send, read, unread, cancel, and read-all
// (which reads what the read model lists as unread, one read at a time). Each single-
// notification handler loads the notification from its stream, lets the aggregate decide, and
// appends the events with the expected revision and ids derived from the command id, retrying
// a bounded number of times on conflict (repository.go).
//
// Handler is the shape the transports call (through app.Application); Observed decorates one
// so a Recorder sees every outcome. The package imports the domain and the event-store port,
// and declares the store interface it needs (EventStore).
package command
