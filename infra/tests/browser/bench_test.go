package browser_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// waitItemJS resolves when the component shows the notification id (at once if it does).
const waitItemJS = `new Promise((resolve) => {
  const root = document.querySelector('notify-inbox').shadowRoot;
  const has = () => root.querySelector('[part=item][data-id=%q]');
  if (has()) return resolve(true);
  const mo = new MutationObserver(() => { if (has()) { mo.disconnect(); resolve(true); } });
  mo.observe(root, { subtree: true, childList: true });
})`

// BenchmarkSendToPanel measures what a person sees: from a service's POST /v1/notifications
// to the notification in the component's list, in headless Chromium on a page of another
// origin (the command, the append, the projection, the stream, the browser's parsing and the
// component's rendering; plus one DevTools round trip to learn it). Each iteration is one
// notification; p50, p99 and max go in the report. The page's first load (navigation to
// the first page of a 20-notification inbox shown, live) is reported as load-ms.
//
//	NOTIFY_BROWSER_TESTS=required go test -run '^$' -bench SendToPanel -benchtime 300x ./infra/tests/browser/
func BenchmarkSendToPanel(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	st := newStack(ctx, b, "--rate-limit", "0")
	for i := range 20 {
		st.send(ctx, b, note{Recipient: "alice", Title: fmt.Sprintf("Earlier %d", i), Content: "an earlier notification"})
	}
	tab, _ := newTab(newBrowser(ctx, b), b)
	began := time.Now()
	navigate(tab, b, st.pageURL("alice", "alice"))
	waitFor(tab, b, 30*time.Second, "live with the first page", func(v inboxView) bool { return v.State == "live" && len(v.Items) == 20 })
	load := time.Since(began)

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		id := st.send(ctx, b, note{Recipient: "alice", Title: "Live", Content: fmt.Sprintf("live notification %d", i)})
		shown, err := chromedp.Run(tab, chromedp.Evaluate[bool](fmt.Sprintf(waitItemJS, id), chromedp.EvalAwaitPromise))
		if err != nil || !shown {
			b.Fatalf("notification %s not shown: %v", id, err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(ms(load), "load-ms")
}
