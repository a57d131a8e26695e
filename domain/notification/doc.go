// Package notification is the Notification aggregate: its rules, its four events and the one
// transition function that folds them into state.
//
// It imports only the standard library; everything else depends on it, never the reverse.
package notification
