package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/eventnotify/notify/infra/transport/httpapi"
	"github.com/eventnotify/notify/infra/transport/httpapi/auth"
)

var (
	jwtSecret = []byte("test-secret-of-thirty-two-bytes!")
	sendKey   = "svc-key-for-tests"
	adminKey  = "ops-key-for-tests"
)

const (
	issuer   = "https://id.test"
	audience = "notify"
)

// secured serves the API with API keys and HS256 tokens configured.
func secured(t *testing.T, rate float64, burst int) api {
	t.Helper()
	return startWith(t, httpapi.Security{Auth: testAuth(t), RatePerSecond: rate, Burst: burst, RequestTimeout: 10 * time.Second})
}

// testAuth is the authenticator of the secured tests: the send and admin keys, HS256 tokens.
func testAuth(t *testing.T) *auth.Authenticator {
	t.Helper()
	keys, err := auth.ParseAPIKeys(auth.HashKey(sendKey) + ":send," + auth.HashKey(adminKey) + ":admin")
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{APIKeys: keys, JWT: auth.JWTConfig{Secret: jwtSecret, Issuer: issuer, Audience: audience}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func token(t *testing.T, key []byte, sub, aud string, exp time.Duration) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": sub, "iss": issuer, "aud": aud, "exp": time.Now().Add(exp).Unix(),
	}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// creds are the caller identities of the matrix, as request headers.
func creds(t *testing.T) map[string][]string {
	return map[string][]string{
		"no token":        nil,
		"wrong recipient": {"Authorization", "Bearer " + token(t, jwtSecret, "bob", audience, time.Minute)},
		"expired":         {"Authorization", "Bearer " + token(t, jwtSecret, "alice", audience, -time.Hour)},
		"bad signature":   {"Authorization", "Bearer " + token(t, []byte("not-the-secret-not-the-secret-xx"), "alice", audience, time.Minute)},
		"wrong audience":  {"Authorization", "Bearer " + token(t, jwtSecret, "alice", "another-api", time.Minute)},
		"right recipient": {"Authorization", "Bearer " + token(t, jwtSecret, "alice", audience, time.Minute)},
		"service key":     {auth.HeaderAPIKey, sendKey},
		"admin key":       {auth.HeaderAPIKey, adminKey},
		"unknown key":     {auth.HeaderAPIKey, "guessed"},
	}
}

// sendAs creates a notification for recipient with the send key and returns its id.
func (a api) sendAs(t *testing.T, recipient string) string {
	t.Helper()
	r := a.do(t, "POST", "/notifications", jsonCT, `{"recipientId":"`+recipient+`","content":"hello there","category":"c"}`, auth.HeaderAPIKey, sendKey)
	if r.status != http.StatusCreated {
		t.Fatalf("setup send = %d %s", r.status, r.body)
	}
	var n struct{ Notification struct{ ID string } }
	if err := json.Unmarshal([]byte(r.body), &n); err != nil {
		t.Fatal(err)
	}
	a.waitFor(t, r)
	return n.Notification.ID
}

// statusOf reads alice's notification id through the admin key.
func (a api) statusOf(t *testing.T, recipient, id string) string {
	t.Helper()
	r := a.do(t, "GET", "/notifications/from/"+recipient, "", "", auth.HeaderAPIKey, adminKey)
	var got struct{ Notifications []map[string]any }
	json.Unmarshal([]byte(r.body), &got)
	for _, n := range got.Notifications {
		if n["id"] == id {
			return n["status"].(string)
		}
	}
	t.Fatalf("%s not in %s's inbox: %s", id, recipient, r.body)
	return ""
}

// TestAuthorization_Matrix: every route × every kind of caller, with the exact status.
// Recipient routes concern alice; "wrong recipient" is bob's valid token.
func TestAuthorization_Matrix(t *testing.T) {
	t.Parallel()
	a := secured(t, 0, 0)
	cs := creds(t)
	type want map[string]int
	deny := want{"no token": 401, "expired": 401, "bad signature": 401, "wrong audience": 401, "unknown key": 401}
	with := func(w want) want {
		for k, v := range deny {
			w[k] = v
		}
		return w
	}
	send := with(want{"wrong recipient": 403, "right recipient": 403, "service key": 201, "admin key": 403})
	change := with(want{"wrong recipient": 404, "right recipient": 200, "service key": 200, "admin key": 403})
	read := with(want{"wrong recipient": 404, "right recipient": 200, "service key": 403, "admin key": 200})
	readAll := with(want{"wrong recipient": 404, "right recipient": 200, "service key": 200, "admin key": 403})
	adminOnly := with(want{"wrong recipient": 403, "right recipient": 403, "service key": 403, "admin key": 200})
	adminReplay := with(want{"wrong recipient": 403, "right recipient": 403, "service key": 403, "admin key": 202})
	health := want{"no token": 200, "wrong recipient": 200, "right recipient": 200, "service key": 200, "admin key": 200,
		"expired": 401, "bad signature": 401, "wrong audience": 401, "unknown key": 401}
	routes := []struct {
		method, path string // {id} is a fresh notification of alice
		want         want
	}{
		{"POST", "/notifications", send},
		{"PATCH", "/notifications/{id}/read", change},
		{"PATCH", "/notifications/{id}/unread", change},
		{"PATCH", "/notifications/{id}/cancel", change},
		{"GET", "/notifications/count/from/alice", read},
		{"GET", "/notifications/from/alice", read},
		{"POST", "/v1/notifications", send},
		{"POST", "/v1/notifications/{id}/read", change},
		{"POST", "/v1/notifications/{id}/unread", change},
		{"POST", "/v1/notifications/{id}/cancel", change},
		{"POST", "/v1/notifications/{id}/seen", change},
		{"POST", "/v1/notifications/{id}/archive", change},
		{"POST", "/v1/notifications/{id}/unarchive", change},
		{"GET", "/v1/projections", adminOnly},
		{"POST", "/v1/projections/inbox/replay", adminReplay},
		{"GET", "/v1/notifications/{id}", read},
		{"GET", "/v1/notifications/{id}/history", read},
		{"GET", "/v1/recipients/alice/notifications/count", read},
		{"GET", "/v1/recipients/alice/notifications", read},
		{"POST", "/v1/recipients/alice/notifications/read-all", readAll},
		{"POST", "/v1/recipients/alice/notifications/bulk", readAll},
		{"GET", "/healthz", health},
		{"GET", "/readyz", health},
		{"GET", "/openapi.json", health},
		{"GET", "/metrics", adminOnly},
	}
	for _, rt := range routes {
		for who, status := range rt.want {
			t.Run(rt.method+" "+rt.path+" as "+who, func(t *testing.T) {
				path, body, ct := rt.path, "", ""
				if strings.Contains(path, "{id}") { // a fresh notification of alice (sent only when needed)
					id := a.sendAs(t, "alice")
					path = strings.Replace(path, "{id}", id, 1)
				}
				if rt.method == "POST" {
					body, ct = `{"recipientId":"alice","content":"hello there","category":"c"}`, jsonCT
					if strings.HasSuffix(path, "/bulk") {
						body = `{"action":"seen","filter":{}}`
					}
				}
				r := a.do(t, rt.method, path, ct, body, cs[who]...)
				if r.status != status {
					t.Fatalf("%s %s as %s = %d %s, want %d", rt.method, path, who, r.status, r.body, status)
				}
				if status >= 400 && r.header.Get("Content-Type") != "application/problem+json" {
					t.Fatalf("a refusal must be a problem document, got %s", r.header.Get("Content-Type"))
				}
				if status == 401 && r.header.Get("WWW-Authenticate") == "" {
					t.Fatalf("401 without WWW-Authenticate")
				}
			})
		}
	}
}

// TestAuthorization_WrongRecipientLearnsNothing: for every route taking an id, bob's token on
// alice's notification gets exactly what an unknown id gets, and changes nothing.
func TestAuthorization_WrongRecipientLearnsNothing(t *testing.T) {
	t.Parallel()
	a := secured(t, 0, 0)
	bob := []string{"Authorization", "Bearer " + token(t, jwtSecret, "bob", audience, time.Minute)}
	id := a.sendAs(t, "alice")
	a.sendAs(t, "bob")
	unknown := "00000000-0000-4000-8000-000000000000"
	for _, verb := range []string{"read", "cancel", "unread"} {
		theirs := a.do(t, "PATCH", "/notifications/"+id+"/"+verb, "", "", bob...)
		none := a.do(t, "PATCH", "/notifications/"+unknown+"/"+verb, "", "", bob...)
		if theirs.status != 404 || none.status != 404 {
			t.Fatalf("bob %s alice's = %d, an unknown id = %d; want 404 for both", verb, theirs.status, none.status)
		}
		if strings.ReplaceAll(theirs.body, id, unknown) != none.body {
			t.Fatalf("the answers differ:\n alice's: %s\n unknown: %s", theirs.body, none.body)
		}
		// Replaying a key alice used does not get past the check either.
		replay := a.do(t, "PATCH", "/notifications/"+id+"/"+verb, "", "", append(bob, "Idempotency-Key", "alice-read")...)
		if replay.status != 404 {
			t.Fatalf("bob replaying a key = %d", replay.status)
		}
	}
	for _, verb := range []string{"read", "seen", "archive", "unarchive", "cancel"} {
		theirs := a.do(t, "POST", "/v1/notifications/"+id+"/"+verb, "", "", bob...)
		none := a.do(t, "POST", "/v1/notifications/"+unknown+"/"+verb, "", "", bob...)
		if theirs.status != 404 || strings.ReplaceAll(theirs.body, id, unknown) != none.body {
			t.Fatalf("bob POST /v1 %s on alice's = %d %s, an unknown id = %d %s; want the same 404", verb, theirs.status, theirs.body, none.status, none.body)
		}
	}
	if got := a.statusOf(t, "alice", id); got != "sent" {
		t.Fatalf("alice's notification is %s after bob's attempts, want sent", got)
	}
	if h := a.do(t, "GET", "/v1/notifications/"+id+"/history", "", "", auth.HeaderAPIKey, adminKey); strings.Count(h.body, `"type":"Notification`) != 1 {
		t.Fatalf("alice's history after bob's attempts = %s, want the send alone", h.body)
	}
	for _, path := range []string{"/notifications/from/alice", "/notifications/count/from/alice"} {
		if r := a.do(t, "GET", path, "", "", bob...); r.status != 404 || strings.Contains(r.body, "hello") {
			t.Fatalf("bob GET %s = %d %s, want 404 with nothing of alice's", path, r.status, r.body)
		}
	}
	if r := a.do(t, "GET", "/notifications/count/from/bob", "", "", bob...); r.status != 200 || r.body != `{"count":1}` {
		t.Fatalf("bob's own count = %d %s", r.status, r.body)
	}
	// The path is compared decoded and exactly: an encoded subject is the same recipient, a
	// differently cased one is not.
	mail := []string{"Authorization", "Bearer " + token(t, jwtSecret, "user@example.com", audience, time.Minute)}
	if r := a.do(t, "GET", "/notifications/count/from/user%40example.com", "", "", mail...); r.status != 200 {
		t.Fatalf("an encoded own recipient = %d %s", r.status, r.body)
	}
	if r := a.do(t, "GET", "/notifications/count/from/User@example.com", "", "", mail...); r.status != 404 {
		t.Fatalf("a differently cased recipient = %d %s, want 404", r.status, r.body)
	}
}

func TestRateLimit_PerCredentialWithRetryAfter(t *testing.T) {
	t.Parallel()
	a := secured(t, 1, 2)
	alice := []string{"Authorization", "Bearer " + token(t, jwtSecret, "alice", audience, time.Minute)}
	for i := 0; i < 2; i++ {
		if r := a.do(t, "GET", "/notifications/count/from/alice", "", "", alice...); r.status != 200 {
			t.Fatalf("request %d within the burst = %d %s", i+1, r.status, r.body)
		}
	}
	r := a.do(t, "GET", "/notifications/count/from/alice", "", "", alice...)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "1" || r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("over the rate = %d Retry-After %q %s, want 429 with Retry-After 1", r.status, r.header.Get("Retry-After"), r.body)
	}
	// Other credentials have their own bucket; guessing keys is limited per client IP.
	if r := a.do(t, "GET", "/notifications/count/from/bob", "", "", "Authorization", "Bearer "+token(t, jwtSecret, "bob", audience, time.Minute)); r.status != 200 {
		t.Fatalf("another recipient = %d, want 200", r.status)
	}
	// A liveness probe answers even when its caller's bucket is spent.
	if r := a.do(t, "GET", "/healthz", "", "", alice...); r.status != 200 {
		t.Fatalf("/healthz with a spent bucket = %d, want 200", r.status)
	}
	statuses := []int{}
	for i := 0; i < 3; i++ {
		statuses = append(statuses, a.do(t, "GET", "/healthz", "", "", auth.HeaderAPIKey, "guess-"+string(rune('a'+i))).status)
	}
	if statuses[0] != 401 || statuses[1] != 401 || statuses[2] != 429 {
		t.Fatalf("guessed keys = %v, want 401 401 429", statuses)
	}
}

func TestLimits_DeepJSONIsRefused(t *testing.T) {
	t.Parallel()
	a := start(t)
	deep := `{"recipientId":"r","content":"hello there","category":"c","x":` + strings.Repeat("[", httpapi.MaxDepth) + strings.Repeat("]", httpapi.MaxDepth) + `}`
	r := a.do(t, "POST", "/notifications", jsonCT, deep)
	if r.status != 400 || !strings.Contains(r.body, "nests deeper") {
		t.Fatalf("deep JSON = %d %s, want 400", r.status, r.body)
	}
	ok := `{"recipientId":"r","content":"hello [{ there","category":"c","x":` + strings.Repeat("[", httpapi.MaxDepth-1) + strings.Repeat("]", httpapi.MaxDepth-1) + `}`
	if r := a.do(t, "POST", "/notifications", jsonCT, ok); r.status != 201 {
		t.Fatalf("JSON at the depth limit, brackets in a string = %d %s, want 201", r.status, r.body)
	}
}

func TestLimits_RequestTimeoutIs503(t *testing.T) {
	t.Parallel()
	a := startWith(t, httpapi.Security{RequestTimeout: time.Nanosecond})
	// A command waits on the event store, which honours the deadline. (Embedded inbox reads
	// are bounded by the page cap and do not consult the context.)
	r := a.do(t, "POST", "/notifications", jsonCT, `{"recipientId":"r","content":"hello there","category":"c"}`)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "did not complete in time") {
		t.Fatalf("POST past its deadline = %d %s, want 503", r.status, r.body)
	}
}
