package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/app/query"
	"github.com/eventnotify/notify/infra/transport/httpapi"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

// run is `notify projections replay` and returns the exit code.
func (r replayCmd) run(ctx context.Context, kctx *kong.Context, getenv func(string) string, stderr io.Writer) int {
	const prefix = "notify projections replay:"
	var err error
	if r.Server != "" {
		// The service's own settings apply: a store flag here would mean nothing.
		for _, p := range kctx.Path {
			if p.Flag != nil && !p.Resolved && p.Flag.Name != "server" {
				fmt.Fprintf(stderr, "%s with --server the service's own settings apply; unexpected --%s\n", prefix, p.Flag.Name)
				return 2
			}
		}
		err = replayRemote(ctx, r.Server, strings.TrimSpace(getenv(adminKey.env)), r.Name, stderr)
	} else {
		var cfg Config
		cfg, err = r.config(getenv)
		if err != nil {
			fmt.Fprintln(stderr, prefix, err)
			return 2
		}
		err = replayLocal(ctx, cfg, r.Name, newLogger(cfg, stderr), stderr)
	}
	if err != nil {
		fmt.Fprintln(stderr, prefix, err)
		return 1
	}
	return 0
}

// replayLocal replays in this process on the configured stores.
func replayLocal(ctx context.Context, cfg Config, name string, logger *slog.Logger, out io.Writer) error {
	if name != inbox.Name {
		return fmt.Errorf("%w: %q (the projections: %s)", projections.ErrUnknown, name, inbox.Name)
	}
	rm, err := openReadModel(ctx, cfg, logger)
	if err != nil {
		return fmt.Errorf("%w; if the service runs on this data dir, pass --server http://its-address", err)
	}
	defer rm.close()
	if rm.copies == nil {
		return fmt.Errorf("the %s read model cannot be replayed into a copy", rm.kind)
	}
	log, err := openEventStore(cfg, rm.checkpoints, logger)
	if err != nil {
		return fmt.Errorf("%w; if the service runs on this data dir, pass --server http://its-address", err)
	}
	defer log.Close()
	head, logID, err := log.identify(ctx, cfg)
	if err != nil {
		return err
	}
	// The repair of a read model that does not belong to this log: the fresh copy replaces it
	// whatever its checkpoint says, and the read model is bound to this log.
	var mm *projections.MismatchError
	if err := projections.CheckLog(ctx, rm.binding, rm.position, name, logID, head); errors.As(err, &mm) {
		fmt.Fprintf(out, "replay %s: the read model does not belong to this log (%v); the replay replaces it\n", name, mm)
		cp, err := rm.position(ctx)
		if err == nil {
			err = rm.copies.Apply(ctx, name, cp, 0, func(inbox.Tx) error { return nil })
		}
		if err != nil {
			return fmt.Errorf("rewind the read model to replace it: %w", err)
		}
	} else if err != nil {
		return err
	}
	c, err := rm.copies.Fresh(ctx, name)
	if err != nil {
		return err
	}
	start := time.Now()
	last := start
	at, err := projections.Replay(ctx, log, rm.copies, c, inbox.Projection(), logger, func(p eventstore.Position) {
		if now := time.Now(); now.Sub(last) >= time.Second {
			last = now
			fmt.Fprintf(out, "replay %s: at %d of %d\n", name, p, head)
		}
	})
	if err != nil {
		return err
	}
	if err := rm.binding.BindLog(ctx, logID); err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(out, "replay %s: promoted at position %d in %s (%.0f positions/s)\n", name, at, took.Round(time.Millisecond), float64(at)/took.Seconds())
	return nil
}

// replayRemote asks a running service to replay and follows GET /v1/projections until done.
func replayRemote(ctx context.Context, server, key, name string, out io.Writer) error {
	base, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("--server %q: want http(s)://host:port", server)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	call := func(method, path string, want int, into any) error {
		req, err := http.NewRequestWithContext(ctx, method, base.String()+path, bytes.NewReader(nil))
		if err != nil {
			return err
		}
		if key != "" {
			req.Header.Set("X-Api-Key", key)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != want {
			hint := ""
			if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
				hint = " (set NOTIFY_ADMIN_KEY to an API key with scope admin)"
			}
			var p httpapi.Problem
			if json.Unmarshal(body, &p) == nil && p.Detail != "" {
				return fmt.Errorf("%s %s: %d %s: %s%s", method, path, resp.StatusCode, p.Title, p.Detail, hint)
			}
			return fmt.Errorf("%s %s: %s%s", method, path, resp.Status, hint)
		}
		return json.Unmarshal(body, into)
	}
	var st query.ProjectionStatus
	if err := call(http.MethodPost, "/v1/projections/"+url.PathEscape(name)+"/replay", http.StatusAccepted, &st); err != nil {
		return err
	}
	fmt.Fprintf(out, "replay %s: started on %s\n", name, base.Host)
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped following (the replay goes on in the service): %w", ctx.Err())
		case <-time.After(time.Second):
		}
		var all query.ProjectionsStatus
		if err := call(http.MethodGet, "/v1/projections", http.StatusOK, &all); err != nil {
			return err
		}
		for _, p := range all.Projections {
			if p.Name != name || p.Replay == nil {
				continue
			}
			r := p.Replay
			if r.FinishedAt == nil {
				fmt.Fprintf(out, "replay %s: at %d of %d\n", name, r.Position, all.LogHead)
				continue
			}
			if r.Error != "" {
				return fmt.Errorf("the service's replay failed: %s", r.Error)
			}
			fmt.Fprintf(out, "replay %s: promoted at position %d in %s\n", name, r.Position, r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond))
			return nil
		}
	}
}
