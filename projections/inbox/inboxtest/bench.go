package inboxtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/eventnotify/notify/projections/inbox"
)

// BenchQueries measures, as sub-benchmarks, the latency of a 20-item inbox page, of a page of
// unread ones and of a count, for a random recipient among r-0…r-(recipients-1) (Workload's),
// reporting p50 and p99 in µs. Every recipient must have a full page.
func BenchQueries(b *testing.B, s Store, recipients int) {
	for _, q := range []struct {
		name string
		run  func(ctx context.Context, r string) error
	}{
		{"page20", func(ctx context.Context, r string) error {
			page, err := s.Page(ctx, inbox.PageQuery{Recipient: r, Limit: 20})
			if err == nil && len(page.Items) < 20 {
				err = fmt.Errorf("recipient %s has %d notifications, want a full page", r, len(page.Items))
			}
			return err
		}},
		{"page20-unread", func(ctx context.Context, r string) error {
			_, err := s.Page(ctx, inbox.PageQuery{Recipient: r, Status: inbox.StatusSent, Limit: 20})
			return err
		}},
		{"count", func(ctx context.Context, r string) error { _, err := s.Count(ctx, r); return err }},
	} {
		b.Run(q.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(3, 4))
			lat := make([]time.Duration, 0, b.N)
			ctx := context.Background()
			b.ResetTimer()
			for range b.N {
				r := "r-" + strconv.Itoa(rng.IntN(recipients))
				t := time.Now()
				if err := q.run(ctx, r); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1000, "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1000, "p99-µs")
		})
	}
}
