package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventnotify/notify/infra/transport/kafkasub"
)

// WatchConsumer reports, on every scrape, each command partition this instance consumes: its
// lag, what it has in flight, how old the oldest of that is, and how long since its
// watermark moved (a partition with lag whose watermark does not move is stalled).
func (r *Registry) WatchConsumer(stats func() []kafkasub.PartitionStats) {
	if r == nil || stats == nil {
		return
	}
	labels := []string{"topic", "partition"}
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(Namespace+"_kafka_consumer_"+name, help, labels, nil)
	}
	r.reg.MustRegister(&consumerCollector{
		stats: stats, now: time.Now,
		lag:       desc("lag", "Records of the partition beyond its watermark (the first offset not handled), as of the latest fetch."),
		inFlight:  desc("in_flight", "Records of the partition taken beyond its watermark: being handled, waiting for their key, or handled but not yet contiguous."),
		backlog:   desc("backlog", "Records of the partition fetched while its window was full."),
		oldest:    desc("oldest_in_flight_seconds", "Age of the record at the partition's watermark (0 when none is in flight)."),
		since:     desc("watermark_age_seconds", "Time since the partition's watermark last moved (or it was assigned)."),
		committed: desc("committed_offset", "The last offset of the partition the broker acknowledged as committed (-1: none yet)."),
	})
}

type consumerCollector struct {
	stats                                            func() []kafkasub.PartitionStats
	now                                              func() time.Time
	lag, inFlight, backlog, oldest, since, committed *prometheus.Desc
}

func (c *consumerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.lag, c.inFlight, c.backlog, c.oldest, c.since, c.committed} {
		ch <- d
	}
}

func (c *consumerCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	for _, p := range c.stats() {
		part := strconv.FormatInt(int64(p.Partition), 10)
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, p.Topic, part)
		}
		oldest := 0.0
		if !p.Oldest.IsZero() {
			oldest = now.Sub(p.Oldest).Seconds()
		}
		gauge(c.lag, float64(p.Lag))
		gauge(c.inFlight, float64(p.InFlight))
		gauge(c.backlog, float64(p.Backlog))
		gauge(c.oldest, oldest)
		gauge(c.since, now.Sub(p.Advanced).Seconds())
		gauge(c.committed, float64(p.Committed))
	}
}
