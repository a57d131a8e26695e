package command

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventnotify/notify/domain/notification"
)

// Handler is a command handler as the transports (HTTP API, Kafka bridge) call it.
type Handler[C, R any] interface {
	Handle(context.Context, C) (R, error)
}

// Recorder observes commands: Command(name) returns what to call once per command handled
// under that name, with its outcome (one of Outcomes) and how long it took.
type Recorder interface {
	Command(name string) func(outcome string, took time.Duration)
}

// Outcomes are what Outcome may return.
var Outcomes = []string{"ok", "unchanged", "invalid", "not_found", "conflict", "error"}

// Observed wraps next so rec sees every command it handles under name (send, read, unread,
// cancel, read_all). With a nil recorder it returns next.
func Observed[C, R any](rec Recorder, name string, next Handler[C, R]) Handler[C, R] {
	if rec == nil {
		return next
	}
	return observed[C, R]{next: next, record: rec.Command(name)}
}

type observed[C, R any] struct {
	next   Handler[C, R]
	record func(string, time.Duration)
}

// Handle runs the command and records its outcome.
func (h observed[C, R]) Handle(ctx context.Context, cmd C) (R, error) {
	start := time.Now()
	res, err := h.next.Handle(ctx, cmd)
	h.record(Outcome(res, err), time.Since(start))
	return res, err
}

// Outcome classifies a command's result with the domain's typed errors.
func Outcome(res any, err error) string {
	switch {
	case err == nil:
		if r, ok := res.(Result); ok && !r.Changed {
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

// Traced wraps next so each command it handles is a span "command <name>" with its outcome
// (Outcome); the events it appends carry that span's trace context in their metadata. With a
// nil provider it returns next.
func Traced[C, R any](tp trace.TracerProvider, name string, next Handler[C, R]) Handler[C, R] {
	if tp == nil {
		return next
	}
	return traced[C, R]{next: next, tracer: tp.Tracer(TraceScope), span: "command " + name}
}

// TraceScope is the instrumentation scope of the command handlers' spans.
const TraceScope = "github.com/eventnotify/notify/app/command"

type traced[C, R any] struct {
	next   Handler[C, R]
	tracer trace.Tracer
	span   string
}

// Handle runs the command in its span.
func (h traced[C, R]) Handle(ctx context.Context, cmd C) (R, error) {
	ctx, span := h.tracer.Start(ctx, h.span)
	defer span.End()
	res, err := h.next.Handle(ctx, cmd)
	outcome := Outcome(res, err)
	span.SetAttributes(attribute.String("notify.command.outcome", outcome))
	if outcome == "error" {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return res, err
}
