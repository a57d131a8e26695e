package command

import (
	"encoding/json"
	"testing"

	"github.com/eventnotify/notify/app/eventstore"
)

// The metadata encoder writes what encoding/json writes, escapes and the optional tenant
// included.
func TestMetadataJSON_AsEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, m := range []eventstore.Metadata{
		{CommandID: "c1", CorrelationID: "c1", CausationID: "c1", SchemaVersion: 1},
		{CommandID: "topic/0/42", CorrelationID: `order "7" <b> & ü`, CausationID: "x\ny\xff", SchemaVersion: 12, Tenant: "acme"},
		{CommandID: "c2", SchemaVersion: 1, TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{CommandID: "c3", SchemaVersion: 1, TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", TraceState: `vendor=a"b`},
		{},
	} {
		want, _ := json.Marshal(m)
		if got := appendMetadata(nil, m); string(got) != string(want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}
