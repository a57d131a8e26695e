package kafkabridge

import (
	"context"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/infra/platform/tracing"
	"github.com/eventnotify/notify/infra/transport/kafkasub"
)

// traceCommands makes each command taken from topic a consumer span ("<topic> process"),
// continuing the producer's trace from the W3C traceparent header of the Kafka record (as
// watermill-kafka's tracing options and otelsarama read it). The span covers the retries and
// ends with the command's fate: handled, parked on the poison topic, or handed back for
// redelivery.
func traceCommands(topic string, tp trace.TracerProvider) message.HandlerMiddleware {
	tracer := tp.Tracer(tracing.Name)
	name := topic + " process"
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			ctx := propagation.TraceContext{}.Extract(msg.Context(), propagation.MapCarrier(msg.Metadata))
			r, _ := kafkasub.RecordFromCtx(msg.Context())
			ctx, span := tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
				semconv.MessagingSystemKafka, semconv.MessagingOperationTypeProcess, semconv.MessagingDestinationName(topic),
				semconv.MessagingDestinationPartitionID(strconv.Itoa(int(r.Partition))), semconv.MessagingKafkaOffset(int(r.Offset)),
			))
			defer span.End()
			msg.SetContext(ctx)
			out, err := h(msg)
			if err != nil {
				span.RecordError(err)
				if isPermanent(err) {
					span.SetAttributes(attribute.String("notify.poison.reason", poisonReason(err)))
				}
				span.SetStatus(codes.Error, err.Error())
			}
			return out, err
		}
	}
}

// publishSpan starts the producer span of an event the relay publishes, in the trace of
// the command that caused it (kept in the event's metadata), and writes its traceparent
// into the message's headers, so the consumers of the events topic continue it. Events of
// untraced commands (and of old ones: eventstore.Recent) get neither. md is the event's
// metadata, which the relay has decoded already.
func publishSpan(tracer trace.Tracer, topic string, e eventstore.RecordedEvent, md eventstore.Metadata, m *message.Message) {
	if tracer == nil || md.TraceParent == "" || !eventstore.Recent(e, time.Now()) {
		return
	}
	parent := md.SpanContext()
	if !parent.IsValid() {
		return
	}
	ctx, span := tracer.Start(trace.ContextWithRemoteSpanContext(context.Background(), parent), topic+" publish",
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
			semconv.MessagingSystemKafka, semconv.MessagingOperationTypeSend, semconv.MessagingDestinationName(topic),
			attribute.String("notify.stream", e.Stream), attribute.Int64("notify.position", int64(e.Position)),
		))
	propagation.TraceContext{}.Inject(ctx, propagation.MapCarrier(m.Metadata))
	m.SetContext(context.WithValue(m.Context(), publishSpanKey{}, span))
}

// publishSpanKey holds, in an outgoing message's context, the producer span the publisher
// ends once the brokers have the message (or refused it).
type publishSpanKey struct{}

func endPublishSpans(msgs []*message.Message, err error) {
	for _, m := range msgs {
		if span, ok := m.Context().Value(publishSpanKey{}).(trace.Span); ok {
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			span.End()
		}
	}
}
