package kafkabridge

import (
	"encoding/json"
	"reflect"
	"testing"
)

func decodeBoth(payload []byte) (fastOK bool, fast, std Envelope, stdErr error) {
	fastOK = decodeFlat(payload, envelopeFields, envelopeDst(&fast))
	stdErr = json.Unmarshal(payload, &std)
	return
}

// The fast path takes what producers send, and leaves the rest to encoding/json.
func TestDecodeFlat(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		payload string
		fast    bool
	}{
		{`{"type":"SendNotification","recipientId":"alice","content":"Você recebeu uma solicitação","category":"social"}`, true},
		{` { "recipientId" : "a" , "content":"x" } `, true},
		{`{}`, true},
		{`{"recipientId":"a","recipientId":"b"}`, true}, // the last wins, in both
		{`{"RecipientId":"a"}`, false},                  // case-insensitive match: encoding/json's
		{`{"extra":"a"}`, false},
		{`{"content":"a\"b"}`, false},
		{`{"content":"tab\there"}`, false},
		{`{"content":"bad \xff utf-8"}`, false},
		{`{"content":null}`, false},
		{`{"content":5}`, false},
		{`{"content":"a"} x`, false},
		{`{"content":"a",}`, false},
		{`[]`, false},
		{`{"type":"SendNotification","title":"Shipped","actionUrl":"/orders/7"}`, true}, // #13's string fields
		{`{"type":"SendNotification","data":{"a":1}}`, false},                           // an object: encoding/json's
		{`{"type":"SendNotification","actions":[{"label":"a","url":"/a"}]}`, false},
		{`{"type":"SendNotification","tags":["a"]}`, false},
		{`{"type":"SeeNotification","notificationId":"x"}`, true},
	} {
		ok, fast, std, err := decodeBoth([]byte(c.payload))
		if ok != c.fast {
			t.Errorf("%s: fast path %v, want %v", c.payload, ok, c.fast)
		}
		if ok && (err != nil || !reflect.DeepEqual(fast, std)) {
			t.Errorf("%s: fast %+v, encoding/json %+v (%v)", c.payload, fast, std, err)
		}
	}
}

// FuzzDecodeFlatMatchesEncodingJSON: whatever the fast path accepts, encoding/json decodes to
// the same command.
func FuzzDecodeFlatMatchesEncodingJSON(f *testing.F) {
	f.Add([]byte(`{"type":"SendNotification","commandId":"c1","recipientId":"alice","content":"hello there","category":"c"}`))
	f.Add([]byte(`{"recipientId":"4f1f5c8a","content":"Você recebeu uma solicitação de amizade","category":"social"}`))
	f.Add([]byte(`{"content":"a","content":"b","Content":"c"}`))
	f.Add([]byte(`{"type":"SendNotification","title":"t","actionUrl":"/a","data":{"k":[1]},"actions":[{"label":"a","url":"/a"}],"tags":["x"]}`))
	f.Add([]byte(`{"type":"ArchiveNotification","notificationId":"n","title":"t"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		ok, fast, std, err := decodeBoth(payload)
		if ok && (err != nil || !reflect.DeepEqual(fast, std)) {
			t.Fatalf("%q: fast %+v, encoding/json %+v (%v)", payload, fast, std, err)
		}
	})
}
