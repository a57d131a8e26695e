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
	var md struct {
		Parent string `json:"traceparent"`
		State  string `json:"tracestate"`
	}
	if json.Unmarshal(metadata, &md) != nil {
		return trace.SpanContext{}
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": md.Parent, "tracestate": md.State})
	return trace.SpanContextFromContext(ctx)
}

// TraceAge bounds how old an event may be for what follows the log to continue its trace
// (TraceOfRecent): a projection rebuilt from position 0, a relay taking over or a live
// stream resuming from the log would otherwise add spans to every trace ever stored.
const TraceAge = 10 * time.Minute

// TraceOfRecent is TraceOf(e.Metadata) for an event recorded less than TraceAge before now,
// and no trace for an older one.
func TraceOfRecent(e RecordedEvent, now time.Time) trace.SpanContext {
	if now.Sub(e.Created) > TraceAge {
		return trace.SpanContext{}
	}
	return TraceOf(e.Metadata)
}
