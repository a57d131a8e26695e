package kafkabridge

import (
	"encoding/json"
	"testing"
)

func decodeBoth(payload []byte) (fastOK bool, fast, std Envelope, stdErr error) {
	fastOK = decodeFlat(payload, envelopeFields, []*string{&fast.Type, &fast.CommandID, &fast.CorrelationID, &fast.NotificationID, &fast.RecipientID, &fast.Content, &fast.Category})
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
	} {
		ok, fast, std, err := decodeBoth([]byte(c.payload))
		if ok != c.fast {
			t.Errorf("%s: fast path %v, want %v", c.payload, ok, c.fast)
		}
		if ok && (err != nil || fast != std) {
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
	f.Fuzz(func(t *testing.T, payload []byte) {
		ok, fast, std, err := decodeBoth(payload)
		if ok && (err != nil || fast != std) {
			t.Fatalf("%q: fast %+v, encoding/json %+v (%v)", payload, fast, std, err)
		}
	})
}
