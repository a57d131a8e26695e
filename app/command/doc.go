// Package command holds one handler per command (send, read, unread, cancel). Each loads the
// notification from its stream, lets the aggregate decide, and appends the events with the
// expected revision and deterministic ids, retrying a bounded number of times on conflict.
//
// It imports the domain and the event-store port; it declares the store interface it needs.
package command
