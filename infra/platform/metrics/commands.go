package metrics

import (
	"time"

	"github.com/eventnotify/notify/app/command"
)

// Command is the command.Recorder of the registry: it counts each command handled under
// name (send, read, unread, cancel, read_all) by outcome and times it. Every outcome shows
// from the start, at 0. A nil registry records nothing.
func (r *Registry) Command(name string) func(outcome string, took time.Duration) {
	if r == nil {
		return func(string, time.Duration) {}
	}
	for _, o := range command.Outcomes {
		r.commands.WithLabelValues(name, o)
	}
	duration := r.commandDuration.WithLabelValues(name)
	return func(outcome string, took time.Duration) {
		duration.Observe(took.Seconds())
		r.commands.WithLabelValues(name, outcome).Inc()
	}
}
