package kafkabridge

import (
	"context"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill"
)

// wmLogger adapts slog for Watermill, checking the level before it builds any attribute:
// the router logs a trace line for every message, and Watermill's own adapter builds their
// attributes first (3 % of the CPU at 10,000 commands/s). Watermill's info lines become debug
// ones; its trace lines are dropped below debug.
type wmLogger struct{ l *slog.Logger }

func (w wmLogger) log(level slog.Level, msg string, fields watermill.LogFields, extra ...any) {
	if !w.l.Enabled(context.Background(), level) {
		return
	}
	args := make([]any, 0, 2*len(fields)+len(extra))
	for k, v := range fields {
		args = append(args, k, v)
	}
	w.l.Log(context.Background(), level, msg, append(args, extra...)...)
}

func (w wmLogger) Error(msg string, err error, fields watermill.LogFields) {
	w.log(slog.LevelError, msg, fields, "error", err)
}
func (w wmLogger) Info(msg string, fields watermill.LogFields)  { w.log(slog.LevelDebug, msg, fields) }
func (w wmLogger) Debug(msg string, fields watermill.LogFields) { w.log(slog.LevelDebug, msg, fields) }
func (w wmLogger) Trace(msg string, fields watermill.LogFields) {
	w.log(slog.LevelDebug-4, msg, fields)
}

func (w wmLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	args := make([]any, 0, 2*len(fields))
	for k, v := range fields {
		args = append(args, k, v)
	}
	return wmLogger{w.l.With(args...)}
}
