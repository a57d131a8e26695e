// Package metrics is the service's Prometheus instrumentation: one registry, built by the
// wiring and passed to what it observes (no default registry, no package state). It counts
// and times HTTP requests, commands (whichever edge they came from) and event-store appends,
// and reads projection positions when scraped.
//
// It decorates the ports of app/ from the outside; app/ and domain/ never import it.
package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric of ours.
const Namespace = "notify"

// latencyBuckets span an in-memory read (sub-millisecond) to a request at its timeout.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Registry holds the service's metrics. A nil *Registry observes nothing, so tests and
// tools may leave it out.
type Registry struct {
	reg    *prometheus.Registry
	logger *slog.Logger

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	commands        *prometheus.CounterVec
	commandDuration *prometheus.HistogramVec
	appends         *prometheus.CounterVec
	appendedEvents  prometheus.Counter
	appendDuration  prometheus.Histogram
	poisoned        *prometheus.CounterVec
	retried         *prometheus.CounterVec

	codes [600]string // status code labels, so observing a request allocates nothing for them
}

// New builds a registry with the Go runtime and process collectors; logger (may be nil)
// receives collection errors.
func New(logger *slog.Logger) *Registry {
	if logger == nil {
		logger = slog.Default()
	}
	r := &Registry{
		reg:    prometheus.NewRegistry(),
		logger: logger,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_requests_total",
			Help: "HTTP requests answered, by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route template, method and status class (2xx, 4xx, 5xx).",
			Buckets: latencyBuckets,
		}, []string{"route", "method", "class"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "commands_total",
			Help: "Commands handled (from HTTP and Kafka), by command and outcome: ok, unchanged (an idempotent no-op), invalid, not_found, conflict, error.",
		}, []string{"command", "outcome"}),
		commandDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "command_duration_seconds",
			Help:    "Time to handle a command, by command.",
			Buckets: latencyBuckets,
		}, []string{"command"}),
		appends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "eventstore_appends_total",
			Help: "Appends to the event store by the command handlers, by outcome: ok, wrong_expected_revision (a concurrent writer; the handler retries), error.",
		}, []string{"outcome"}),
		appendedEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "eventstore_appended_events_total",
			Help: "Events in successful appends (an idempotent re-append counts again).",
		}),
		appendDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "eventstore_append_duration_seconds",
			Help:    "Time of one append to the event store, whatever its outcome.",
			Buckets: latencyBuckets,
		}),
	}
	for i := range r.codes {
		r.codes[i] = strconv.Itoa(i)
	}
	r.poisoned, r.retried = newKafkaCommandCounters()
	r.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo(),
		r.requests, r.requestDuration, r.commands, r.commandDuration,
		r.appends, r.appendedEvents, r.appendDuration, r.poisoned, r.retried,
	)
	for _, o := range []string{"ok", "wrong_expected_revision", "error"} {
		r.appends.WithLabelValues(o)
	}
	return r
}

// Handler serves the scrape in the Prometheus text format, or OpenMetrics when the scraper
// asks for it (Accept). A collector that fails (a projection position that did not come in
// time) is logged and left out; the rest is still served.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{
		ErrorLog:          errorLog{r.logger},
		ErrorHandling:     promhttp.ContinueOnError,
		Registry:          r.reg,
		EnableOpenMetrics: true,
	})
}

// buildInfo is notify_build_info{version, revision, go_version} 1: the module version
// ("(devel)" for a build from a checkout), the VCS revision it was built from (with
// "-dirty" if modified; "unknown" when the build did not record it) and the Go release.
func buildInfo() prometheus.Collector {
	version, revision, dirty := "unknown", "unknown", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		version = bi.Main.Version
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if dirty {
		revision += "-dirty"
	}
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help:        "Always 1; the labels say which build is running.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "go_version": runtime.Version()},
	}, func() float64 { return 1 })
}

// Gatherer exposes the registry to tests and tools.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// ObserveRequest records one answered HTTP request. route must be a route template (never
// the raw path: its values are unbounded); methods other than the standard ones count as
// OTHER for the same reason.
func (r *Registry) ObserveRequest(route, method string, status int, elapsed time.Duration) {
	if r == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	method = knownMethod(method)
	code, class := "other", "other"
	if status >= 100 && status < len(r.codes) {
		code = r.codes[status]
		class = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}[status/100-1]
	}
	r.requests.WithLabelValues(route, method, code).Inc()
	r.requestDuration.WithLabelValues(route, method, class).Observe(elapsed.Seconds())
}

func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// errorLog sends promhttp's collection errors to the service log.
type errorLog struct{ l *slog.Logger }

func (e errorLog) Println(v ...any) {
	msg := fmt.Sprint(v...)
	if strings.Contains(msg, "broken pipe") || strings.Contains(msg, "connection reset") {
		e.l.Debug("metrics scraper left before the answer was written", "err", msg)
		return
	}
	e.l.Warn("metrics collection failed", "err", msg)
}
