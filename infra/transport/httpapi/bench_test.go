package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/infra/platform/metrics"
	"github.com/eventnotify/notify/infra/service/servicetest"
	"github.com/eventnotify/notify/infra/transport/httpapi"
)

// BenchmarkCount_Metrics is the cost of the metrics middleware on the hottest read route,
// served in-process (no network) so the difference is the middleware's.
func BenchmarkCount_Metrics(b *testing.B) {
	c := servicetest.NewComponentTestApplication(b, servicetest.Options{})
	ctx := context.Background()
	res, err := c.App.Commands.Send.Handle(ctx, command.SendNotification{RecipientID: "bench", Content: "hello there", Category: "c"})
	if err != nil {
		b.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if err := c.Runner.WaitFor(wctx, res.Position); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		m    httpapi.Metrics
	}{{"without", nil}, {"with", metrics.New(nil)}} {
		e := httpapi.New(c.App, httpapi.Options{Metrics: bc.m})
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
