package compat_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/infra/store/esdb"
	"github.com/eventnotify/notify/infra/store/esdb/esdbtest"
	"github.com/eventnotify/notify/infra/store/eventlog"
	"github.com/eventnotify/notify/infra/tests/inboxhash"
	"github.com/eventnotify/notify/projections/inbox"
)

var generate = flag.String("generate", "", "write a fixture (the v1 workload's log, its export and its inbox hash) into this directory, which must be empty or absent; TestGenerateFixture runs only with it")

// maxFixtureLog is the size above which the generator compacts the event log file.
const maxFixtureLog = 200 << 10

// TestGenerateFixture wrote testdata/v1 (see doc.go). It runs only on demand:
//
//	go test ./infra/tests/compat -run TestGenerateFixture -count=1 -args -generate=DIR
//
// (DIR relative to this package's directory). It runs the v1 workload twice on the embedded
// log and once on the EventStoreDB double through the adapter, and checks that all three
// wrote the same events and built the same inbox; then it writes the first run's log file
// (compacted with bbolt's Compact if it is larger than 200 KiB: the same keys and values, in
// fewer pages), the double's events, the inbox's canonical form and hash, and a README.
func TestGenerateFixture(t *testing.T) {
	if *generate == "" {
		t.Skip("runs on demand only: -args -generate=DIR (testdata/v1 is the old format and is never regenerated)")
	}
	out := *generate
	if entries, err := os.ReadDir(out); err == nil && len(entries) > 0 {
		t.Fatalf("%s is not empty: a fixture is written once, by the code it records, and never regenerated (later code writes a later format); write a new fixture into a new directory", out)
	}
	commit := cleanCommit(t, out)
	ctx := context.Background()
	recipients := fixtureRecipients

	// Two runs on the embedded log: the workload must be reproducible.
	first := runEmbedded(t, ctx, recipients)
	second := runEmbedded(t, ctx, recipients)
	if err := sameEvents(exportOf(first.events), second.events); err != nil {
		t.Fatalf("a second run of the workload wrote other events: %v", err)
	}
	if !bytes.Equal(first.canonical, second.canonical) {
		t.Fatalf("a second run of the workload built another inbox: %s", firstDifference(first.canonical, second.canonical))
	}
	for i := range first.events {
		if first.events[i].Position != second.events[i].Position {
			t.Fatalf("event %d is at position %d in one run, %d in the other", i+1, first.events[i].Position, second.events[i].Position)
		}
	}

	// A run on the EventStoreDB double, through the adapter, as the service runs on
	// EventStoreDB: the same events, the same inbox. Its $all is the export.
	srv := esdbtest.Run(t)
	es, err := esdb.Open(srv.URL(), esdb.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { es.Close() })
	esRM := openInbox(t)
	esProj := project(t, es, esRM)
	w, err := runWorkload(ctx, es, esRM, esProj.caughtUp)
	if err != nil {
		t.Fatalf("the workload on EventStoreDB: %v", err)
	}
	head, err := es.Head(ctx, inbox.Projection().Filter)
	if err != nil {
		t.Fatal(err)
	}
	if err := esProj.caughtUp(ctx, head); err != nil {
		t.Fatal(err)
	}
	esCanonical, err := canonicalForm(ctx, esRM, recipients, inboxhash.Write)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.canonical, esCanonical) {
		t.Fatalf("the workload on EventStoreDB built another inbox: %s", firstDifference(first.canonical, esCanonical))
	}
	export, err := exportDouble(ctx, srv.URL())
	if err != nil {
		t.Fatalf("export the double: %v", err)
	}
	if err := sameEvents(export, first.events); err != nil {
		t.Fatalf("the workload wrote other events on EventStoreDB than on the embedded log: %v", err)
	}
	if !maps.Equal(w.Outcomes, first.workload.Outcomes) {
		t.Fatalf("outcomes on EventStoreDB %v, on the embedded log %v", w.Outcomes, first.workload.Outcomes)
	}

	// Write the fixture.
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(out, fileLog)
	compacted, err := copyLog(first.logPath, logFile)
	if err != nil {
		t.Fatal(err)
	}
	// The file written must read back, with this code, as the events of the run.
	reread := openLogCopy(t, logFile)
	got, err := readLog(ctx, reread, reread.Head())
	if err != nil {
		t.Fatal(err)
	}
	if err := sameEvents(exportOf(first.events), got); err != nil {
		t.Fatalf("%s does not read back as the run's log: %v", logFile, err)
	}
	var lines bytes.Buffer
	for _, e := range export {
		l, err := e.line()
		if err != nil {
			t.Fatal(err)
		}
		lines.Write(l)
	}
	sum := sha256.Sum256(first.canonical)
	hash := hex.EncodeToString(sum[:])
	files := map[string][]byte{
		fileExport:     lines.Bytes(),
		fileCanonical:  first.canonical,
		fileHash:       []byte(hash + "  " + fileCanonical + "\n"),
		fileRecipients: []byte(strings.Join(recipients, "\n") + "\n"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	readme := fixtureReadme(first, commit, export, hash, compacted)
	if err := os.WriteFile(filepath.Join(out, "README.md"), readme, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d commands, %d events, inbox %s", out, first.workload.Commands, len(export), hash)
}

// run is one run of the workload on the embedded log.
type run struct {
	logPath   string
	events    []eventstore.RecordedEvent
	canonical []byte
	workload  *workload
}

func runEmbedded(t *testing.T, ctx context.Context, recipients []string) run {
	t.Helper()
	path := filepath.Join(t.TempDir(), fileLog)
	log, err := eventlog.Open(path, eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	rm := openInbox(t)
	p := project(t, log, rm)
	w, err := runWorkload(ctx, log, rm, p.caughtUp)
	if err != nil {
		t.Fatalf("the workload on the embedded log: %v", err)
	}
	if err := p.caughtUp(ctx, log.Head()); err != nil {
		t.Fatal(err)
	}
	canonical, err := canonicalForm(ctx, rm, recipients, inboxhash.Write)
	if err != nil {
		t.Fatal(err)
	}
	events, err := readLog(ctx, log, log.Head())
	if err != nil {
		t.Fatal(err)
	}
	p.stop()
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	return run{logPath: path, events: events, canonical: canonical, workload: w}
}

// copyLog copies the closed event log file src to dst, compacted (bbolt's Compact: the same
// buckets, keys and values, written afresh) when it is larger than maxFixtureLog. It reports
// whether it compacted.
func copyLog(src, dst string) (bool, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return false, err
	}
	if len(b) <= maxFixtureLog {
		return false, os.WriteFile(dst, b, 0o644)
	}
	from, err := bolt.Open(src, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		return false, err
	}
	defer from.Close()
	to, err := bolt.Open(dst, 0o644, nil)
	if err != nil {
		return false, err
	}
	if err := bolt.Compact(to, from, 0); err != nil {
		to.Close()
		return false, fmt.Errorf("compact %s: %w", src, err)
	}
	return true, to.Close()
}

// cleanCommit returns the commit checked out, and fails if the work tree differs from it
// anywhere but in out (untracked files included): the README names the commit that wrote
// the fixture.
func cleanCommit(t *testing.T, out string) string {
	t.Helper()
	git := func(args ...string) string {
		out, err := exec.Command("git", args...).Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	commit := git("rev-parse", "HEAD")
	top := git("rev-parse", "--show-toplevel")
	absOut, err := filepath.Abs(out)
	if err != nil {
		t.Fatal(err)
	}
	var dirty []string
	for _, l := range strings.Split(git("status", "--porcelain", "--untracked-files=all"), "\n") {
		if len(l) < 4 {
			continue
		}
		if rel, err := filepath.Rel(absOut, filepath.Join(top, l[3:])); err == nil && !strings.HasPrefix(rel, "..") {
			continue
		}
		dirty = append(dirty, l)
	}
	if len(dirty) > 0 {
		t.Fatalf("the work tree differs from commit %s: commit first, so that the README names the commit that wrote the fixture:\n%s", commit, strings.Join(dirty, "\n"))
	}
	return commit
}

// fixtureReadme says what the fixture is, which commit wrote it and how, and what it holds.
func fixtureReadme(r run, commit string, export []exported, hash string, compacted bool) []byte {
	types := map[string]int{}
	streams := map[string]bool{}
	for _, e := range export {
		types[e.Type]++
		streams[e.Stream] = true
	}
	var outcomes, events strings.Builder
	for _, k := range slices.Sorted(maps.Keys(r.workload.Outcomes)) {
		fmt.Fprintf(&outcomes, "- %s: %d\n", k, r.workload.Outcomes[k])
	}
	for _, k := range slices.Sorted(maps.Keys(types)) {
		fmt.Fprintf(&events, "- %s: %d\n", k, types[k])
	}
	logFile := "as the first embedded run wrote it (closed cleanly)"
	if compacted {
		logFile = "the first embedded run's file compacted with bbolt's `Compact` (the same buckets, keys\n  and values, in fewer pages)"
	}
	return fmt.Appendf(nil, readmeTemplate, commit, time.Now().UTC().Format("2006-01-02"), r.workload.Commands,
		outcomes.String(), logFile, hash, len(export), len(streams), events.String())
}

const readmeTemplate = `# Fixture v1: a log written before event schemas could evolve

Written by commit %s (` + "`git rev-parse HEAD`" + `, clean work tree) on %s, with

    go test ./infra/tests/compat -run TestGenerateFixture -count=1 -args -generate=testdata/v1

**These files are the old format: never regenerate them, nor edit them.** Later code writes a
later format, and the point of this directory is that the code of that commit wrote it. The
generator refuses to write into a directory that is not empty; a new format gets a new fixture
directory. TestFixtureV1_ReplaysToTheSameInbox replays them with the code of the day.

## How

The workload (` + "`workload_test.go`" + `) ran %d commands through that commit's command handlers
(` + "`app/command`" + `, as ` + "`app.New`" + ` builds them without recorder and tracer, but with a fixed clock
starting 2025-12-31T23:30:00Z), one at a time, with fixed command ids; read-alls listed from an
embedded read model the inbox projection kept up to date. The generator ran it twice on the
embedded log and once on the EventStoreDB double (` + "`infra/store/esdb/esdbtest`" + `) through the
adapter (` + "`infra/store/esdb`" + `), and checked that the three runs wrote the same events (streams,
revisions, ids, types, data and metadata byte for byte; the two embedded runs at the same
positions too) and built the same inbox.

Outcomes of the commands (kind and outcome, as ` + "`command.Outcome`" + ` classifies them):

%s
## Files

- ` + "`events.db`" + `: the embedded event log (` + "`infra/store/eventlog`" + `), %s.
  Its records' creation times are the wall clock's when it was written, and its log identity is
  random: the inbox uses neither. Open a copy: opening the file writes to it.
- ` + "`esdb-export.jsonl`" + `: the same events as the EventStoreDB double held them, read from its
  ` + "`$all`" + ` with the official client, system events left out, in log order: one JSON object a line
  with ` + "`stream`, `revision`, `eventId`, `type`, `contentType`" + `, and ` + "`data`" + ` and ` + "`metadata`" + ` as the
  stored JSON, byte for byte. To import it, append each line on its own through the adapter with
  its id, expecting no stream at revision 0 and the previous revision after (` + "`importExport`" + `).
  The double's positions and creation times are not kept: an import gets its own.
- ` + "`inbox.txt`" + `: the canonical form of the inbox that commit built from the log
  (` + "`infra/tests/inboxhash`" + `): per recipient, in sorted order, a line ` + "`recipient total unread\n  canceled`" + `, then every document of the inbox, newest first, as the read model serves it.
- ` + "`inbox.sha256`" + `: its SHA-256, the inbox's canonical hash (` + "`sha256sum -c inbox.sha256`" + ` checks it):
  ` + "`%s`" + `.
- ` + "`recipients.txt`" + `: the recipients hashed, one a line.

## What the log holds

%d events in %d streams:

%s`
