package metrics

import "github.com/prometheus/client_golang/prometheus"

// The counters of commands that fail on their way in from Kafka.
func newKafkaCommandCounters() (poisoned, retried *prometheus.CounterVec) {
	poisoned = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "kafka_commands_poisoned_total",
		Help: "Commands parked on the poison topic, by the topic they came from and the kind of reason: malformed, too_large, unknown_type, invalid, not_found, conflict, panic, other.",
	}, []string{"topic", "reason"})
	retried = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "kafka_command_retries_total",
		Help: "Transient failures of commands from Kafka, each followed by another attempt (a retry with backoff or, after the retries, a redelivery), by topic.",
	}, []string{"topic"})
	return poisoned, retried
}

// Poisoned counts a command parked on the poison topic (kafkabridge.Observer).
func (r *Registry) Poisoned(topic, reason string) {
	if r != nil {
		r.poisoned.WithLabelValues(topic, reason).Inc()
	}
}

// Retried counts a transient failure of a command (kafkabridge.Observer).
func (r *Registry) Retried(topic string) {
	if r != nil {
		r.retried.WithLabelValues(topic).Inc()
	}
}

// KafkaCommandTopics makes the counters of the command topics show from the start, at 0,
// for every reason.
func (r *Registry) KafkaCommandTopics(topics, reasons []string) {
	if r == nil {
		return
	}
	for _, t := range topics {
		r.retried.WithLabelValues(t)
		for _, reason := range reasons {
			r.poisoned.WithLabelValues(t, reason)
		}
	}
}

// WatchStreams reports the live streams (SSE) open now.
func (r *Registry) WatchStreams(open func() int) {
	if r == nil {
		return
	}
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "sse_streams",
		Help: "Live streams (Server-Sent Events) open now, over all recipients.",
	}, func() float64 { return float64(open()) }))
}
