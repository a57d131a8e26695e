// Package equivalence holds the replay-equivalence test: a mixed workload of commands through
// the real command handlers into the real event log, projected live into each read model
// (embedded, and PostgreSQL when PG_URL is set); then a full replay into a fresh copy while
// readers query without pause, and a canonical hash of the read model before and after.
//
// It has no code of its own; see equivalence_test.go.
package equivalence
