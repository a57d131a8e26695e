package service

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/eventnotify/notify/app"
	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/app/live"
	"github.com/eventnotify/notify/app/query"
	"github.com/eventnotify/notify/infra/platform/metrics"
	"github.com/eventnotify/notify/infra/platform/tracing"
	"github.com/eventnotify/notify/infra/transport/httpapi"
	"github.com/eventnotify/notify/infra/transport/httpapi/auth"
	"github.com/eventnotify/notify/infra/transport/kafkabridge"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

// Components are the service's parts, built and checked by Build and not yet running: Run
// starts them, serves until its context ends, and stops and closes them in order.
type Components struct {
	cfg    Config
	logger *slog.Logger

	// App is the application both transports serve.
	App      app.Application
	Registry *metrics.Registry

	log       *eventStore
	rm        *readModel
	startHead eventstore.Position
	// check proves the read model belongs to the log (see belongs); until verified is
	// closed, reads answer 503 and nothing is projected or relayed. With a PostgreSQL read
	// model not reachable yet, Run checks once it is (lateCheck), and a mismatch found then
	// arrives on fatal and stops the service.
	check     func(context.Context) error
	lateCheck bool
	verified  chan struct{}
	fatal     chan error

	// traces is the tracer provider Build made (nil: none, or the caller's): Run's end
	// flushes it.
	traces *sdktrace.TracerProvider

	replays *projections.Replays[inbox.Tx]
	hub     *live.Hub
	kafka   *kafkaLink // nil: no brokers configured

	srv, pprof     *http.Server
	ln, pprofLn    net.Listener
	runCtx         context.Context // the background parts' context, ended by stop
	stopBackground context.CancelFunc
}

// Build opens and checks the stores and builds every component: the application, the HTTP
// API on its bound listener, the live hub, the metrics. Nothing runs yet; on error, what
// was opened is closed.
func Build(ctx context.Context, cfg Config, logger *slog.Logger) (_ *Components, err error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	c := &Components{cfg: cfg, logger: logger, verified: make(chan struct{}), fatal: make(chan error, 1)}
	c.runCtx, c.stopBackground = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	if cfg.Tracer == nil {
		tp, err := tracing.Setup(ctx, cfg.Tracing, logger)
		if err != nil {
			return nil, err
		}
		if tp != nil {
			cfg.Tracer, c.traces = tp, tp
			logger.Info("tracing on: spans go to the OTLP endpoint", "endpoint", auth.RedactURL(cfg.Tracing.Endpoint), "sample_ratio", cfg.Tracing.SampleRatio)
		}
	}
	c.cfg = cfg
	if c.rm, err = openReadModel(ctx, cfg, logger); err != nil {
		return nil, err
	}
	if c.log, err = openEventStore(cfg, c.rm.checkpoints, logger); err != nil {
		return nil, err
	}
	startHead, logID, err := c.log.identify(ctx, cfg)
	if err != nil {
		return nil, err
	}
	c.startHead = startHead
	c.check = func(ctx context.Context) error {
		if err := belongs(ctx, cfg, &c.rm, c.log, logID, startHead, logger); err != nil {
			return err
		}
		return relayWithinLog(ctx, c.log, startHead, logger)
	}
	if c.rm.ready != nil && !closed(c.rm.ready) {
		c.lateCheck = true
	} else {
		if err := c.check(ctx); err != nil {
			return nil, err
		}
		close(c.verified)
	}
	rm, log := c.rm, c.log
	logger.Info("stores open", "event_store", log.kind, "read_model", rm.kind, "data_dir", cfg.DataDir, "log_head", startHead, "log_id", logID)

	pr := query.Projection{Name: inbox.Name, Position: rm.position, Parking: rm.parking,
		NoReplay: fmt.Errorf("the %s read model cannot be replayed into a copy", rm.kind)}
	if rm.copies != nil {
		c.replays = projections.NewReplays(c.runCtx, log, rm.copies, logger, inbox.Projection())
		pr.Replays = c.replays
	}
	if rm.onDamage != nil && c.replays != nil {
		// A damaged read model is rebuilt into a fresh copy while it keeps serving what is not
		// damaged; what is answers 503 until the copy replaces it.
		rm.onDamage(func(err error) {
			logger.Error("the read model is damaged: rebuilding it from the log into a fresh copy", "err", err)
			if _, err := c.replays.Start(c.runCtx, inbox.Name); err != nil {
				logger.Error("could not start the rebuild; restart the service to drop and rebuild the read model", "err", err)
			}
		})
	}
	status := &query.Status{Head: log.head, Projection: pr, ReadWait: cfg.ReadWait, StartHead: startHead, MaxLag: cfg.ReadyMaxLag}
	if len(cfg.Kafka.Brokers) > 0 {
		c.kafka = &kafkaLink{}
		status.Checks = append(status.Checks, c.kafka.check)
	}

	// One registry for the process; commands are counted whichever transport they came from.
	c.Registry = metrics.New(logger)
	c.Registry.WatchLog(log.head, map[string]metrics.PositionFunc{inbox.Name: rm.position}, metricsScrapeTimeout)
	c.Registry.WatchParked(inbox.Name, func() int { return rm.parking.Count() })
	c.hub = live.NewHub(log, startHead, live.Options{Ring: cfg.SSE.Ring, MaxPerRecipient: cfg.SSE.MaxPerRecipient, MaxClients: cfg.SSE.MaxClients, Logger: logger})
	c.Registry.WatchStreams(c.hub.Subscribers)
	if c.kafka != nil {
		c.cfg.Kafka.Observer = c.Registry
		c.cfg.Kafka.Tracer = cfg.Tracer
		c.Registry.KafkaCommandTopics([]string{cfg.Kafka.SendTopic, cfg.Kafka.CommandsTopic}, kafkabridge.PoisonReasons)
		c.Registry.WatchRelay(log.head, func(ctx context.Context) (eventstore.Position, error) {
			return c.log.checkpoints.RelayCheckpoint(ctx, kafkabridge.RelayCheckpoint)
		}, cfg.Kafka.EventsTopic, metricsScrapeTimeout)
	}
	c.App = NewApplication(log, gatedQueries{rm.queries, c.verified}, c.Registry, status, c.hub, cfg.Tracer, storeSystem(log.kind))

	cfg.Auth.JWT.Logger = logger // failed JWKS refreshes are logged there, and counted
	if cfg.Auth.JWT.JWKSURL != "" {
		cfg.Auth.JWT.OnRefreshError = c.Registry.JWKSRefreshFailures()
	}
	authn, err := auth.Start(c.runCtx, cfg.Auth)
	if err != nil {
		return nil, fmt.Errorf("authentication: %w", err)
	}
	logAuth(cfg, logger)
	api := httpapi.New(c.App, httpapi.Options{
		Logger:        logger,
		Metrics:       c.Registry,
		MetricsPublic: cfg.MetricsPublic,
		Stream:        httpapi.Stream{Heartbeat: cfg.SSE.Heartbeat},
		Tracer:        cfg.Tracer,
		AccessLog:     cfg.AccessLog,
		CORSOrigins:   cfg.CORSOrigins,
		UIDemo:        cfg.UIDemo,
		Security: httpapi.Security{
			Auth:           authn,
			RatePerSecond:  cfg.RateLimit,
			Burst:          cfg.RateBurst,
			RequestTimeout: cfg.RequestTimeout,
		},
	})
	if c.ln, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	// The address was checked in the configuration; the bound one is checked again in case a
	// name such as localhost resolved beyond loopback.
	if tcp, ok := c.ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() && !authn.Enabled() {
		if !cfg.Insecure {
			return nil, fmt.Errorf("refusing to serve on %s with no authentication (pass --insecure to do it anyway)", c.ln.Addr())
		}
		logger.Warn("listening beyond loopback with no authentication (--insecure): anyone who can reach this address can read and change every inbox")
	}
	c.srv = &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	if cfg.PprofAddr != "" {
		if c.pprof, c.pprofLn, err = listenPprof(cfg.PprofAddr); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// storeSystem names a kind of event store in spans (db.system.name).
func storeSystem(kind string) string {
	if kind == "esdb" {
		return "eventstoredb"
	}
	return "bbolt" // the embedded log
}

// relayLead is the read model's leader election for the Kafka relay, which trusts its
// checkpoint only once the read model is checked against the log (nil: one instance only).
func (c *Components) relayLead() leader {
	if c.rm.lead == nil {
		return nil
	}
	return func(ctx context.Context, name string, run func(context.Context) error) {
		select {
		case <-c.verified:
			c.rm.lead(ctx, name, run)
		case <-ctx.Done():
		}
	}
}
