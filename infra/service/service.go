// Package service wires the notification service together and runs it until its context
// ends: stores, command handlers, projections and the HTTP API. main.go only calls Main.
package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/app/live"
	"github.com/eventnotify/notify/app/query"
	"github.com/eventnotify/notify/infra/auth"
	"github.com/eventnotify/notify/infra/esdb"
	"github.com/eventnotify/notify/infra/eventlog"
	"github.com/eventnotify/notify/infra/httpapi"
	"github.com/eventnotify/notify/infra/inboxdb"
	"github.com/eventnotify/notify/infra/kafkabridge"
	"github.com/eventnotify/notify/infra/kafkasub"
	"github.com/eventnotify/notify/infra/metrics"
	"github.com/eventnotify/notify/infra/pgread"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

// Main parses the configuration, runs the service until ctx ends and returns the exit code.
//
// Unless GOMAXPROCS is set, it runs one more P than the CPUs the runtime sees: the embedded
// log's fdatasync blocks its thread, and the runtime hands that thread's P to another only
// after a delay; on 2 cores the Kafka drain left 13 % of the CPU in iowait and ran at 14,400
// commands/s, with one more P at 20,300 (docs/BENCHMARKS.md).
func Main(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "projections" {
		return projectionsCommand(ctx, args[1:], getenv, stderr)
	}
	cfg, err := ParseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "notify:", err)
		return 2
	}
	logger := newLogger(cfg, stderr)
	if getenv("GOMAXPROCS") == "" {
		procs := runtime.GOMAXPROCS(0)
		runtime.GOMAXPROCS(procs + 1)
		logger.Debug("GOMAXPROCS one above the CPUs, for the goroutines that run while a thread waits in fsync", "gomaxprocs", procs+1)
	}
	if err := Run(ctx, cfg, logger); err != nil {
		logger.Error("service stopped", "err", err)
		return 1
	}
	return 0
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Run serves until ctx ends, then shuts down gracefully: the listener closes, in-flight
// requests finish, the projection stops after its current batch, and the files close.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	rm, err := openReadModel(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer rm.close()
	log, err := openEventStore(cfg, rm.checkpoints, logger)
	if err != nil {
		return err
	}
	defer log.Close()
	startHead, err := log.head(ctx)
	if err != nil {
		return fmt.Errorf("read the event store's head: %w", err)
	}
	logger.Info("stores open", "event_store", log.kind, "read_model", rm.kind, "data_dir", cfg.DataDir, "log_head", startHead)
	runCtx, stopRunner := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rm.project(runCtx, log)
	}()
	var replays *projections.Replays[inbox.Tx]
	if rm.copies != nil {
		replays = projections.NewReplays(runCtx, log, rm.copies, logger, inbox.Projection())
	}
	defer func() {
		stopRunner()
		wg.Wait()
		if replays != nil {
			replays.Wait()
		}
		p, _ := rm.position(context.Background())
		logger.Info("projection stopped", "projection", inbox.Name, "position", p)
	}()

	// One registry for the process; commands are counted whichever edge they came from.
	reg := metrics.New(logger)
	reg.WatchLog(log.head, map[string]metrics.PositionFunc{inbox.Name: rm.position}, metricsScrapeTimeout)
	appends := reg.EventStore(log)
	read := command.NewReadNotificationHandler(appends, nil)
	cmds := kafkabridge.Commands{
		Send:   metrics.Command(reg, "send", command.NewSendNotificationHandler(appends, nil)),
		Read:   metrics.Command(reg, "read", read),
		Unread: metrics.Command(reg, "unread", command.NewUnreadNotificationHandler(appends, nil)),
		Cancel: metrics.Command(reg, "cancel", command.NewCancelNotificationHandler(appends, nil)),
	}
	bridge, stopBridge, err := startBridge(cfg, cmds, log, log.checkpoints, rm.lead, logger)
	if err != nil {
		return err
	}
	defer stopBridge()
	if bridge != nil {
		reg.WatchConsumer(bridge.Partitions)
	}

	hub := live.NewHub(log, startHead, live.Options{Ring: cfg.SSE.Ring, MaxPerRecipient: cfg.SSE.MaxPerRecipient, MaxClients: cfg.SSE.MaxClients, Logger: logger})
	hubCtx, stopHub := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	go func() { defer close(hubDone); _ = hub.Run(hubCtx) }()
	defer func() { stopHub(); <-hubDone }()

	authn, err := auth.New(cfg.Auth)
	if err != nil {
		return fmt.Errorf("authentication: %w", err)
	}
	logAuth(cfg, logger)
	api := httpapi.New(httpapi.Deps{
		Send:          cmds.Send,
		Read:          cmds.Read,
		Unread:        cmds.Unread,
		Cancel:        cmds.Cancel,
		Inbox:         query.NewInbox(rm.queries),
		ReadAll:       metrics.Command(reg, "read_all", command.NewReadAllNotificationsHandler(read, query.NewInbox(rm.queries))),
		Notifications: query.NewNotifications(log),
		Head:          log.head,
		Projections: func(ctx context.Context) (httpapi.ProjectionsStatus, error) {
			head, st, err := projectionStatus(ctx, log, rm, replays)
			return httpapi.ProjectionsStatus{LogHead: head, Projections: []httpapi.ProjectionStatus{st}}, err
		},
		Replay: func(ctx context.Context, name string) (httpapi.ProjectionStatus, error) {
			if replays == nil {
				return httpapi.ProjectionStatus{}, fmt.Errorf("the %s read model cannot be replayed into a copy", rm.kind)
			}
			if _, err := replays.Start(ctx, name); err != nil {
				return httpapi.ProjectionStatus{}, err
			}
			_, st, err := projectionStatus(ctx, log, rm, replays)
			return st, err
		},
		WaitFor: func(ctx context.Context, want eventstore.Position) error {
			return waitFor(ctx, rm.position, want, cfg.ReadWait)
		},
		Ready: func(ctx context.Context) (map[string]any, error) {
			p, err := rm.position(ctx)
			if err != nil {
				return nil, fmt.Errorf("read model unreachable: %w", err)
			}
			if p < startHead {
				return nil, fmt.Errorf("projection %s catching up: at %d of %d", inbox.Name, p, startHead)
			}
			head, err := log.head(ctx)
			if err != nil {
				return nil, fmt.Errorf("event store unreachable: %w", err)
			}
			details := map[string]any{"logHead": head, "projections": map[string]any{inbox.Name: p}}
			if bridge != nil {
				details["kafka"] = kafkaReadiness(bridge.Stalled(time.Now()))
				if details["kafka"].(kafkaStatus).Status != "ok" {
					details["status"] = "degraded"
				}
			}
			return details, nil
		},
		Logger:        logger,
		Metrics:       reg,
		MetricsPublic: cfg.MetricsPublic,
		Live:          hub,
		Stream:        httpapi.Stream{Heartbeat: cfg.SSE.Heartbeat},
		Security: httpapi.Security{
			Auth:           authn,
			RatePerSecond:  cfg.RateLimit,
			Burst:          cfg.RateBurst,
			RequestTimeout: cfg.RequestTimeout,
		},
	})
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	// The address was checked in the configuration; the bound one is checked again in case a
	// name such as localhost resolved beyond loopback.
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() && !authn.Enabled() {
		if !cfg.Insecure {
			ln.Close()
			return fmt.Errorf("refusing to serve on %s with no authentication (pass --insecure to do it anyway)", ln.Addr())
		}
		logger.Warn("listening beyond loopback with no authentication (--insecure): anyone who can reach this address can read and change every inbox")
	}
	srv.RegisterOnShutdown(stopHub) // ends open live streams, which Shutdown would wait for
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String())

	if cfg.PprofAddr != "" {
		stopPprof, err := servePprof(cfg.PprofAddr, logger)
		if err != nil {
			srv.Close()
			return err
		}
		defer stopPprof()
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	return nil
}

// projectionStatus reports the inbox projection: its live copy's position and lag behind the
// log head, and its replay, if one ran here.
func projectionStatus(ctx context.Context, log *eventStore, rm *readModel, replays *projections.Replays[inbox.Tx]) (eventstore.Position, httpapi.ProjectionStatus, error) {
	head, err := log.head(ctx)
	if err != nil {
		return 0, httpapi.ProjectionStatus{}, fmt.Errorf("event store head: %w", err)
	}
	p, err := rm.position(ctx)
	if err != nil {
		return 0, httpapi.ProjectionStatus{}, fmt.Errorf("read model position: %w", err)
	}
	st := httpapi.ProjectionStatus{Name: inbox.Name, Position: p, State: "live"}
	if replays != nil {
		st.Replay = replays.Status(inbox.Name)
	}
	if p < head {
		st.Lag, st.State = uint64(head-p), "catching-up"
	}
	if st.Replay != nil && st.Replay.FinishedAt == nil {
		st.State = "replaying"
	}
	return head, st, nil
}

// metricsScrapeTimeout bounds the position and head reads of one scrape.
const metricsScrapeTimeout = time.Second

// logAuth says which authentication is on, never a secret: counts, issuer and audience.
func logAuth(cfg Config, logger *slog.Logger) {
	if !cfg.AuthConfigured() {
		logger.Warn("no authentication configured: every caller may send, and read and change every inbox; serving on loopback only unless --insecure")
	} else {
		j := cfg.Auth.JWT
		logger.Info("authentication on", "api_keys", len(cfg.Auth.APIKeys), "tokens_hs256", len(j.Secret) > 0, "tokens_jwks_file", len(j.JWKS) > 0, "tokens_jwks_url", auth.RedactURL(j.JWKSURL),
			"token_issuer", j.Issuer, "token_audience", j.Audience)
	}
	if cfg.RateLimit > 0 {
		logger.Info("rate limit", "per_second", cfg.RateLimit, "burst", cfg.RateBurst, "request_timeout", cfg.RequestTimeout.String())
	}
}

// waitFor polls the read model's position until it reaches want, at most for limit. Polling
// (every 2 ms) serves every read model alike, including a PostgreSQL one projected by another
// instance.
func waitFor(ctx context.Context, position func(context.Context) (eventstore.Position, error), want eventstore.Position, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		p, err := position(ctx)
		if err != nil {
			return fmt.Errorf("read model position: %w", err)
		}
		if p >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: at %d, want %d after %v", projections.ErrNotReached, p, want, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// eventStore is the configured event store with what the wiring needs around it.
type eventStore struct {
	store
	kind        string
	head        func(context.Context) (eventstore.Position, error)
	checkpoints kafkabridge.Checkpoints
}

type store interface {
	command.EventStore
	projections.Log
	Close() error
}

// openEventStore opens the embedded log or EventStoreDB. The Kafka relay keeps its checkpoint
// in the embedded log, or in the read model's file when the events live in EventStoreDB.
func openEventStore(cfg Config, rmCheckpoints kafkabridge.Checkpoints, logger *slog.Logger) (*eventStore, error) {
	if cfg.EventStore == "embedded" {
		log, err := eventlog.Open(filepath.Join(cfg.DataDir, "events.db"), eventlog.Options{})
		if err != nil {
			return nil, err
		}
		head := func(context.Context) (eventstore.Position, error) { return log.Head(), nil }
		return &eventStore{store: log, kind: "embedded", head: head, checkpoints: log}, nil
	}
	es, err := esdb.Open(cfg.EventStore, esdb.Options{Logger: logger})
	if err != nil {
		return nil, err
	}
	filter := inbox.Projection().Filter
	head := func(ctx context.Context) (eventstore.Position, error) { return es.Head(ctx, filter) }
	return &eventStore{store: es, kind: "esdb", head: head, checkpoints: rmCheckpoints}, nil
}

// leader runs run while this instance holds the named lock among the instances sharing a
// read model, until ctx ends, taking it again after losing it.
type leader func(ctx context.Context, name string, run func(context.Context) error)

// readModel is the configured inbox read model and the loop that keeps it projected.
type readModel struct {
	kind        string
	queries     query.ReadModel
	checkpoints kafkabridge.Checkpoints
	// copies rebuilds projections into fresh copies (nil: this read model cannot).
	copies projections.Rebuildable[inbox.Tx]
	// lead elects one instance among those sharing the read model (nil: one instance only).
	lead leader
	// project follows the log until ctx ends; position tells how far the read model is.
	project  func(ctx context.Context, log projections.Log)
	position func(ctx context.Context) (eventstore.Position, error)
	close    func()
}

// openReadModel opens the embedded read model, or PostgreSQL, where several instances share
// one read model and a database lock elects the one that projects; the others serve queries.
func openReadModel(ctx context.Context, cfg Config, logger *slog.Logger) (*readModel, error) {
	if cfg.ReadModel == "embedded" {
		rm, err := inboxdb.Open(filepath.Join(cfg.DataDir, "inbox.db"))
		if err != nil {
			return nil, err
		}
		if why := rm.WasReset(); why != "" {
			logger.Warn("read model dropped; the projection rebuilds it from the log", "why", why)
		}
		return &readModel{
			kind: "embedded", queries: rm, checkpoints: rm, copies: rm,
			project: func(ctx context.Context, log projections.Log) {
				_ = projections.NewRunner(log, rm, inbox.Projection(), logger).Run(ctx)
			},
			position: func(ctx context.Context) (eventstore.Position, error) { return rm.Checkpoint(ctx, inbox.Name) },
			close:    func() { rm.Close() },
		}, nil
	}
	pg, err := pgread.Open(ctx, cfg.ReadModel, pgread.Options{Schema: cfg.ReadModelSchema})
	if err != nil {
		return nil, err
	}
	return &readModel{
		kind: "postgres", queries: pg, checkpoints: pg, copies: pg,
		project: func(ctx context.Context, log projections.Log) {
			pg.RunLeading(ctx, inbox.Name, func(ctx context.Context, lease *pgread.Lease) error {
				logger.Info("leading the inbox projection", "backend_pid", lease.BackendPID())
				return projections.NewRunner(log, lease, inbox.Projection(), logger).Run(ctx)
			}, func(err error) { logger.Error("inbox projector", "err", err) })
		},
		position: func(ctx context.Context) (eventstore.Position, error) { return pg.Checkpoint(ctx, inbox.Name) },
		close:    pg.Close,
		lead: func(ctx context.Context, name string, run func(context.Context) error) {
			pg.RunLeading(ctx, name, func(ctx context.Context, _ *pgread.Lease) error { return run(ctx) },
				func(err error) { logger.Error("leading "+name, "err", err) })
		},
	}, nil
}

// startBridge runs the Kafka bridge when brokers are configured; the returned stop waits for
// in-flight commands to finish. With lead (several instances sharing a read model), every
// instance consumes commands but only the one leading "kafka-relay" relays events, so each
// event is published once (again after a takeover, from the shared checkpoint).
func startBridge(cfg Config, cmds kafkabridge.Commands, log kafkabridge.Log, cps kafkabridge.Checkpoints, lead leader, logger *slog.Logger) (*kafkabridge.Bridge, func(), error) {
	if len(cfg.Kafka.Brokers) == 0 {
		logger.Info("no Kafka brokers configured: commands arrive over HTTP only, events are not published")
		return nil, func() {}, nil
	}
	relayLog := log
	if lead != nil {
		relayLog = nil
	}
	b, err := kafkabridge.New(cfg.Kafka, cmds, relayLog, cps, logger)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := b.Run(ctx); err != nil {
			logger.Error("kafka bridge stopped", "err", err)
		}
	}()
	if lead != nil {
		relayDone := make(chan struct{})
		go func() {
			defer close(relayDone)
			lead(ctx, kafkabridge.RelayCheckpoint, func(ctx context.Context) error {
				r, err := kafkabridge.NewRelay(cfg.Kafka, log, cps, logger)
				if err != nil {
					return err
				}
				logger.Info("relaying events to Kafka: this instance leads the relay")
				return r.Run(ctx)
			})
		}()
		bridgeDone := done
		done = make(chan struct{})
		go func() {
			<-bridgeDone
			<-relayDone
			close(done)
		}()
	}
	k := cfg.Kafka
	logger.Info("kafka bridge started", "brokers", k.Brokers, "group", k.Group, "instance_id", k.InstanceID, "commands_from", []string{k.SendTopic, k.CommandsTopic},
		"events_to", k.EventsTopic, "poison_to", k.PoisonTopic, "sasl", k.SASL.Mechanism, "tls", k.TLS.Enabled)
	return b, func() {
		cancel()
		<-done
		logger.Info("kafka bridge stopped")
	}, nil
}

// kafkaStatus is the Kafka part of /readyz: degraded while a command partition is stalled.
type kafkaStatus struct {
	Status  string             `json:"status"`
	Stalled []stalledPartition `json:"stalled,omitempty"`
}

type stalledPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Lag       int64  `json:"lag"`
	Offset    int64  `json:"offset"`
	Since     string `json:"since"`
}

func kafkaReadiness(stalled []kafkasub.PartitionStats) kafkaStatus {
	st := kafkaStatus{Status: "ok"}
	for _, p := range stalled {
		st.Status = "degraded"
		st.Stalled = append(st.Stalled, stalledPartition{Topic: p.Topic, Partition: p.Partition, Lag: p.Lag, Offset: p.Watermark, Since: p.Advanced.UTC().Format(time.RFC3339)})
	}
	return st
}

func servePprof(addr string, logger *slog.Logger) (func(), error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen pprof on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	logger.Info("pprof listening", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}
