package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeJSON: whatever the body, decoding never panics, and a refusal is a 400 problem
// whose detail says what is wrong; for the /v1 send too, whose actions and tags are read
// element by element. The seed corpus is in testdata/fuzz/FuzzDecodeJSON.
func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"recipientId":"alice","content":"hello there","category":"c"}`))
	f.Add([]byte(`{"recipientId":"a","content":"hello there","category":"c","title":"t","data":{"k":[1,{"x":null}]},"actionUrl":"/a","actions":[{"label":"Go","url":"/go"}],"tags":["x","y"]}`))
	f.Add([]byte(`{"actions":[{"label":1},"b",null],"tags":[1,"a",{}],"data":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var b sendBody
		check(t, body, unmarshalBody(body, &b))
		var v1 sendBodyV1
		err := unmarshalBody(body, &v1)
		if err == nil {
			_, err = v1.rich()
		}
		check(t, body, err)
	})
}

// check holds one decoding's outcome to the rules: accepted only when valid, else a bodyError
// with a rule that becomes a readable 400.
func check(t *testing.T, body []byte, err error) {
	t.Helper()
	if err == nil {
		if !json.Valid(body) || !utf8.Valid(body) || depth(body) > MaxDepth {
			t.Fatalf("accepted %q: invalid or too deep", body)
		}
		return
	}
	var be *bodyError
	if !errors.As(err, &be) || be.rule == "" {
		t.Fatalf("%q: error %T %v is not a bodyError with a rule", body, err, err)
	}
	p := problemFor(err)
	if p.Status != http.StatusBadRequest || p.Detail == "" || !utf8.ValidString(p.Detail) {
		t.Fatalf("%q: problem %+v, want a 400 with a readable detail", body, p)
	}
	if _, err := json.Marshal(p); err != nil {
		t.Fatalf("%q: the problem does not encode: %v", body, err)
	}
}
