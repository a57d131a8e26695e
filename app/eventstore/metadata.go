package eventstore

import (
	"bytes"
	"encoding/json"
)

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

// SchemaVersionOf returns the schemaVersion of an event's metadata (its Metadata JSON): what
// encoding/json finds there, 0 when it finds none (no metadata, none written, not JSON). The
// readers of the log pass it to notification.DecodeStored, which reads 0 as version 1.
//
// The projection and the live hub read it for every event, so the metadata as the command side
// writes it (one flat object of string members and the schemaVersion's digits, no space, no
// escapes) is scanned without decoding it; anything else (space, an escape, a nested value, a
// non-ASCII key, a key that is schemaVersion only case folded) is left to encoding/json. A
// fuzz test holds the scan to encoding/json.
func SchemaVersionOf(metadata []byte) int {
	if v, ok := scanSchemaVersion(metadata); ok {
		return v
	}
	var m struct {
		SchemaVersion int `json:"schemaVersion"`
	}
	_ = json.Unmarshal(metadata, &m) // a member of another type is skipped, the rest read
	return m.SchemaVersion
}

// scanSchemaVersion reads schemaVersion from flat metadata: members "key":"string" or
// "schemaVersion":digits, keys of plain ASCII, strings without escapes or control bytes, no
// space; the last schemaVersion counts, as in encoding/json.
func scanSchemaVersion(md []byte) (int, bool) {
	if len(md) < 2 || md[0] != '{' {
		return 0, false
	}
	version, i := 0, 1
	if md[i] == '}' {
		return 0, i+1 == len(md)
	}
	for {
		keyEnd, ok := plainString(md, i, true)
		if !ok || keyEnd >= len(md) || md[keyEnd] != ':' {
			return 0, false
		}
		key := md[i+1 : keyEnd-1]
		i = keyEnd + 1
		if i >= len(md) {
			return 0, false
		}
		switch {
		case md[i] == '"':
			if len(key) == len("schemaVersion") && bytes.EqualFold(key, []byte("schemaVersion")) {
				return 0, false // a string schemaVersion: encoding/json's business
			}
			if i, ok = plainString(md, i, false); !ok {
				return 0, false
			}
		case string(key) == "schemaVersion":
			j := i
			for j < len(md) && md[j] >= '0' && md[j] <= '9' {
				j++
			}
			if j == i || j-i > 9 || (md[i] == '0' && j-i > 1) {
				return 0, false
			}
			version = 0
			for _, c := range md[i:j] {
				version = version*10 + int(c-'0')
			}
			i = j
		default:
			return 0, false
		}
		if i >= len(md) {
			return 0, false
		}
		switch md[i] {
		case ',':
			i++
		case '}':
			return version, i+1 == len(md)
		default:
			return 0, false
		}
	}
}

// plainString returns the index after the JSON string at md[i]: no escapes, no control bytes,
// and, for a key, printable ASCII only (encoding/json folds some non-ASCII letters into ASCII
// ones: ſ matches s).
func plainString(md []byte, i int, key bool) (int, bool) {
	if i >= len(md) || md[i] != '"' {
		return 0, false
	}
	for j := i + 1; j < len(md); j++ {
		switch c := md[j]; {
		case c == '"':
			return j + 1, true
		case c == '\\' || c < 0x20 || (key && c >= 0x7f):
			return 0, false
		}
	}
	return 0, false
}
