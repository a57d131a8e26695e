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
		{},
	} {
		want, _ := json.Marshal(m)
		if got := appendMetadata(nil, m); string(got) != string(want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}
