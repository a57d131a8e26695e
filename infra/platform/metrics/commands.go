package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/domain/notification"
)

// Handler is a command handler as the edges (HTTP API, Kafka bridge) call it.
type Handler[C, R any] interface {
	Handle(context.Context, C) (R, error)
}

// Command wraps next so every command it handles is counted by outcome and timed under
// name (send, read, unread, cancel, read_all). With a nil registry it returns next.
func Command[C, R any](r *Registry, name string, next Handler[C, R]) Handler[C, R] {
	if r == nil {
		return next
	}
	for _, o := range outcomes {
		r.commands.WithLabelValues(name, o) // every outcome shows from the start, at 0
	}
	return observedCommand[C, R]{
		next:     next,
		duration: r.commandDuration.WithLabelValues(name),
		count:    func(o string) { r.commands.WithLabelValues(name, o).Inc() },
	}
}

var outcomes = []string{"ok", "unchanged", "invalid", "not_found", "conflict", "error"}

type observedCommand[C, R any] struct {
	next     Handler[C, R]
	duration interface{ Observe(float64) }
	count    func(outcome string)
}

// Handle runs the command and records its outcome.
func (h observedCommand[C, R]) Handle(ctx context.Context, cmd C) (R, error) {
	start := time.Now()
	res, err := h.next.Handle(ctx, cmd)
	h.duration.Observe(time.Since(start).Seconds())
	h.count(outcome(res, err))
	return res, err
}

// outcome classifies a command's result with the domain's typed errors, as the edges do.
func outcome(res any, err error) string {
	switch {
	case err == nil:
		if r, ok := res.(command.Result); ok && !r.Changed {
			return "unchanged"
		}
		return "ok"
	case errors.Is(err, notification.ErrInvalid):
		return "invalid"
	case errors.Is(err, notification.ErrNotFound):
		return "not_found"
	case errors.Is(err, notification.ErrConflict):
		return "conflict"
	}
	return "error"
}
