package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventnotify/notify/app"
	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/query"
	"github.com/eventnotify/notify/infra/platform/metrics"
	"github.com/eventnotify/notify/infra/readmodel/inboxdb"
	"github.com/eventnotify/notify/infra/store/eventlog"
	"github.com/eventnotify/notify/infra/transport/httpapi"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

// BenchmarkCount_Metrics is the cost of the metrics middleware on the hottest read route,
// served in-process (no network) so the difference is the middleware's.
func BenchmarkCount_Metrics(b *testing.B) {
	dir := b.TempDir()
	log, err := eventlog.Open(filepath.Join(dir, "events.db"), eventlog.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	rm, err := inboxdb.Open(filepath.Join(dir, "inbox.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer rm.Close()
	ctx, cancel := context.WithCancel(context.Background())
	runner := projections.NewRunner(log, rm, inbox.Projection(), nil)
	done := make(chan struct{})
	go func() { runner.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	res, err := command.NewSendNotificationHandler(log, nil).Handle(ctx, command.SendNotification{RecipientID: "bench", Content: "hello there", Category: "c"})
	if err != nil {
		b.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if err := runner.WaitFor(wctx, res.Position); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		m    httpapi.Metrics
	}{{"without", nil}, {"with", metrics.New(nil)}} {
		e := httpapi.New(app.Application{Queries: app.Queries{Inbox: query.NewInbox(rm)}}, httpapi.Options{Metrics: bc.m})
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/notifications/count/from/bench", nil)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				e.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
