// Package notification is the Notification aggregate: its rules, its events (and how older versions of them are read: upcast.go) and the one
// transition function that folds them into state.
//
// It imports only the standard library; everything else depends on it, never the reverse.
package notification
