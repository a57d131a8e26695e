package eventstore_test

import (
	"encoding/json"
	"testing"

	"github.com/eventnotify/notify/app/eventstore"
)

// FuzzSchemaVersionOfMatchesEncodingJSON: SchemaVersionOf finds what encoding/json finds in
// any bytes, the command side's metadata and the shapes its scan leaves to encoding/json alike.
func FuzzSchemaVersionOfMatchesEncodingJSON(f *testing.F) {
	for _, md := range []string{
		`{"commandId":"940fff38-a38b-4bc8-ba2a-192230848a35","correlationId":"940fff38-a38b-4bc8-ba2a-192230848a35","causationId":"940fff38-a38b-4bc8-ba2a-192230848a35","schemaVersion":1}`,
		`{"commandId":"c","correlationId":"c","causationId":"c","schemaVersion":2,"tenant":"acme","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`,
		`{"commandId":"a\"b","schemaVersion":2}`,
		`{"schemaVersion":2,"SchemaVersion":3}`,
		`{"schemaVersion":2,"schemaVersion":3}`,
		`{"x":{"schemaVersion":5},"schemaVersion":2}`,
		`{"schemaVersion": 2}`,
		`{"schemaVersion":"2"}`,
		`{"schemaVersion":2.5}`,
		`{"schemaVersion":-2}`,
		`{"schemaVersion":02}`,
		`{"schemaVersion":99999999999999999999}`,
		`{"ſchemaVersion":4}`,
		`{"commandId":7,"schemaVersion":2}`,
		`{"schemaVersion":2}x`,
		`{}`, ``, `null`, `[]`,
	} {
		f.Add([]byte(md))
	}
	f.Fuzz(func(t *testing.T, md []byte) {
		var want eventstore.Metadata
		_ = json.Unmarshal(md, &want)
		if got := eventstore.SchemaVersionOf(md); got != want.SchemaVersion {
			t.Fatalf("%s: %d, encoding/json finds %d", md, got, want.SchemaVersion)
		}
	})
}

func BenchmarkSchemaVersionOf(b *testing.B) {
	md := []byte(`{"commandId":"940fff38-a38b-4bc8-ba2a-192230848a35","correlationId":"940fff38-a38b-4bc8-ba2a-192230848a35","causationId":"940fff38-a38b-4bc8-ba2a-192230848a35","schemaVersion":2}`)
	b.Run("scan", func(b *testing.B) {
		for range b.N {
			if eventstore.SchemaVersionOf(md) != 2 {
				b.Fatal("wrong")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for range b.N {
			var m eventstore.Metadata
			if json.Unmarshal(md, &m) != nil || m.SchemaVersion != 2 {
				b.Fatal("wrong")
			}
		}
	})
}
