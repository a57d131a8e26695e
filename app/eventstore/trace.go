package eventstore

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// An event keeps the W3C trace context of the command that caused it in its metadata
// (Metadata.TraceParent and TraceState), so what follows the log later and elsewhere (the
// projections, the Kafka relay, the live streams) continues the command's trace.

// TraceFields returns the W3C traceparent and tracestate of the span in ctx; both are empty
// when ctx carries none (tracing off, or nothing traced this command) or one not sampled:
// what follows the log would only start unsampled spans from it, at a cost per event
// (docs/BENCHMARKS.md, traces).
func TraceFields(ctx context.Context) (parent, state string) {
	if !trace.SpanContextFromContext(ctx).IsSampled() {
		return "", ""
	}
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c["traceparent"], c["tracestate"]
}

// TraceOf returns the span context an event's metadata carries; it is not valid when the
// metadata has none. Metadata without a trace costs one scan, no decoding.
func TraceOf(metadata []byte) trace.SpanContext {
	if !bytes.Contains(metadata, []byte(`"traceparent"`)) {
		return trace.SpanContext{}
	}
	var md Metadata
	if json.Unmarshal(metadata, &md) != nil {
		return trace.SpanContext{}
	}
	return md.SpanContext()
}

// SpanContext is the span context of the metadata's TraceParent and TraceState (not valid
// when there is none): for a reader that has decoded the metadata already.
func (m Metadata) SpanContext() trace.SpanContext {
	if m.TraceParent == "" {
		return trace.SpanContext{}
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": m.TraceParent, "tracestate": m.TraceState})
	return trace.SpanContextFromContext(ctx)
}

// Recent reports whether e was recorded less than TraceAge before now: whether what follows
// the log continues its trace.
func Recent(e RecordedEvent, now time.Time) bool { return now.Sub(e.Created) <= TraceAge }

// TraceAge bounds how old an event may be for what follows the log to continue its trace
// (TraceOfRecent): a projection rebuilt from position 0, a relay taking over or a live
// stream resuming from the log would otherwise add spans to every trace ever stored.
const TraceAge = 10 * time.Minute

// TraceOfRecent is TraceOf(e.Metadata) for an event recorded less than TraceAge before now,
// and no trace for an older one.
func TraceOfRecent(e RecordedEvent, now time.Time) trace.SpanContext {
	if !Recent(e, now) {
		return trace.SpanContext{}
	}
	return TraceOf(e.Metadata)
}
