package eventstore_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/eventnotify/notify/app/eventstore"
)

// A sampled span's context goes into the metadata and comes back out; an unsampled one, or
// none, leaves the metadata without a trace.
func TestTraceFields_RoundTripSampledOnly(t *testing.T) {
	t.Parallel()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ts, _ := trace.ParseTraceState("vendor=x")
	for _, tt := range []struct {
		name        string
		flags       trace.TraceFlags
		wantTraced  bool
		wantPattern string
	}{
		{"sampled", trace.FlagsSampled, true, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"not sampled", 0, false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: tt.flags, TraceState: ts})
			parent, state := eventstore.TraceFields(trace.ContextWithSpanContext(context.Background(), sc))
			if parent != tt.wantPattern {
				t.Fatalf("traceparent = %q, want %q", parent, tt.wantPattern)
			}
			md := []byte(`{"commandId":"c","traceparent":"` + parent + `","tracestate":"` + state + `"}`)
			got := eventstore.TraceOf(md)
			if got.IsValid() != tt.wantTraced {
				t.Fatalf("TraceOf valid = %v, want %v", got.IsValid(), tt.wantTraced)
			}
			if tt.wantTraced && (got.TraceID() != tid || got.SpanID() != sid || !got.IsSampled() || !got.IsRemote() || got.TraceState().Get("vendor") != "x") {
				t.Fatalf("TraceOf = %+v, want the span context written", got)
			}
		})
	}
	if p, s := eventstore.TraceFields(context.Background()); p != "" || s != "" {
		t.Fatalf("no span: %q %q, want nothing", p, s)
	}
	if eventstore.TraceOf([]byte(`{"commandId":"c"}`)).IsValid() {
		t.Fatal("metadata without a trace gave one")
	}
}

// An event recorded more than TraceAge ago gives no trace: rebuilding a read model or
// resuming from the log does not add spans to old traces.
func TestTraceOfRecent_OldEventsUntraced(t *testing.T) {
	t.Parallel()
	md := []byte(`{"commandId":"c","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		age  time.Duration
		want bool
	}{{0, true}, {eventstore.TraceAge - time.Second, true}, {eventstore.TraceAge + time.Second, false}, {24 * time.Hour, false}} {
		e := eventstore.RecordedEvent{Metadata: md, Created: now.Add(-tt.age)}
		if got := eventstore.TraceOfRecent(e, now).IsValid(); got != tt.want {
			t.Errorf("an event %s old: traced = %v, want %v", tt.age, got, tt.want)
		}
	}
}
