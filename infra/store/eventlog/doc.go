// Package eventlog is the embedded event store: one bbolt file holding the global log, keyed
// by position. Appends from many goroutines are group-committed by one writer, each commit
// fsynced before any of its appends is acknowledged. Streams are found through an in-memory
// index rebuilt at Open (see index), so a commit dirties only the pages at the log's end:
// every page a commit writes costs a flush.
//
// It implements the port in app/eventstore and passes eventstoretest.
package eventlog
