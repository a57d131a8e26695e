package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestV1_RichSend: POST /v1/notifications takes the optional title, data, action URL, actions
// and tags; GET /v1/notifications/{id} shows them back as the domain normalized them (trimmed,
// data compacted) and the history's NotificationSent carries them; a send without them shows
// none of them, with seenAt and archivedAt null.
func TestV1_RichSend(t *testing.T) {
	t.Parallel()
	a := start(t)
	r := a.do(t, "POST", "/v1/notifications", jsonCT, `{"recipientId":"rich","content":"Your order shipped","category":"orders",
		"title":"  Shipped  ","data":{ "orderId" : 7, "items":[1,2] },"actionUrl":"https://shop.example/orders/7",
		"actions":[{"label":"Track","url":"/orders/7/track"},{"label":"Return","url":"https://shop.example/r"}],"tags":["orders","eu-west"]}`)
	if r.status != http.StatusCreated {
		t.Fatalf("rich send = %d %s", r.status, r.body)
	}
	var res struct{ ID string }
	json.Unmarshal([]byte(r.body), &res)
	one := a.do(t, "GET", "/v1/notifications/"+res.ID, "", "")
	for _, want := range []string{`"title":"Shipped"`, `"data":{"orderId":7,"items":[1,2]}`, `"actionUrl":"https://shop.example/orders/7"`,
		`"actions":[{"label":"Track","url":"/orders/7/track"},{"label":"Return","url":"https://shop.example/r"}]`, `"tags":["orders","eu-west"]`,
		`"seenAt":null`, `"archivedAt":null`, `"status":"sent"`} {
		if one.status != 200 || !strings.Contains(one.body, want) {
			t.Fatalf("GET = %d %s, want %s", one.status, one.body, want)
		}
	}
	h := a.do(t, "GET", "/v1/notifications/"+res.ID+"/history", "", "")
	if !strings.Contains(h.body, `"title":"Shipped","data":{"orderId":7,"items":[1,2]}`) {
		t.Fatalf("history = %s, want the rich fields in NotificationSent", h.body)
	}

	plain := a.do(t, "POST", "/v1/notifications", jsonCT, `{"recipientId":"rich","content":"Nothing more","category":"c","title":null,"data":null,"actions":null,"tags":null}`)
	json.Unmarshal([]byte(plain.body), &res)
	one = a.do(t, "GET", "/v1/notifications/"+res.ID, "", "")
	var v map[string]any
	if err := json.Unmarshal([]byte(one.body), &v); err != nil || plain.status != 201 {
		t.Fatalf("plain send = %d %s, GET %s", plain.status, plain.body, one.body)
	}
	for _, f := range []string{"title", "data", "actionUrl", "actions", "tags"} {
		if _, ok := v[f]; ok {
			t.Fatalf("a plain notification shows %s: %s", f, one.body)
		}
	}
	if s, ok := v["seenAt"]; !ok || s != nil {
		t.Fatalf("seenAt of a plain notification = %v (present %v), want null", s, ok)
	}

	// The same Idempotency-Key with other rich fields is another command: 409.
	body := `{"recipientId":"rich","content":"Keyed send","category":"c","tags":["a"]}`
	if r := a.do(t, "POST", "/v1/notifications", jsonCT, body, "Idempotency-Key", "rich-1"); r.status != 201 {
		t.Fatalf("keyed = %d %s", r.status, r.body)
	}
	if r := a.do(t, "POST", "/v1/notifications", jsonCT, body, "Idempotency-Key", "rich-1"); r.status != 201 {
		t.Fatalf("keyed retry = %d %s", r.status, r.body)
	}
	if r := a.do(t, "POST", "/v1/notifications", jsonCT, strings.Replace(body, `"a"`, `"b"`, 1), "Idempotency-Key", "rich-1"); r.status != 409 {
		t.Fatalf("keyed, other tags = %d %s, want 409", r.status, r.body)
	}
}

// TestV1_RichSendErrors: a broken rule or a value of the wrong type is a 400 naming the field
// with its index, in the problem document the other fields use.
func TestV1_RichSendErrors(t *testing.T) {
	t.Parallel()
	a := start(t)
	base := `"recipientId":"r","content":"hello there","category":"c"`
	for _, tc := range []struct {
		name, extra, ptype, fields string
	}{
		{"title too long", `"title":"` + strings.Repeat("t", 121) + `"`, "invalid-input", "title"},
		{"data not an object", `"data":[1]`, "invalid-input", "data"},
		{"data a string", `"data":"x"`, "invalid-input", "data"},
		{"data too deep", `"data":{"a":[[[[[[[[1]]]]]]]]}`, "invalid-input", "data"},
		{"data too large", `"data":{"a":"` + strings.Repeat("x", 4100) + `"}`, "invalid-input", "data"},
		{"action URL not http", `"actionUrl":"javascript:alert(1)"`, "invalid-input", "actionUrl"},
		{"action URL to another host", `"actionUrl":"//evil.example/x"`, "invalid-input", "actionUrl"},
		{"three actions", `"actions":[{"label":"a","url":"/a"},{"label":"b","url":"/b"},{"label":"c","url":"/c"}]`, "invalid-input", "actions"},
		{"an action's bad URL", `"actions":[{"label":"a","url":"/a"},{"label":"b","url":"ftp://x"}]`, "invalid-input", "actions[1].url"},
		{"an action without a label", `"actions":[{"url":"/a"}]`, "invalid-input", "actions[0].label"},
		{"eleven tags", `"tags":["a","b","c","d","e","f","g","h","i","j","k"]`, "invalid-input", "tags"},
		{"a bad tag and a repeated one", `"tags":["ok","Not OK","ok"]`, "invalid-input", "tags[1],tags[2]"},
		{"every rule together", `"recipientId":"","title":"` + strings.Repeat("t", 121) + `","tags":["-x"]`, "invalid-input", "recipientId,title,tags[0]"},
		{"title not a string", `"title":5`, "malformed-body", "title"},
		{"actions not an array", `"actions":{"label":"a"}`, "malformed-body", "actions"},
		{"an action not an object", `"actions":[{"label":"a","url":"/a"},"b"]`, "malformed-body", "actions[1]"},
		{"an action's URL not a string", `"actions":[{"label":"a","url":7}]`, "malformed-body", "actions[0].url"},
		{"a tag not a string", `"tags":["a",1]`, "malformed-body", "tags[1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := "{" + base + "," + tc.extra + "}"
			if strings.HasPrefix(tc.extra, `"recipientId"`) {
				body = `{"content":"hello there","category":"c",` + tc.extra + "}"
			}
			r := a.do(t, "POST", "/v1/notifications", jsonCT, body)
			var p struct {
				Type   string
				Errors []struct{ Field, Rule string }
			}
			json.Unmarshal([]byte(r.body), &p)
			var fields []string
			for _, e := range p.Errors {
				fields = append(fields, e.Field)
				if e.Rule == "" {
					t.Fatalf("a field without its rule: %s", r.body)
				}
			}
			if r.status != 400 || r.header.Get("Content-Type") != "application/problem+json" || p.Type != "urn:notify:problem:"+tc.ptype || strings.Join(fields, ",") != tc.fields {
				t.Fatalf("%s = %d %s, want a 400 %s naming %s", tc.extra, r.status, r.body, tc.ptype, tc.fields)
			}
		})
	}
}

// TestV1_SeenArchiveUnarchive: the three routes answer as /read does (id and position; a
// repeat is a no-op at the same position), GET shows seenAt and archivedAt, the history lists
// the events, and a canceled notification may be archived but not seen.
func TestV1_SeenArchiveUnarchive(t *testing.T) {
	t.Parallel()
	a := start(t)
	sent := a.do(t, "POST", "/v1/notifications", jsonCT, `{"recipientId":"sa","content":"See and archive me","category":"c"}`)
	var got struct {
		ID       string
		Position uint64
	}
	json.Unmarshal([]byte(sent.body), &got)
	last := got.Position
	for _, tc := range []struct {
		name, verb string
		status     int
		moved      bool
	}{
		{"seen", "seen", 200, true},
		{"seen again", "seen", 200, false},
		{"archive", "archive", 200, true},
		{"archive again", "archive", 200, false},
		{"unarchive", "unarchive", 200, true},
		{"unarchive again", "unarchive", 200, false},
		{"archive once more", "archive", 200, true},
		{"cancel", "cancel", 200, true},
		{"unarchive a canceled one", "unarchive", 200, true},
		{"archive a canceled one", "archive", 200, true},
		{"see a canceled one", "seen", 409, false},
	} {
		r := a.do(t, "POST", "/v1/notifications/"+got.ID+"/"+tc.verb, "", "")
		if r.status != tc.status {
			t.Fatalf("%s: %d %s, want %d", tc.name, r.status, r.body, tc.status)
		}
		if tc.status != 200 {
			if !strings.Contains(r.body, `"type":"urn:notify:problem:conflict"`) {
				t.Fatalf("%s: %s, want a conflict problem", tc.name, r.body)
			}
			continue
		}
		var res struct {
			ID       string
			Position uint64
		}
		if err := json.Unmarshal([]byte(r.body), &res); err != nil || res.ID != got.ID {
			t.Fatalf("%s: %s", tc.name, r.body)
		}
		if (res.Position != last) != tc.moved || res.Position < last {
			t.Fatalf("%s: position %d after %d, want moved=%v", tc.name, res.Position, last, tc.moved)
		}
		last = res.Position
	}
	one := a.do(t, "GET", "/v1/notifications/"+got.ID, "", "")
	var v map[string]any
	json.Unmarshal([]byte(one.body), &v)
	if v["seenAt"] == nil || v["archivedAt"] == nil || v["status"] != "canceled" {
		t.Fatalf("GET after the changes = %s, want seen, archived and canceled", one.body)
	}
	h := a.do(t, "GET", "/v1/notifications/"+got.ID+"/history", "", "")
	var hist struct{ Events []struct{ Type string } }
	json.Unmarshal([]byte(h.body), &hist)
	var types []string
	for _, e := range hist.Events {
		types = append(types, strings.TrimPrefix(e.Type, "Notification"))
	}
	if want := "Sent Seen Archived Unarchived Archived Canceled Unarchived Archived"; strings.Join(types, " ") != want {
		t.Fatalf("history = %v, want %s", types, want)
	}

	// Reading implies seeing; an Idempotency-Key makes a retried change one change.
	sent = a.do(t, "POST", "/v1/notifications", jsonCT, `{"recipientId":"sa","content":"Read me first","category":"c"}`)
	json.Unmarshal([]byte(sent.body), &got)
	a.do(t, "POST", "/v1/notifications/"+got.ID+"/read", "", "")
	seen := a.do(t, "POST", "/v1/notifications/"+got.ID+"/seen", "", "")
	if !strings.Contains(seen.body, `"position":`) || seen.header.Get("Notify-Position") == "" {
		t.Fatalf("seen after read = %s", seen.body)
	}
	for range 2 {
		a.do(t, "POST", "/v1/notifications/"+got.ID+"/archive", "", "", "Idempotency-Key", "arch-1")
		a.do(t, "POST", "/v1/notifications/"+got.ID+"/unarchive", "", "", "Idempotency-Key", "unarch-1")
	}
	h = a.do(t, "GET", "/v1/notifications/"+got.ID+"/history", "", "")
	if strings.Contains(h.body, "NotificationSeen") || strings.Count(h.body, `"NotificationArchived"`) != 1 || strings.Count(h.body, `"NotificationUnarchived"`) != 1 {
		t.Fatalf("history = %s, want no Seen after a read and one archive and unarchive for the retried keys", h.body)
	}
	for _, verb := range []string{"seen", "archive", "unarchive"} {
		if r := a.do(t, "POST", "/v1/notifications/00000000-0000-4000-8000-000000000000/"+verb, "", ""); r.status != 404 {
			t.Fatalf("%s of an unknown id = %d %s", verb, r.status, r.body)
		}
		if r := a.do(t, "POST", "/v1/notifications/nope/"+verb, "", ""); r.status != 400 || !strings.Contains(r.body, `"field":"id"`) {
			t.Fatalf("%s of a bad id = %d %s", verb, r.status, r.body)
		}
		if r := a.do(t, "POST", "/v1/notifications/"+got.ID+"/"+verb+"?x=1", "", ""); r.status != 400 {
			t.Fatalf("%s with a query parameter = %d %s", verb, r.status, r.body)
		}
	}
}
