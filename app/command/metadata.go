package command

import (
	"strconv"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
)

// appendMetadata appends m as encoding/json writes it (a test holds it to that), without
// encoding/json's reflection on every append.
func appendMetadata(b []byte, m eventstore.Metadata) []byte {
	b = append(b, `{"commandId":`...)
	b = notification.AppendJSONString(b, m.CommandID)
	b = append(b, `,"correlationId":`...)
	b = notification.AppendJSONString(b, m.CorrelationID)
	b = append(b, `,"causationId":`...)
	b = notification.AppendJSONString(b, m.CausationID)
	b = append(b, `,"schemaVersion":`...)
	b = strconv.AppendInt(b, int64(m.SchemaVersion), 10)
	if m.Tenant != "" {
		b = append(b, `,"tenant":`...)
		b = notification.AppendJSONString(b, m.Tenant)
	}
	if m.TraceParent != "" {
		b = append(b, `,"traceparent":`...)
		b = notification.AppendJSONString(b, m.TraceParent)
	}
	if m.TraceState != "" {
		b = append(b, `,"tracestate":`...)
		b = notification.AppendJSONString(b, m.TraceState)
	}
	return append(b, '}')
}
