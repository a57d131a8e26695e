package metrics

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventnotify/notify/app/eventstore"
)

// PositionFunc reads a log position: the log's head, or how far a projection has come.
type PositionFunc func(context.Context) (eventstore.Position, error)

// WatchLog reports, on every scrape, the log head and each projection's position and lag
// behind it. The reads share one deadline of timeout, so a slow store cannot stall a scrape;
// what did not come in time is left out of that scrape and logged.
func (r *Registry) WatchLog(head PositionFunc, projections map[string]PositionFunc, timeout time.Duration) {
	if r == nil {
		return
	}
	names := make([]string, 0, len(projections))
	for n := range projections {
		names = append(names, n)
	}
	sort.Strings(names)
	r.reg.MustRegister(&logCollector{
		head: head, projections: projections, names: names, timeout: timeout,
		headDesc: prometheus.NewDesc(Namespace+"_log_head_position",
			"Position of the last event in the global log (filtered to notification streams on EventStoreDB).", nil, nil),
		posDesc: prometheus.NewDesc(Namespace+"_projection_position",
			"Log position the projection's read model reflects.", []string{"projection"}, nil),
		lagDesc: prometheus.NewDesc(Namespace+"_projection_lag",
			"How far the projection is behind the log head, in log positions (head minus position).", []string{"projection"}, nil),
	})
}

type logCollector struct {
	head PositionFunc
	// noHead leaves the head out of the scrape (another collector reports it).
	noHead                     bool
	projections                map[string]PositionFunc
	names                      []string
	timeout                    time.Duration
	headDesc, posDesc, lagDesc *prometheus.Desc
}

func (c *logCollector) Describe(ch chan<- *prometheus.Desc) {
	if !c.noHead {
		ch <- c.headDesc
	}
	ch <- c.posDesc
	ch <- c.lagDesc
}

// Collect reads the positions first and the head last: the head only grows, so the lag of
// one scrape is never negative.
func (c *logCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	pos := make(map[string]eventstore.Position, len(c.names))
	for _, n := range c.names {
		p, err := c.projections[n](ctx)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.posDesc, fmt.Errorf("projection %s position: %w", n, err))
			continue
		}
		pos[n] = p
		ch <- prometheus.MustNewConstMetric(c.posDesc, prometheus.GaugeValue, float64(p), n)
	}
	head, err := c.head(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.headDesc, fmt.Errorf("log head: %w", err))
		return
	}
	if !c.noHead {
		ch <- prometheus.MustNewConstMetric(c.headDesc, prometheus.GaugeValue, float64(head))
	}
	for _, n := range c.names {
		if p, ok := pos[n]; ok {
			ch <- prometheus.MustNewConstMetric(c.lagDesc, prometheus.GaugeValue, float64(head-min(p, head)), n)
		}
	}
}

// WatchRelay reports, on every scrape, how far the Kafka relay has published the log to the
// events topic (its checkpoint) and how far behind the head that is, as WatchLog does for
// projections.
func (r *Registry) WatchRelay(head, relay PositionFunc, topic string, timeout time.Duration) {
	if r == nil {
		return
	}
	r.reg.MustRegister(&logCollector{
		head: head, noHead: true, projections: map[string]PositionFunc{topic: relay}, names: []string{topic}, timeout: timeout,
		posDesc: prometheus.NewDesc(Namespace+"_kafka_relay_position",
			"Log position up to which the relay has published events to Kafka (its checkpoint; shared by the instances of one read model).", []string{"topic"}, nil),
		lagDesc: prometheus.NewDesc(Namespace+"_kafka_relay_lag",
			"How far the relay is behind the log head, in log positions.", []string{"topic"}, nil),
	})
}

// WatchParked reports how many events the named projection has parked (left out because
// they are corrupt or do not decode; see projections.Parking).
func (r *Registry) WatchParked(projection string, count func() int) {
	if r == nil {
		return
	}
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        Namespace + "_projection_parked_events",
		Help:        "Events the projection left out because they are corrupt or do not decode (listed in GET /v1/projections).",
		ConstLabels: prometheus.Labels{"projection": projection},
	}, func() float64 { return float64(count()) }))
}
