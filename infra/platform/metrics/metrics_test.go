package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/platform/metrics"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func at(p eventstore.Position) metrics.PositionFunc {
	return func(context.Context) (eventstore.Position, error) { return p, nil }
}

func TestWatchLog_LagIsHeadMinusPosition(t *testing.T) {
	t.Parallel()
	r := metrics.New(quiet())
	r.WatchLog(at(10), map[string]metrics.PositionFunc{"inbox": at(7), "other": at(10)}, time.Second)
	want := `
# HELP notify_projection_lag How far the projection is behind the log head, in log positions (head minus position).
# TYPE notify_projection_lag gauge
notify_projection_lag{projection="inbox"} 3
notify_projection_lag{projection="other"} 0
# HELP notify_log_head_position Position of the last event in the global log (filtered to notification streams on EventStoreDB).
# TYPE notify_log_head_position gauge
notify_log_head_position 10
`
	if err := testutil.GatherAndCompare(r.Gatherer(), strings.NewReader(want), "notify_projection_lag", "notify_log_head_position"); err != nil {
		t.Fatal(err)
	}
}

func TestWatchParked_CountsTheParkedEvents(t *testing.T) {
	t.Parallel()
	r := metrics.New(quiet())
	n := 0
	r.WatchParked("inbox", func() int { return n })
	for _, parked := range []int{0, 2} {
		n = parked
		want := fmt.Sprintf(`
# HELP notify_projection_parked_events Events the projection left out because they are corrupt or do not decode (listed in GET /v1/projections).
# TYPE notify_projection_parked_events gauge
notify_projection_parked_events{projection="inbox"} %d
`, parked)
		if err := testutil.GatherAndCompare(r.Gatherer(), strings.NewReader(want), "notify_projection_parked_events"); err != nil {
			t.Fatal(err)
		}
	}
}

// A store that does not answer cannot stall a scrape: the reads give up at the timeout, the
// scrape leaves those gauges out and serves the rest.
func TestWatchLog_SlowStoreIsBoundedByTheTimeout(t *testing.T) {
	t.Parallel()
	r := metrics.New(quiet())
	stuck := func(ctx context.Context) (eventstore.Position, error) { <-ctx.Done(); return 0, ctx.Err() }
	r.WatchLog(stuck, map[string]metrics.PositionFunc{"inbox": at(4)}, 50*time.Millisecond)
	start := time.Now()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the scrape took %v with a stuck store", took)
	}
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `notify_projection_position{projection="inbox"} 4`) || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("scrape = %d, want 200 with the position and the Go metrics:\n%s", rec.Code, body)
	}
	if strings.Contains(body, "notify_log_head_position ") || strings.Contains(body, "notify_projection_lag{") {
		t.Fatalf("head and lag must be left out when the head did not come in time:\n%s", body)
	}
}

type fakeHandler struct {
	res command.Result
	err error
}

func (h fakeHandler) Handle(context.Context, command.ReadNotification) (command.Result, error) {
	return h.res, h.err
}

func TestCommand_CountsEachOutcome(t *testing.T) {
	t.Parallel()
	r := metrics.New(quiet())
	for _, h := range []fakeHandler{
		{res: command.Result{Changed: true}},
		{res: command.Result{Changed: false}},
		{err: &notification.ValidationError{Field: "id", Rule: "must be a UUID"}},
		{err: fmt.Errorf("%w: gone", notification.ErrNotFound)},
		{err: fmt.Errorf("%w: canceled", notification.ErrConflict)},
		{err: context.DeadlineExceeded},
	} {
		command.Observed(r, "read", command.Handler[command.ReadNotification, command.Result](h)).Handle(context.Background(), command.ReadNotification{})
	}
	want := "# HELP notify_commands_total Commands handled (from HTTP and Kafka), by command and outcome: ok, unchanged (an idempotent no-op), invalid, not_found, conflict, error.\n# TYPE notify_commands_total counter\n"
	for _, o := range []string{"conflict", "error", "invalid", "not_found", "ok", "unchanged"} {
		want += fmt.Sprintf("notify_commands_total{command=\"read\",outcome=%q} 1\n", o)
	}
	if err := testutil.GatherAndCompare(r.Gatherer(), strings.NewReader(want), "notify_commands_total"); err != nil {
		t.Fatal(err)
	}
}

type fakeStore struct{ err error }

func (s fakeStore) ReadStream(context.Context, string, uint64, int) ([]eventstore.RecordedEvent, error) {
	return nil, nil
}

func (s fakeStore) Append(context.Context, string, eventstore.ExpectedRevision, ...eventstore.EventData) (eventstore.AppendResult, error) {
	return eventstore.AppendResult{}, s.err
}

func TestEventStore_CountsAppendsByOutcome(t *testing.T) {
	t.Parallel()
	r := metrics.New(quiet())
	ctx := context.Background()
	two := []eventstore.EventData{{Type: "a"}, {Type: "b"}}
	r.EventStore(fakeStore{}).Append(ctx, "s", eventstore.Any, two...)
	r.EventStore(fakeStore{err: &eventstore.WrongExpectedRevisionError{Stream: "s"}}).Append(ctx, "s", eventstore.NoStream, two...)
	r.EventStore(fakeStore{err: errors.New("disk full")}).Append(ctx, "s", eventstore.Any, two...)
	want := `
# HELP notify_eventstore_appends_total Appends to the event store by the command handlers, by outcome: ok, wrong_expected_revision (a concurrent writer; the handler retries), error.
# TYPE notify_eventstore_appends_total counter
notify_eventstore_appends_total{outcome="error"} 1
notify_eventstore_appends_total{outcome="ok"} 1
notify_eventstore_appends_total{outcome="wrong_expected_revision"} 1
# HELP notify_eventstore_appended_events_total Events in successful appends (an idempotent re-append counts again).
# TYPE notify_eventstore_appended_events_total counter
notify_eventstore_appended_events_total 2
`
	if err := testutil.GatherAndCompare(r.Gatherer(), strings.NewReader(want), "notify_eventstore_appends_total", "notify_eventstore_appended_events_total"); err != nil {
		t.Fatal(err)
	}
}
