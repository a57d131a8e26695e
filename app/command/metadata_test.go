package command

import (
	"encoding/json"
	"testing"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
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

// The readers find the schema version of the metadata as this side writes it by a scan, not
// by encoding/json (which allocates): the fixed shape SchemaVersionOf's fast path expects.
// (Not parallel: AllocsPerRun counts every goroutine's allocations.)
func TestMetadataJSON_SchemaVersionScanned(t *testing.T) {
	for _, m := range []eventstore.Metadata{
		{CommandID: "940fff38-a38b-4bc8-ba2a-192230848a35", CorrelationID: "c", CausationID: "c", SchemaVersion: notification.SchemaVersion},
		{CommandID: "topic/0/42", CorrelationID: "x", CausationID: "y", SchemaVersion: 12, Tenant: "acme"},
		{CommandID: "c3", SchemaVersion: 1, TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", TraceState: "vendor=ab"},
	} {
		md := appendMetadata(nil, m)
		if got := eventstore.SchemaVersionOf(md); got != m.SchemaVersion {
			t.Errorf("%s: version %d, want %d", md, got, m.SchemaVersion)
		}
		if allocs := testing.AllocsPerRun(10, func() { eventstore.SchemaVersionOf(md) }); allocs != 0 {
			t.Errorf("%s: SchemaVersionOf allocates (%v): not the scan", md, allocs)
		}
	}
}
