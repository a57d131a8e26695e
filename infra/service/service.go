// Package service wires the notification service together and runs it until its context
// ends: stores, command handlers, projections and the HTTP API. main.go only calls Main.
package service

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/app/live"
	"github.com/eventnotify/notify/app/query"
	"github.com/eventnotify/notify/infra/platform/boltfile"
	"github.com/eventnotify/notify/infra/platform/metrics"
	"github.com/eventnotify/notify/infra/readmodel/inboxdb"
	"github.com/eventnotify/notify/infra/readmodel/pginbox"
	"github.com/eventnotify/notify/infra/store/esdb"
	"github.com/eventnotify/notify/infra/store/eventlog"
	"github.com/eventnotify/notify/infra/transport/httpapi"
	"github.com/eventnotify/notify/infra/transport/httpapi/auth"
	"github.com/eventnotify/notify/infra/transport/kafkabridge"
	"github.com/eventnotify/notify/infra/transport/kafkasub"
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
	if len(args) > 0 && args[0] == "check" {
		return checkCommand(args[1:], getenv, stderr)
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
	defer func() { rm.close() }() // belongs may replace it
	log, err := openEventStore(cfg, rm.checkpoints, logger)
	if err != nil {
		return err
	}
	defer log.Close()
	startHead, logID, err := log.identify(ctx, cfg)
	if err != nil {
		return err
	}
	// The read model is served and projected only once it is known to belong to the log. A
	// PostgreSQL read model that cannot be reached yet is checked when it can: meanwhile
	// commands are taken and reads answer 503; a mismatch found then stops the service.
	verified, fatal := make(chan struct{}), make(chan error, 1)
	check := func(ctx context.Context) error {
		if err := belongs(ctx, cfg, &rm, log, logID, startHead, logger); err != nil {
			return err
		}
		return relayWithinLog(ctx, log, startHead, logger)
	}
	if rm.ready != nil && !closed(rm.ready) {
		go func() {
			select {
			case <-rm.ready:
			case <-ctx.Done():
				return
			}
			if err := check(ctx); err != nil {
				fatal <- err
				return
			}
			close(verified)
		}()
	} else {
		if err := check(ctx); err != nil {
			return err
		}
		close(verified)
	}
	logger.Info("stores open", "event_store", log.kind, "read_model", rm.kind, "data_dir", cfg.DataDir, "log_head", startHead, "log_id", logID)
	runCtx, stopRunner := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-verified:
			rm.project(runCtx, log)
		case <-runCtx.Done():
		}
	}()
	queries := gatedQueries{rm.queries, verified}
	var replays *projections.Replays[inbox.Tx]
	if rm.copies != nil {
		replays = projections.NewReplays(runCtx, log, rm.copies, logger, inbox.Projection())
	}
	if rm.onDamage != nil && replays != nil {
		// A damaged read model is rebuilt into a fresh copy while it keeps serving what is not
		// damaged; what is answers 503 until the copy replaces it.
		rm.onDamage(func(err error) {
			logger.Error("the read model is damaged: rebuilding it from the log into a fresh copy", "err", err)
			if _, err := replays.Start(runCtx, inbox.Name); err != nil {
				logger.Error("could not start the rebuild; restart the service to drop and rebuild the read model", "err", err)
			}
		})
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
	reg.WatchParked(inbox.Name, func() int { return rm.parking.Count() })
	appends := reg.EventStore(log)
	read := command.NewReadNotificationHandler(appends, nil)
	cmds := kafkabridge.Commands{
		Send:   metrics.Command(reg, "send", command.NewSendNotificationHandler(appends, nil)),
		Read:   metrics.Command(reg, "read", read),
		Unread: metrics.Command(reg, "unread", command.NewUnreadNotificationHandler(appends, nil)),
		Cancel: metrics.Command(reg, "cancel", command.NewCancelNotificationHandler(appends, nil)),
	}
	lead := rm.lead
	if lead != nil { // the relay's checkpoint is trusted only once checked against the log
		lead = func(ctx context.Context, name string, run func(context.Context) error) {
			select {
			case <-verified:
				rm.lead(ctx, name, run)
			case <-ctx.Done():
			}
		}
	}
	bridge, stopBridge, err := startBridge(cfg, cmds, log, log.checkpoints, lead, logger)
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
		Inbox:         query.NewInbox(queries),
		ReadAll:       metrics.Command(reg, "read_all", command.NewReadAllNotificationsHandler(read, query.NewInbox(queries))),
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
		Ready: func(ctx context.Context) httpapi.Readiness {
			return readiness(ctx, cfg, log, rm, startHead, bridge)
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

	var stopErr error
	select {
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	case stopErr = <-fatal:
		logger.Error("stopping: the read model does not belong to the event log", "err", stopErr)
	}
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	return stopErr
}

// closed reports whether ch is closed.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// gatedQueries answers 503 (ErrUnavailable) until the read model is known to belong to the
// log: a read model of another log is never served, not even while it is being checked.
type gatedQueries struct {
	query.ReadModel
	verified <-chan struct{}
}

var errUnverified = fmt.Errorf("%w: the read model has not been checked against the event log yet", eventstore.ErrUnavailable)

func (g gatedQueries) List(ctx context.Context, recipient string, limit int) ([]json.RawMessage, error) {
	if !closed(g.verified) {
		return nil, errUnverified
	}
	return g.ReadModel.List(ctx, recipient, limit)
}

func (g gatedQueries) Count(ctx context.Context, recipient string) (inbox.Counts, error) {
	if !closed(g.verified) {
		return inbox.Counts{}, errUnverified
	}
	return g.ReadModel.Count(ctx, recipient)
}

func (g gatedQueries) Page(ctx context.Context, q inbox.PageQuery) (inbox.Page, error) {
	if !closed(g.verified) {
		return inbox.Page{}, errUnverified
	}
	return g.ReadModel.Page(ctx, q)
}

func (g gatedQueries) UnreadIDs(ctx context.Context, recipient string, limit int) ([]string, error) {
	if !closed(g.verified) {
		return nil, errUnverified
	}
	return g.ReadModel.UnreadIDs(ctx, recipient, limit)
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
	st := httpapi.ProjectionStatus{Name: inbox.Name, Position: p, State: "live", Parked: rm.parking.Count(), ParkedEvents: rm.parking.List()}
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
	id          func(context.Context) (string, error)
	checkpoints kafkabridge.Checkpoints
	// lastError is what the store's client last complained of (nil: it does not tell).
	lastError func() string
}

// identify reads the log's head and identity, giving up after --startup-timeout with what
// the event store's client last said (an unreachable EventStoreDB otherwise waits for ever).
func (log *eventStore) identify(ctx context.Context, cfg Config) (eventstore.Position, string, error) {
	sctx, cancel := context.WithTimeout(ctx, cfg.StartupTimeout)
	defer cancel()
	head, err := log.head(sctx)
	if err != nil {
		return 0, "", log.startupError(ctx, cfg, "read the event store's head", err)
	}
	id, err := log.id(sctx)
	if err != nil {
		return 0, "", log.startupError(ctx, cfg, "read the event store's identity", err)
	}
	return head, id, nil
}

func (log *eventStore) startupError(ctx context.Context, cfg Config, what string, err error) error {
	if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	why := ""
	if log.lastError != nil && log.lastError() != "" {
		why = "; the client's last error: " + log.lastError()
	}
	return fmt.Errorf("%s: the event store (%s) did not answer within --startup-timeout %s%s.\nCheck --event-store / NOTIFY_EVENT_STORE and that the server is up and reachable from here", what, auth.RedactURL(cfg.EventStore), cfg.StartupTimeout, why)
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
		path := filepath.Join(cfg.DataDir, "events.db")
		log, err := eventlog.Open(path, eventlog.Options{})
		if errors.Is(err, boltfile.ErrDamaged) {
			return nil, fmt.Errorf("%w\nThe event log is the service's primary data: it is not repaired automatically. Restore %s from a backup; `notify check --data-dir %s` reports what is damaged", err, path, cfg.DataDir)
		}
		if err != nil {
			return nil, err
		}
		h := log.Health()
		if h.Fallback {
			logger.Warn("one of the event log's two meta pages is damaged: bbolt reads the other, and if it was the older one the last commit is gone", "file", path)
		}
		for i, c := range h.Corrupt {
			if i == 10 {
				logger.Error("more corrupt records in the event log", "count", len(h.Corrupt)-10)
				break
			}
			logger.Error("corrupt record in the event log: it is not served, and projections park it", "file", path, "err", c)
		}
		head := func(context.Context) (eventstore.Position, error) { return log.Head(), nil }
		id := func(context.Context) (string, error) { return log.ID(), nil }
		return &eventStore{store: log, kind: "embedded", head: head, id: id, checkpoints: log}, nil
	}
	es, err := esdb.Open(cfg.EventStore, esdb.Options{Logger: logger})
	if err != nil {
		return nil, err
	}
	filter := inbox.Projection().Filter
	head := func(ctx context.Context) (eventstore.Position, error) { return es.Head(ctx, filter) }
	return &eventStore{store: es, kind: "esdb", head: head, id: es.ID, checkpoints: rmCheckpoints, lastError: es.LastClientError}, nil
}

// belongs checks that the read model belongs to the event log (see projections.CheckLog). An
// embedded read model that does not is dropped and rebuilt from the log: it is derived data,
// local to this log. A PostgreSQL one is refused with what happened and how to repair it:
// other instances may be serving it.
func belongs(ctx context.Context, cfg Config, rmp **readModel, log *eventStore, logID string, head eventstore.Position, logger *slog.Logger) error {
	rm := *rmp
	err := projections.CheckLog(ctx, rm.binding, rm.position, inbox.Name, logID, head)
	var mm *projections.MismatchError
	if !errors.As(err, &mm) {
		return err
	}
	if rm.kind != "embedded" {
		return fmt.Errorf("%w.\n%s\nRebuild it from this instance's log with the service stopped on every instance: `notify projections replay inbox` with the same --event-store and --read-model settings", mm, mismatchAdvice(mm))
	}
	logger.Warn("the read model does not belong to the event log: dropping it; the projection rebuilds it from the log", "err", mm)
	rm.close()
	*rmp = &readModel{close: func() {}}
	if err := os.Remove(rm.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("drop read model %s: %w", rm.path, err)
	}
	fresh, err := openReadModel(ctx, cfg, logger)
	if err != nil {
		return err
	}
	*rmp = fresh
	if log.kind == "esdb" {
		log.checkpoints = fresh.checkpoints // the relay's checkpoint lived in the dropped file
	}
	return projections.CheckLog(ctx, fresh.binding, fresh.position, inbox.Name, logID, head)
}

func mismatchAdvice(mm *projections.MismatchError) string {
	if errors.Is(mm, projections.ErrOtherLog) {
		return "Every instance sharing a PostgreSQL read model must use one event store (EventStoreDB): instances with embedded logs each have their own log, and would show one another's notifications and hide their own."
	}
	return "The event log holds less than the read model shows: it was restored from an older copy, or lost its last commit. The read model would show notifications the log no longer has, and new ones would not appear until the log caught up."
}

// relayWithinLog moves the Kafka relay's checkpoint back to the log's head if it is past it
// (the log was restored from an older copy): left there, the relay would publish nothing
// until the log passed it.
func relayWithinLog(ctx context.Context, log *eventStore, head eventstore.Position, logger *slog.Logger) error {
	cp, err := log.checkpoints.Checkpoint(ctx, kafkabridge.RelayCheckpoint)
	if err != nil || cp <= head {
		return err
	}
	logger.Warn("the Kafka relay's checkpoint is past the event log's head (the log was restored from an older copy): relaying from the head", "checkpoint", cp, "head", head)
	return log.checkpoints.SaveCheckpoint(ctx, kafkabridge.RelayCheckpoint, head)
}

// leader runs run while this instance holds the named lock among the instances sharing a
// read model, until ctx ends, taking it again after losing it.
type leader func(ctx context.Context, name string, run func(context.Context) error)

// readModel is the configured inbox read model and the loop that keeps it projected.
type readModel struct {
	kind        string
	path        string // the embedded read model's file
	binding     projections.LogBinding
	queries     query.ReadModel
	checkpoints kafkabridge.Checkpoints
	// copies rebuilds projections into fresh copies (nil: this read model cannot).
	copies projections.Rebuildable[inbox.Tx]
	// lead elects one instance among those sharing the read model (nil: one instance only).
	lead leader
	// parking collects the events the projection leaves out (see projections.Runner).
	parking *projections.Parking
	// project follows the log until ctx ends; position tells how far the read model is.
	project  func(ctx context.Context, log projections.Log)
	position func(ctx context.Context) (eventstore.Position, error)
	// ready is closed once the read model can be reached (nil: it always can).
	ready <-chan struct{}
	// onDamage sets what to do when the read model finds itself damaged (nil: it cannot tell).
	onDamage func(func(error))
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
		parking := projections.NewParking()
		return &readModel{
			kind: "embedded", path: filepath.Join(cfg.DataDir, "inbox.db"), binding: rm, queries: rm, checkpoints: rm, copies: rm, parking: parking,
			project: func(ctx context.Context, log projections.Log) {
				_ = projections.NewRunner(log, rm, inbox.Projection(), logger).ParkInto(parking).Run(ctx)
			},
			onDamage: rm.OnDamage,
			position: func(ctx context.Context) (eventstore.Position, error) { return rm.Checkpoint(ctx, inbox.Name) },
			close:    func() { rm.Close() },
		}, nil
	}
	octx, cancel := context.WithTimeout(ctx, cfg.StartupTimeout)
	defer cancel()
	pg, err := pginbox.Open(octx, cfg.ReadModel, pginbox.Options{Schema: cfg.ReadModelSchema, StartUnreachable: true, Logger: logger})
	if err != nil {
		return nil, err
	}
	parking := projections.NewParking()
	return &readModel{
		kind: "postgres", binding: pg, queries: pg, checkpoints: pg, copies: pg, parking: parking, ready: pg.Ready(),
		project: func(ctx context.Context, log projections.Log) {
			pg.RunLeading(ctx, inbox.Name, func(ctx context.Context, lease *pginbox.Lease) error {
				logger.Info("leading the inbox projection", "backend_pid", lease.BackendPID())
				return projections.NewRunner(log, lease, inbox.Projection(), logger).ParkInto(parking).Run(ctx)
			}, func(err error) { logger.Error("inbox projector", "err", err) })
		},
		position: func(ctx context.Context) (eventstore.Position, error) { return pg.Checkpoint(ctx, inbox.Name) },
		close:    pg.Close,
		lead: func(ctx context.Context, name string, run func(context.Context) error) {
			pg.RunLeading(ctx, name, func(ctx context.Context, _ *pginbox.Lease) error { return run(ctx) },
				func(err error) { logger.Error("leading "+name, "err", err) })
		},
	}, nil
}

// kafkaLink is the Kafka bridge, once connected: brokers unreachable at start are retried
// in the background while HTTP serves (commands and reads), and /readyz says not ready.
type kafkaLink struct {
	bridge atomic.Pointer[kafkabridge.Bridge]
	mu     sync.Mutex
	since  time.Time // when the first attempt failed (zero: connected, or not tried yet)
	err    error     // the last attempt's failure
}

// Bridge returns the running bridge (nil while not connected).
func (k *kafkaLink) Bridge() *kafkabridge.Bridge { return k.bridge.Load() }

// Partitions reports the command partitions consumed (none while not connected).
func (k *kafkaLink) Partitions() []kafkasub.PartitionStats {
	if b := k.Bridge(); b != nil {
		return b.Partitions()
	}
	return nil
}

// down reports since when and why the bridge has not connected (zero time: it has).
func (k *kafkaLink) down() (time.Time, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.since, k.err
}

// startBridge runs the Kafka bridge when brokers are configured (nil link otherwise); the
// returned stop waits for in-flight commands to finish. Brokers that cannot be reached are
// retried with backoff (logged once, then once a minute); a refused setting fails the start.
// With lead (several instances sharing a read model), every instance consumes commands but
// only the one leading "kafka-relay" relays events, so each event is published once.
func startBridge(cfg Config, cmds kafkabridge.Commands, log kafkabridge.Log, cps kafkabridge.Checkpoints, lead leader, logger *slog.Logger) (*kafkaLink, func(), error) {
	if len(cfg.Kafka.Brokers) == 0 {
		logger.Info("no Kafka brokers configured: commands arrive over HTTP only, events are not published")
		return nil, func() {}, nil
	}
	relayLog := log
	if lead != nil {
		relayLog = nil
	}
	link := &kafkaLink{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	run := func(b *kafkabridge.Bridge) {
		link.bridge.Store(b)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.Run(ctx); err != nil {
				logger.Error("kafka bridge stopped", "err", err)
			}
		}()
		if lead != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				lead(ctx, kafkabridge.RelayCheckpoint, func(ctx context.Context) error {
					r, err := kafkabridge.NewRelay(cfg.Kafka, log, cps, logger)
					if err != nil {
						return err
					}
					logger.Info("relaying events to Kafka: this instance leads the relay")
					return r.Run(ctx)
				})
			}()
		}
		k := cfg.Kafka
		logger.Info("kafka bridge started", "brokers", k.Brokers, "group", k.Group, "instance_id", k.InstanceID, "commands_from", []string{k.SendTopic, k.CommandsTopic},
			"events_to", k.EventsTopic, "poison_to", k.PoisonTopic, "sasl", k.SASL.Mechanism, "tls", k.TLS.Enabled)
	}
	stop := func() {
		cancel()
		wg.Wait()
		logger.Info("kafka bridge stopped")
	}
	b, err := kafkabridge.New(cfg.Kafka, cmds, relayLog, cps, logger)
	if err == nil {
		run(b)
		return link, stop, nil
	}
	if !errors.Is(err, kafkabridge.ErrUnreachable) {
		cancel()
		return nil, nil, err
	}
	link.since, link.err = time.Now(), err
	logger.Warn("Kafka unreachable: serving HTTP without it, retrying in the background", "err", err)
	wg.Add(1)
	go func() {
		defer wg.Done()
		backoff, attempts, reported := 200*time.Millisecond, 1, time.Now()
		for {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			b, err := kafkabridge.New(cfg.Kafka, cmds, relayLog, cps, logger)
			attempts++
			if err == nil {
				link.mu.Lock()
				logger.Info("Kafka reached", "after", time.Since(link.since).Round(time.Millisecond).String(), "attempts", attempts)
				link.since, link.err = time.Time{}, nil
				link.mu.Unlock()
				run(b)
				return
			}
			link.mu.Lock()
			link.err = err
			link.mu.Unlock()
			if !errors.Is(err, kafkabridge.ErrUnreachable) || time.Since(reported) >= time.Minute {
				reported = time.Now()
				logger.Warn("Kafka still unreachable", "attempts", attempts, "err", err)
			}
			backoff = min(2*backoff, 10*time.Second)
		}
	}()
	return link, stop, nil
}

// readiness answers /readyz: not ready while a store is unreachable, while the projection
// catches up with the log as it was at start or lags the current head by more than
// --ready-max-lag, or while a Kafka command partition is stalled.
func readiness(ctx context.Context, cfg Config, log *eventStore, rm *readModel, startHead eventstore.Position, link *kafkaLink) httpapi.Readiness {
	r := httpapi.Readiness{Ready: true, Details: map[string]any{}}
	var errs []string
	fail := func(reason string, err error) {
		r.Ready = false
		r.Reasons = append(r.Reasons, reason)
		if err != nil {
			errs = append(errs, reason+": "+err.Error())
		}
	}
	p, perr := rm.position(ctx)
	head, herr := log.head(ctx)
	switch {
	case perr != nil:
		fail("read model unreachable", perr)
	case p < startHead:
		fail(fmt.Sprintf("projection %s catching up with the log as it was at start", inbox.Name), nil)
	case herr == nil && head > p && uint64(head-p) > cfg.ReadyMaxLag:
		fail(fmt.Sprintf("projection %s more than %d positions behind the log", inbox.Name, cfg.ReadyMaxLag), nil)
	}
	if herr != nil {
		fail("event store unreachable", herr)
	} else {
		r.Details["logHead"] = head
	}
	if perr == nil {
		r.Details["projections"] = map[string]any{inbox.Name: p}
	}
	if link != nil {
		var k kafkaStatus
		since, err := link.down()
		if b := link.Bridge(); b != nil {
			k = kafkaReadiness(b.Stalled(time.Now()))
			since, err = b.Reachable(ctx)
		}
		if err != nil {
			k.Status, k.UnreachableSince = "unreachable", since.UTC().Format(time.RFC3339)
			fail("Kafka unreachable", err)
		}
		r.Details["kafka"] = k
		if len(k.Stalled) > 0 {
			fail("a Kafka command partition is stalled", nil)
		}
	}
	if len(errs) > 0 {
		r.Details["errors"] = errs
	}
	return r
}

// kafkaStatus is the Kafka part of /readyz: degraded while a command partition is stalled,
// unreachable while no broker answers.
type kafkaStatus struct {
	Status           string             `json:"status"`
	UnreachableSince string             `json:"unreachableSince,omitempty"`
	Stalled          []stalledPartition `json:"stalled,omitempty"`
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
