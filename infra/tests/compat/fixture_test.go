package compat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/infra/readmodel/inboxdb"
	"github.com/eventnotify/notify/infra/store/eventlog"
	"github.com/eventnotify/notify/infra/tests/inboxhash"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

// The files of a fixture directory.
const (
	fileLog        = "events.db"         // the embedded event log (infra/store/eventlog)
	fileExport     = "esdb-export.jsonl" // the events as the EventStoreDB double held them
	fileCanonical  = "inbox.txt"         // the inbox's canonical form (inboxhash.Write of the day; WriteV1 for v1)
	fileHash       = "inbox.sha256"      // its SHA-256, as sha256sum writes it
	fileRecipients = "recipients.txt"    // the recipients hashed, one a line
)

// contentTypeJSON is the content type EventStoreDB keeps for the events the adapter appends:
// their data is JSON.
const contentTypeJSON = "application/json"

// exported is one line of esdb-export.jsonl: an event of a stream as EventStoreDB holds it.
// Data and Metadata are the stored bytes, verbatim (both are JSON: the content type says so).
// Lines are in the order of the log ($all); an import appends each event on its own, with its
// id, expecting the revision before it, and so rebuilds the same streams in the same order.
type exported struct {
	Stream      string          `json:"stream"`
	Revision    uint64          `json:"revision"`
	EventID     uuid.UUID       `json:"eventId"`
	Type        string          `json:"type"`
	ContentType string          `json:"contentType"`
	Data        json.RawMessage `json:"data"`
	Metadata    json.RawMessage `json:"metadata"`
}

// line encodes e as one JSON line, Data and Metadata byte for byte as stored (encoding/json
// would compact them and escape <, > and &).
func (e exported) line() ([]byte, error) {
	if !json.Valid(e.Data) || !json.Valid(e.Metadata) {
		return nil, fmt.Errorf("%s@%d: data or metadata is not JSON", e.Stream, e.Revision)
	}
	str := func(s string) []byte { b, _ := json.Marshal(s); return b }
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"stream":%s,"revision":%d,"eventId":%s,"type":%s,"contentType":%s,"data":`,
		str(e.Stream), e.Revision, str(e.EventID.String()), str(e.Type), str(e.ContentType))
	b.Write(e.Data)
	b.WriteString(`,"metadata":`)
	b.Write(e.Metadata)
	b.WriteString("}\n")
	var back exported
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || !bytes.Equal(back.Data, e.Data) || !bytes.Equal(back.Metadata, e.Metadata) {
		return nil, fmt.Errorf("%s@%d: the line does not read back as written (%v)", e.Stream, e.Revision, err)
	}
	return b.Bytes(), nil
}

// exportDouble reads every event of an EventStoreDB node's $all, oldest first, system events
// left out, through the official client (the adapter's RecordedEvent has no content type).
func exportDouble(ctx context.Context, url string) ([]exported, error) {
	cfg, err := esdbclient.ParseConnectionString(url)
	if err != nil {
		return nil, err
	}
	cfg.Logger = func(esdbclient.LogLevel, string, ...any) {}
	client, err := esdbclient.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	rs, err := client.ReadAll(ctx, esdbclient.ReadAllOptions{Direction: esdbclient.Forwards, From: esdbclient.Start{}}, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []exported
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		e := ev.OriginalEvent()
		if len(e.StreamID) > 0 && e.StreamID[0] == '$' || len(e.EventType) > 0 && e.EventType[0] == '$' {
			continue
		}
		out = append(out, exported{Stream: e.StreamID, Revision: e.EventNumber, EventID: e.EventID, Type: e.EventType, ContentType: e.ContentType, Data: e.Data, Metadata: e.UserMetadata})
	}
}

// sameEvents reports the first difference between the exported events and a log's, in order:
// stream, revision, id, type, data and metadata (bytes). Positions and creation times are the
// store's own.
func sameEvents(want []exported, got []eventstore.RecordedEvent) error {
	for i := range min(len(want), len(got)) {
		w, g := want[i], got[i]
		if w.Stream != g.Stream || w.Revision != g.Revision || w.EventID != g.ID || w.Type != g.Type ||
			!bytes.Equal(w.Data, g.Data) || !bytes.Equal(w.Metadata, g.Metadata) {
			return fmt.Errorf("event %d differs:\n want %s@%d %s %s %s %s\n  got %s@%d %s %s %s %s", i+1,
				w.Stream, w.Revision, w.EventID, w.Type, w.Data, w.Metadata, g.Stream, g.Revision, g.ID, g.Type, g.Data, g.Metadata)
		}
	}
	if len(want) != len(got) {
		return fmt.Errorf("%d events, want %d", len(got), len(want))
	}
	return nil
}

// exportOf is what the export of these events says, with their content type.
func exportOf(events []eventstore.RecordedEvent) []exported {
	out := make([]exported, len(events))
	for i, e := range events {
		out[i] = exported{Stream: e.Stream, Revision: e.Revision, EventID: e.ID, Type: e.Type, ContentType: contentTypeJSON, Data: e.Data, Metadata: e.Metadata}
	}
	return out
}

// errRead ends a subscription that has read what it wanted.
var errRead = errors.New("read up to the head")

// readLog returns every event of the log up to head, oldest first.
func readLog(ctx context.Context, log projections.Log, head eventstore.Position) ([]eventstore.RecordedEvent, error) {
	var out []eventstore.RecordedEvent
	if head == 0 {
		return nil, nil
	}
	err := log.Subscribe(ctx, 0, eventstore.Filter{}, func(_ context.Context, b eventstore.Batch) error {
		if len(b.Corrupt) > 0 {
			return fmt.Errorf("corrupt records: %v", b.Corrupt)
		}
		out = append(out, b.Events...)
		if b.Position >= head {
			return errRead
		}
		return nil
	})
	if !errors.Is(err, errRead) {
		return nil, fmt.Errorf("read the log: %w", err)
	}
	return out, nil
}

// projector runs the inbox projection from a log into a read model until stop or the end of
// the test.
type projector struct {
	runner  *projections.Runner[inbox.Tx]
	parking *projections.Parking
	stop    func()
}

func project(t testing.TB, log projections.Log, store projections.Store[inbox.Tx]) *projector {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &projector{parking: projections.NewParking()}
	p.runner = projections.NewRunner(log, store, inbox.Projection(), quiet()).ParkInto(p.parking)
	done := make(chan struct{})
	go func() { _ = p.runner.Run(ctx); close(done) }()
	p.stop = func() { cancel(); <-done }
	t.Cleanup(p.stop)
	return p
}

// openInbox opens a fresh embedded read model in the test's temporary directory.
func openInbox(t testing.TB) *inboxdb.Store {
	t.Helper()
	rm, err := inboxdb.Open(filepath.Join(t.TempDir(), "inbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rm.Close() })
	return rm
}

// openLogCopy opens a copy of an event log file (opening writes to it) in the test's
// temporary directory, and checks that it opens whole: no corrupt record, no fallback to the
// older meta page.
func openLogCopy(t testing.TB, path string) *eventlog.Store {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), fileLog)
	if err := os.WriteFile(cp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := eventlog.Open(cp, eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	if h := log.Health(); h.Fallback || len(h.Corrupt) > 0 {
		t.Fatalf("%s opens damaged: %+v", path, h)
	}
	return log
}

// caughtUp waits (up to a minute) until the read model reflects head, and fails if the
// projection parked an event on the way.
func (p *projector) caughtUp(ctx context.Context, head eventstore.Position) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := p.runner.WaitFor(ctx, head); err != nil {
		return err
	}
	if n := p.parking.Count(); n > 0 {
		return fmt.Errorf("the projection parked %d events: %+v", n, p.parking.List())
	}
	return nil
}

// quiet is the logger of the projections and the adapter: errors only, to stderr.
func quiet() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// canonicalForm is the inbox's canonical form, as write (inboxhash.Write, the form of the day,
// or inboxhash.WriteV1, that of testdata/v1) writes it.
func canonicalForm(ctx context.Context, rm inboxhash.Reader, recipients []string, write func(context.Context, io.Writer, inboxhash.Reader, []string) (map[string]inbox.Counts, error)) ([]byte, error) {
	var b bytes.Buffer
	if _, err := write(ctx, &b, rm, recipients); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// firstDifference describes where two canonical forms part, line by line.
func firstDifference(want, got []byte) string {
	wl, gl := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	for i := range min(len(wl), len(gl)) {
		if !bytes.Equal(wl[i], gl[i]) {
			return "line " + strconv.Itoa(i+1) + ":\n want " + string(wl[i]) + "\n  got " + string(gl[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(gl), len(wl))
}
