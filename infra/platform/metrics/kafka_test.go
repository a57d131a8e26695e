package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eventnotify/notify/infra/platform/metrics"
	"github.com/eventnotify/notify/infra/transport/kafkasub"
)

// Each consumed partition is reported with its lag, what it has in flight and for how long.
func TestWatchConsumer_ReportsEachPartition(t *testing.T) {
	t.Parallel()
	r := metrics.New(quiet())
	hourAgo := time.Now().Add(-time.Hour)
	r.WatchConsumer(func() []kafkasub.PartitionStats {
		return []kafkasub.PartitionStats{
			{Topic: "cmds", Partition: 0, Watermark: 40, Committed: 40, HighWatermark: 45, Lag: 5, InFlight: 3, Backlog: 2, Oldest: hourAgo, Advanced: hourAgo},
			{Topic: "cmds", Partition: 1, Watermark: -1, Committed: -1, HighWatermark: -1, Advanced: time.Now()},
		}
	})
	want := `
# HELP notify_kafka_consumer_lag Records of the partition beyond its watermark (the first offset not handled), as of the latest fetch.
# TYPE notify_kafka_consumer_lag gauge
notify_kafka_consumer_lag{partition="0",topic="cmds"} 5
notify_kafka_consumer_lag{partition="1",topic="cmds"} 0
# HELP notify_kafka_consumer_in_flight Records of the partition taken beyond its watermark: being handled, waiting for their key, or handled but not yet contiguous.
# TYPE notify_kafka_consumer_in_flight gauge
notify_kafka_consumer_in_flight{partition="0",topic="cmds"} 3
notify_kafka_consumer_in_flight{partition="1",topic="cmds"} 0
# HELP notify_kafka_consumer_committed_offset The last offset of the partition the broker acknowledged as committed (-1: none yet).
# TYPE notify_kafka_consumer_committed_offset gauge
notify_kafka_consumer_committed_offset{partition="0",topic="cmds"} 40
notify_kafka_consumer_committed_offset{partition="1",topic="cmds"} -1
`
	if err := testutil.GatherAndCompare(r.Gatherer(), strings.NewReader(want),
		"notify_kafka_consumer_lag", "notify_kafka_consumer_in_flight", "notify_kafka_consumer_committed_offset"); err != nil {
		t.Fatal(err)
	}
	mfs, err := r.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	ages := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "partition" && l.GetValue() == "0" {
					ages[mf.GetName()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	for _, name := range []string{"notify_kafka_consumer_oldest_in_flight_seconds", "notify_kafka_consumer_watermark_age_seconds"} {
		if ages[name] < 3599 || ages[name] > 3700 {
			t.Fatalf("%s = %v, want about an hour", name, ages[name])
		}
	}
}
