// Package service is the composition root: Build opens and checks the stores and builds
// every component (wire.go), Components.Run runs them until the context ends and shuts them
// down in order (run.go). main.go only calls Main, which also dispatches the CLI commands
// (flags.go parses them with the settings of config.go; cli.go, check.go run them).
// docs/ARCHITECTURE.md has the picture.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"

	"github.com/eventnotify/notify/infra/platform/tracing"
)

// Main parses the command line (flags.go) and runs the command it names, by default the
// service until ctx ends, and returns the exit code: 0, 1 on failure, 2 on bad usage. Help
// goes to stdout, everything else to stderr, except what notify check reports (stdout).
//
// Unless GOMAXPROCS is set, it runs one more P than the CPUs the runtime sees: the embedded
// log's fdatasync blocks its thread, and the runtime hands that thread's P to another only
// after a delay; on 2 cores the Kafka drain left 13 % of the CPU in iowait and ran at 14,400
// commands/s, with one more P at 20,300 (docs/BENCHMARKS.md).
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cl, kctx, err := parseCommandLine(args, getenv, stdout)
	if errors.Is(err, ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "notify:", err)
		var ue *usageError
		if errors.As(err, &ue) {
			ue.printUsage(stderr)
		}
		return 2
	}
	switch commandOf(kctx.Selected()) {
	case "projections":
		return cl.Projections.Replay.run(ctx, kctx, getenv, stderr)
	case "check":
		return cl.Check.run(stderr)
	}
	cfg, err := cl.Serve.config(getenv)
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

// newLogger writes text or JSON lines to w; a line logged with a traced context carries
// its trace and span ids.
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(tracing.LogHandler(h))
}

// Run builds the service and runs it until ctx ends (see Build and Components.Run).
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	c, err := Build(ctx, cfg, logger)
	if err != nil {
		return err
	}
	return c.Run(ctx)
}
