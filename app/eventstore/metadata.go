package eventstore

// Metadata is what the service writes in every event's metadata (RecordedEvent.Metadata, as
// JSON): who caused the event and in which schema. The command side writes it; the Kafka relay
// reads the correlation id, schema version and trace context from it; a reader of old events finds any field
// empty that was not written then.
type Metadata struct {
	// CommandID is the command that produced the event: a redelivered command is recognised
	// by it.
	CommandID     string `json:"commandId"`
	CorrelationID string `json:"correlationId"`
	CausationID   string `json:"causationId"`
	SchemaVersion int    `json:"schemaVersion"`
	Tenant        string `json:"tenant,omitempty"`
	// TraceParent and TraceState are the W3C trace context of the command, when it was
	// traced (TraceFields, TraceOf).
	TraceParent string `json:"traceparent,omitempty"`
	TraceState  string `json:"tracestate,omitempty"`
}
