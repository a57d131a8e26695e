package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/eventnotify/notify/projections/inbox"
)

// Run starts the components, serves until ctx ends (or the HTTP server fails, or the read
// model found to belong to another log stops the service), then shuts down gracefully: the
// listener closes and in-flight requests finish, live streams end, the Kafka bridge
// finishes its in-flight commands, the projection stops after its current batch, and the
// stores close.
func (c *Components) Run(ctx context.Context) error {
	logger, cfg := c.logger, c.cfg
	stop, err := c.start()
	defer func() { stop(); c.close() }()
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		logger.Info("listening", "addr", c.ln.Addr().String())
		if err := c.srv.Serve(c.ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		select {
		case err := <-c.fatal:
			logger.Error("stopping: the read model does not belong to the event log", "err", err)
			return err
		case <-gctx.Done():
			return nil
		}
	})
	g.Go(func() error {
		<-gctx.Done()
		logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := c.srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("graceful shutdown: %w", err)
		}
		return nil
	})
	return g.Wait()
}

// start runs the background parts: the late read-model check, the projection, the live
// hub, the Kafka bridge and the profiling endpoint. The returned stop ends them in reverse
// order (it must be called, even after an error).
func (c *Components) start() (stop func(), err error) {
	logger, ctx := c.logger, c.runCtx
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	var wg sync.WaitGroup
	stops = append(stops, func() {
		c.stopBackground()
		wg.Wait()
		if c.replays != nil {
			c.replays.Wait()
		}
		p, _ := c.rm.position(context.Background())
		logger.Info("projection stopped", "projection", inbox.Name, "position", p)
	})
	if c.lateCheck {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-c.rm.ready:
			case <-ctx.Done():
				return
			}
			if err := c.check(ctx); err != nil {
				c.fatal <- err
				return
			}
			close(c.verified)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-c.verified:
			c.rm.project(ctx, c.log)
		case <-ctx.Done():
		}
	}()

	stopBridge, err := startBridge(c.kafka, c.cfg, c.App.Commands, c.log, c.log.checkpoints, c.relayLead(), logger)
	if err != nil {
		return stop, err
	}
	stops = append(stops, stopBridge)
	if c.kafka != nil {
		c.Registry.WatchConsumer(c.kafka.Partitions)
	}

	hubCtx, stopHub := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	go func() { defer close(hubDone); _ = c.hub.Run(hubCtx) }()
	stops = append(stops, func() { stopHub(); <-hubDone })
	c.srv.RegisterOnShutdown(stopHub) // ends open live streams, which Shutdown would wait for

	if c.pprof != nil {
		go func() { _ = c.pprof.Serve(c.pprofLn) }()
		logger.Info("pprof listening", "addr", c.pprofLn.Addr().String())
		stops = append(stops, func() { c.pprof.Close() })
	}
	return stop, nil
}

// close closes what Build opened and Run did not take over: listeners and stores.
func (c *Components) close() {
	c.stopBackground()
	if c.ln != nil {
		c.ln.Close()
	}
	if c.pprofLn != nil {
		c.pprofLn.Close()
	}
	if c.log != nil {
		c.log.Close()
	}
	if c.rm != nil {
		c.rm.close()
	}
	if c.traces != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := c.traces.Shutdown(ctx); err != nil {
			c.logger.Warn("traces not all sent at shutdown", "err", err)
		}
		cancel()
	}
}
