// Package compat holds the compatibility tests of stored events: a log written by an older
// version of the service, committed under testdata, must replay with this code to the inbox
// that version built (issue #13: events that evolve).
//
// testdata/v1 is a log written by the code before event schemas could evolve: the embedded
// event log file (events.db), the same events as the EventStoreDB double held them
// (esdb-export.jsonl), and the canonical form and hash of the inbox that code built from them
// (inbox.txt, inbox.sha256, for the recipients in recipients.txt). Its README says which commit
// wrote it and how. Those files are the old format: they are never regenerated.
//
// TestFixtureV1_ReplaysToTheSameInbox projects the fixture with this code, on the embedded log
// and through the EventStoreDB adapter (and into PostgreSQL when PG_URL is set), and compares
// the hashes. TestGenerateFixture, which wrote the fixture, runs only when asked to
// (-args -generate=DIR) and refuses to write into a directory that is not empty.
//
// It has no code of its own; see the _test files.
package compat
