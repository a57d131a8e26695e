package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/app/query"
	"github.com/eventnotify/notify/infra/platform/metrics"
	"github.com/eventnotify/notify/infra/service/servicetest"
	"github.com/eventnotify/notify/infra/store/eventlog"
	"github.com/eventnotify/notify/infra/transport/httpapi"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

type api struct {
	url    string
	runner *projections.Runner[inbox.Tx]
	log    *eventlog.Store
	// replayLog is the log replays read: hold it to keep a replay running.
	replayLog *gatedLog
	// elsewhere is how far other instances have taken the shared log beyond this one's: the
	// API's Head is the log head plus it.
	elsewhere *atomic.Uint64
}

// gatedLog is the real event log with a gate: while held, new subscriptions wait.
type gatedLog struct {
	projections.Log
	mu   sync.Mutex
	gate chan struct{} // closed: open
}

func newGatedLog(log projections.Log) *gatedLog {
	g := &gatedLog{Log: log, gate: make(chan struct{})}
	close(g.gate)
	return g
}

func (g *gatedLog) hold() {
	g.mu.Lock()
	g.gate = make(chan struct{})
	g.mu.Unlock()
}

func (g *gatedLog) release() {
	g.mu.Lock()
	close(g.gate)
	g.mu.Unlock()
}

func (g *gatedLog) Subscribe(ctx context.Context, from eventstore.Position, f eventstore.Filter, h func(context.Context, eventstore.Batch) error) error {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	select {
	case <-gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Log.Subscribe(ctx, from, f, h)
}

// start serves the API over real HTTP on the real embedded stores, with no authentication.
func start(t *testing.T) api {
	t.Helper()
	return startWith(t, httpapi.Security{})
}

// startWith serves the API with the given security settings, observed by a metrics
// registry as the service is.
func startWith(t *testing.T, sec httpapi.Security) api {
	t.Helper()
	return startOpts(t, httpapi.Options{Security: sec})
}

// startOpts serves the API with the given options (Metrics is set here).
func startOpts(t *testing.T, o httpapi.Options) api {
	t.Helper()
	var replayLog *gatedLog
	elsewhere := new(atomic.Uint64)
	reg := metrics.New(nil)
	c := servicetest.NewComponentTestApplication(t, servicetest.Options{
		ReadWait:  300 * time.Millisecond,
		Metrics:   reg,
		ReplayLog: func(log projections.Log) projections.Log { replayLog = newGatedLog(log); return replayLog },
		Head:      func(p eventstore.Position) eventstore.Position { return p + eventstore.Position(elsewhere.Load()) },
	})
	o.Metrics = reg
	srv := httptest.NewServer(httpapi.New(c.App, o))
	t.Cleanup(srv.Close)
	return api{url: srv.URL, runner: c.Runner, replayLog: replayLog, log: c.Log, elsewhere: elsewhere}
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (a api) do(t *testing.T, method, path, contentType, body string, headers ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, a.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	checkAgainstDoc(t, req, res, b) // every answer of every test must be one the OpenAPI document allows
	return reply{res.StatusCode, res.Header, string(b)}
}

// waitFor makes the next query see a command's effect (the read model is eventually consistent).
func (a api) waitFor(t *testing.T, r reply) {
	t.Helper()
	var pos uint64
	fmt.Sscan(r.header.Get(httpapi.HeaderPosition), &pos)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.runner.WaitFor(ctx, eventstorePosition(pos)); err != nil {
		t.Fatal(err)
	}
}

const jsonCT = "application/json"

func TestSeedRoutes_Lifecycle(t *testing.T) {
	t.Parallel()
	a := start(t)
	created := a.do(t, "POST", "/notifications", jsonCT, `{"recipientId":"r-1","content":"You have a new sale","category":"sales"}`)
	if created.status != http.StatusCreated || created.header.Get("Content-Type") != jsonCT {
		t.Fatalf("POST = %d %s %s", created.status, created.header.Get("Content-Type"), created.body)
	}
	var body struct{ Notification map[string]any }
	if err := json.Unmarshal([]byte(created.body), &body); err != nil {
		t.Fatal(err)
	}
	n := body.Notification
	for _, f := range []string{"id", "recipientId", "content", "category", "readAt", "canceledAt", "createdAt"} {
		if _, ok := n[f]; !ok {
			t.Fatalf("created notification lacks the seed field %q: %s", f, created.body)
		}
	}
	id := n["id"].(string)
	a.waitFor(t, created)

	if r := a.do(t, "GET", "/notifications/count/from/r-1", "", ""); r.status != 200 || r.body != `{"count":1}` {
		t.Fatalf("count = %d %s", r.status, r.body)
	}
	for _, step := range []struct{ path, status string }{{"read", "read"}, {"unread", "sent"}, {"cancel", "canceled"}} {
		r := a.do(t, "PATCH", "/notifications/"+id+"/"+step.path, "", "")
		if r.status != http.StatusOK || r.body != "" {
			t.Fatalf("PATCH %s = %d %q, want 200 with an empty body", step.path, r.status, r.body)
		}
		a.waitFor(t, r)
		list := a.do(t, "GET", "/notifications/from/r-1", "", "")
		var got struct{ Notifications []map[string]any }
		if err := json.Unmarshal([]byte(list.body), &got); err != nil || len(got.Notifications) != 1 {
			t.Fatalf("list = %d %s (%v)", list.status, list.body, err)
		}
		if got.Notifications[0]["status"] != step.status {
			t.Fatalf("after %s the status is %v, want %s", step.path, got.Notifications[0]["status"], step.status)
		}
	}
	mail := a.do(t, "POST", "/notifications", jsonCT, `{"recipientId":"user@example.com","content":"Encoded recipients work","category":"c"}`)
	a.waitFor(t, mail)
	if r := a.do(t, "GET", "/notifications/count/from/user%40example.com", "", ""); r.status != 200 || r.body != `{"count":1}` {
		t.Fatalf("count of an encoded recipient = %d %s", r.status, r.body)
	}
	if r := a.do(t, "GET", "/notifications/from/nobody", "", ""); r.status != 200 || r.body != `{"notifications":[]}` {
		t.Fatalf("empty inbox = %d %s", r.status, r.body)
	}
}

func TestSend_IdempotencyKeyMakesRetriesSafe(t *testing.T) {
	t.Parallel()
	a := start(t)
	body := `{"recipientId":"r-2","content":"Your order shipped","category":"orders"}`
	first := a.do(t, "POST", "/notifications", jsonCT, body, "Idempotency-Key", "order-7")
	again := a.do(t, "POST", "/notifications", jsonCT, body, "Idempotency-Key", "order-7")
	if first.status != 201 || again.status != 201 || first.body != again.body {
		t.Fatalf("retry with the same key: %d %s / %d %s", first.status, first.body, again.status, again.body)
	}
	a.waitFor(t, again)
	if r := a.do(t, "GET", "/notifications/count/from/r-2", "", ""); r.body != `{"count":1}` {
		t.Fatalf("count after a retried send = %s, want 1", r.body)
	}
	other := a.do(t, "POST", "/notifications", jsonCT, `{"recipientId":"r-2","content":"Something else","category":"orders"}`, "Idempotency-Key", "order-7")
	if other.status != http.StatusConflict {
		t.Fatalf("same key, other body = %d %s, want 409", other.status, other.body)
	}
}

func TestErrors_AreProblemDocuments(t *testing.T) {
	t.Parallel()
	a := start(t)
	canceled := a.do(t, "POST", "/notifications", jsonCT, `{"recipientId":"r-3","content":"to be canceled","category":"c"}`)
	var n struct{ Notification struct{ ID string } }
	json.Unmarshal([]byte(canceled.body), &n)
	a.do(t, "PATCH", "/notifications/"+n.Notification.ID+"/cancel", "", "")
	unknown := "00000000-0000-4000-8000-000000000000"

	tests := []struct {
		name, method, path, ct, body string
		status                       int
		field, detail                string
		headers                      []string
	}{
		{"unknown query parameter on a command", "POST", "/v1/recipients/r-3/notifications/read-all?category=b", jsonCT, `{}`, 400, "category", "not a parameter of this route (it takes none)", nil},
		{"unknown query parameter on a page", "GET", "/v1/recipients/r-3/notifications?sort=asc", "", "", 400, "sort", "it takes archived, category, cursor, limit, minPosition, status, tag", nil},
		{"limit 0", "GET", "/v1/recipients/r-3/notifications?limit=0", "", "", 400, "limit", "from 1 to 100", nil},
		{"limit over the maximum", "GET", "/v1/recipients/r-3/notifications?limit=101", "", "", 400, "limit", "from 1 to 100", nil},
		{"Idempotency-Key too long", "POST", "/notifications", jsonCT, `{"recipientId":"r","content":"hello there","category":"c"}`, 400, "Idempotency-Key", "at most 200", []string{"Idempotency-Key", strings.Repeat("k", 201)}},
		{"wrong media type", "POST", "/notifications", "text/plain", `{}`, 415, "", "application/json", nil},
		{"no media type", "POST", "/notifications", "", `{}`, 415, "", "application/json", nil},
		{"body too large", "POST", "/notifications", jsonCT, `{"content":"` + strings.Repeat("a", httpapi.MaxBody) + `"}`, 413, "", "limit", nil},
		{"empty body", "POST", "/notifications", jsonCT, ``, 400, "", "empty", nil},
		{"malformed JSON", "POST", "/notifications", jsonCT, `{"recipientId":`, 400, "", "malformed JSON", nil},
		{"invalid UTF-8", "POST", "/notifications", jsonCT, "{\"recipientId\":\"r\",\"content\":\"hello \xff there\",\"category\":\"c\"}", 400, "", "UTF-8", nil},
		{"array body", "POST", "/notifications", jsonCT, `[1,2]`, 400, "", "JSON object", nil},
		{"content not a string", "POST", "/notifications", jsonCT, `{"recipientId":"r","content":42,"category":"c"}`, 400, "content", "must be a string", nil},
		{"content too short", "POST", "/notifications", jsonCT, `{"recipientId":"r","content":"hey","category":"c"}`, 400, "content", "5 to 240", nil},
		{"missing recipient", "POST", "/notifications", jsonCT, `{"content":"hello there","category":"c"}`, 400, "recipientId", "1 to 128", nil},
		{"missing category", "POST", "/notifications", jsonCT, `{"recipientId":"r","content":"hello there"}`, 400, "category", "1 to 64", nil},
		{"every broken rule", "POST", "/notifications", jsonCT, `{}`, 400, "recipientId,content,category", "recipientId: must be 1 to 128 characters; content: must be 5 to 240", nil},
		{"bad recipient in path", "GET", "/notifications/from/a%20b", "", "", 400, "recipientId", "letters, digits", nil},
		{"bad notification id", "PATCH", "/notifications/not-a-uuid/read", "", "", 400, "id", "UUID", nil},
		{"unknown notification", "PATCH", "/notifications/" + unknown + "/read", "", "", 404, "", "not found", nil},
		{"read a canceled one", "PATCH", "/notifications/" + n.Notification.ID + "/read", "", "", 409, "", "canceled", nil},
		{"unknown route", "GET", "/nothing-here", "", "", 404, "", "no route GET /nothing-here", nil},
		{"merge-patch is not JSON here", "POST", "/notifications", "application/merge-patch+json", `{}`, 415, "", "application/json", nil},
		{"wrong method", "DELETE", "/notifications", "", "", 405, "", "DELETE is not allowed on /notifications (allowed: OPTIONS, POST)", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.do(t, tt.method, tt.path, tt.ct, tt.body, tt.headers...)
			if r.status != tt.status || r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%s %s = %d %s %s, want %d problem+json", tt.method, tt.path, r.status, r.header.Get("Content-Type"), r.body, tt.status)
			}
			var p httpapi.Problem
			if err := json.Unmarshal([]byte(r.body), &p); err != nil {
				t.Fatal(err)
			}
			if p.Status != tt.status || p.Title == "" || !strings.Contains(p.Detail, tt.detail) {
				t.Fatalf("problem = %+v, want status %d and a detail mentioning %q", p, tt.status, tt.detail)
			}
			var fields []string
			for _, e := range p.Errors {
				fields = append(fields, e.Field)
			}
			if tt.field != "" && strings.Join(fields, ",") != tt.field {
				t.Fatalf("problem errors = %+v, want fields %q", p.Errors, tt.field)
			}
		})
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	a := start(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := a.do(t, "GET", path, "", ""); r.status != 200 {
			t.Fatalf("%s = %d %s", path, r.status, r.body)
		}
	}
}

// A query given a command's position answers with that command's effect, without polling;
// a position the read model does not reach in time is a 503 that says so.
func TestReadYourWrites(t *testing.T) {
	t.Parallel()
	a := start(t)
	for i := range 20 {
		created := a.do(t, "POST", "/notifications", jsonCT, fmt.Sprintf(`{"recipientId":"ryw","content":"Write number %d","category":"c"}`, i))
		pos := created.header.Get(httpapi.HeaderPosition)
		if r := a.do(t, "GET", "/notifications/count/from/ryw", "", "", httpapi.HeaderMinPosition, pos); r.status != 200 || r.body != fmt.Sprintf(`{"count":%d}`, i+1) {
			t.Fatalf("count right after write %d at position %s = %d %s", i, pos, r.status, r.body)
		}
		if r := a.do(t, "GET", "/notifications/from/ryw?minPosition="+pos, "", ""); r.status != 200 || !strings.Contains(r.body, fmt.Sprintf("Write number %d", i)) {
			t.Fatalf("list right after write %d = %d %s", i, r.status, r.body)
		}
	}
	r := a.do(t, "GET", "/notifications/count/from/ryw", "", "", httpapi.HeaderMinPosition, "999999999")
	if r.status != 400 || !strings.Contains(r.body, "ahead of the log head") {
		t.Fatalf("position beyond the log = %d %s, want 400 saying it is ahead of the log head", r.status, r.body)
	}
	// Another instance appended to the shared log; this read model has not seen it yet.
	a.elsewhere.Store(1000)
	r = a.do(t, "GET", "/notifications/count/from/ryw", "", "", httpapi.HeaderMinPosition, "1000")
	if r.status != 503 || r.header.Get("Retry-After") != "1" || !strings.Contains(r.body, "not-caught-up") {
		t.Fatalf("position not reached in time = %d %v %s, want 503 not-caught-up with Retry-After", r.status, r.header, r.body)
	}
	if r := a.do(t, "GET", "/notifications/count/from/ryw", "", "", httpapi.HeaderMinPosition, "soon"); r.status != 400 || !strings.Contains(r.body, `"field":"Notify-Min-Position"`) {
		t.Fatalf("bad position = %d %s, want 400 naming the header", r.status, r.body)
	}
	if r := a.do(t, "GET", "/notifications/count/from/ryw?minPosition=soon", "", ""); r.status != 400 || !strings.Contains(r.body, `"field":"minPosition"`) {
		t.Fatalf("bad position = %d %s, want 400 naming the query parameter", r.status, r.body)
	}
}

// The projection status names each projection with its position, lag and state; with no
// authentication configured it is served on loopback like every route.
func TestProjectionStatus(t *testing.T) {
	t.Parallel()
	a := start(t)
	created := a.do(t, "POST", "/notifications", jsonCT, `{"recipientId":"st","content":"Status check","category":"c"}`)
	a.waitFor(t, created)
	r := a.do(t, "GET", "/v1/projections", "", "")
	var st query.ProjectionsStatus
	if err := json.Unmarshal([]byte(r.body), &st); err != nil || r.status != 200 {
		t.Fatalf("GET /v1/projections = %d %s (%v)", r.status, r.body, err)
	}
	if len(st.Projections) != 1 || st.Projections[0].Name != inbox.Name || st.Projections[0].State != "live" ||
		st.Projections[0].Lag != 0 || st.Projections[0].Position != st.LogHead || st.LogHead == 0 {
		t.Fatalf("status = %+v, want the inbox live at the log head", st)
	}
}

// A replay answers 202 and runs in the background; a second one while it runs is a 409, an
// unknown projection a 404; once it is over the inbox reads the same and a new one may start.
func TestReplay_RunsOneAtATime(t *testing.T) {
	t.Parallel()
	a := start(t)
	for i := range 5 {
		a.waitFor(t, a.do(t, "POST", "/notifications", jsonCT, fmt.Sprintf(`{"recipientId":"rp","content":"Replay me %d","category":"c"}`, i)))
	}
	before := a.do(t, "GET", "/v1/recipients/rp/notifications", "", "").body
	a.replayLog.hold()
	tests := []struct {
		name, path string
		status     int
		want       string
	}{
		{"first", "/v1/projections/inbox/replay", 202, `"state":"replaying"`},
		{"while it runs", "/v1/projections/inbox/replay", 409, "already running"},
		{"unknown projection", "/v1/projections/inboxes/replay", 404, `no such projection: \"inboxes\"`},
	}
	for _, tt := range tests {
		r := a.do(t, "POST", tt.path, "", "")
		if r.status != tt.status || !strings.Contains(r.body, tt.want) {
			t.Fatalf("%s: %d %s, want %d with %s", tt.name, r.status, r.body, tt.status, tt.want)
		}
		if r.status >= 400 && r.header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s: content type %q", tt.name, r.header.Get("Content-Type"))
		}
	}
	if r := a.do(t, "GET", "/v1/projections", "", ""); !strings.Contains(r.body, `"state":"replaying"`) {
		t.Fatalf("status while replaying: %s", r.body)
	}
	a.replayLog.release()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := a.do(t, "GET", "/v1/projections", "", "")
		if strings.Contains(r.body, `"finishedAt"`) {
			if strings.Contains(r.body, `"error"`) || !strings.Contains(r.body, `"state":"live"`) {
				t.Fatalf("status after the replay: %s", r.body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replay not finished after 10s: %s", r.body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if after := a.do(t, "GET", "/v1/recipients/rp/notifications", "", "").body; after != before {
		t.Fatalf("inbox after the replay:\n%s\nbefore:\n%s", after, before)
	}
	if r := a.do(t, "POST", "/v1/projections/inbox/replay", "", ""); r.status != 202 {
		t.Fatalf("replay after the last one ended: %d %s", r.status, r.body)
	}
}

// One notification and its audit trail come straight from the event store; counts from the
// read model.
func TestV1_NotificationHistoryAndCounts(t *testing.T) {
	t.Parallel()
	a := start(t)
	created := a.do(t, "POST", "/notifications", jsonCT, `{"recipientId":"v1","content":"Audit me please","category":"c"}`, "X-Correlation-Id", "order-9")
	var n struct{ Notification struct{ ID string } }
	json.Unmarshal([]byte(created.body), &n)
	id := n.Notification.ID
	a.do(t, "PATCH", "/notifications/"+id+"/read", "", "")
	a.do(t, "PATCH", "/notifications/"+id+"/cancel", "", "")

	one := a.do(t, "GET", "/v1/notifications/"+id, "", "")
	var v map[string]any
	if err := json.Unmarshal([]byte(one.body), &v); err != nil || one.status != 200 || v["status"] != "canceled" || v["readAt"] == nil {
		t.Fatalf("GET one = %d %s", one.status, one.body)
	}
	h := a.do(t, "GET", "/v1/notifications/"+id+"/history", "", "")
	var hist struct {
		Events []struct {
			Type     string
			Revision uint64
			Metadata map[string]any
		}
	}
	if err := json.Unmarshal([]byte(h.body), &hist); err != nil || h.status != 200 || len(hist.Events) != 3 {
		t.Fatalf("history = %d %s", h.status, h.body)
	}
	for i, want := range []string{"NotificationSent", "NotificationRead", "NotificationCanceled"} {
		if e := hist.Events[i]; e.Type != want || e.Revision != uint64(i) {
			t.Fatalf("history[%d] = %+v, want %s at revision %d", i, e, want, i)
		}
	}
	if hist.Events[0].Metadata["correlationId"] != "order-9" {
		t.Fatalf("history metadata = %v, want the correlation id", hist.Events[0].Metadata)
	}
	if r := a.do(t, "GET", "/v1/notifications/00000000-0000-4000-8000-000000000000/history", "", ""); r.status != 404 {
		t.Fatalf("unknown history = %d %s", r.status, r.body)
	}
	unread := a.do(t, "POST", "/notifications", jsonCT, `{"recipientId":"v1","content":"Still unread one","category":"c"}`)
	c := a.do(t, "GET", "/v1/recipients/v1/notifications/count", "", "", httpapi.HeaderMinPosition, unread.header.Get(httpapi.HeaderPosition))
	if c.status != 200 || c.body != `{"total":2,"unread":1,"unseen":1}` {
		t.Fatalf("counts = %d %s, want total 2 unread 1", c.status, c.body)
	}
}

// The /v1 inbox pages newest first with an opaque cursor and filters by status and category.
func TestV1_InboxPages(t *testing.T) {
	t.Parallel()
	a := start(t)
	var ids []string
	var last reply
	for i := range 5 {
		cat := []string{"promo", "orders"}[i%2]
		last = a.do(t, "POST", "/notifications", jsonCT, fmt.Sprintf(`{"recipientId":"pager","content":"Page item %d","category":%q}`, i, cat))
		var n struct{ Notification struct{ ID string } }
		json.Unmarshal([]byte(last.body), &n)
		ids = append(ids, n.Notification.ID)
	}
	last = a.do(t, "PATCH", "/notifications/"+ids[3]+"/read", "", "")
	pos := last.header.Get(httpapi.HeaderPosition)

	type page struct {
		Notifications []struct{ ID, Status, Category string }
		NextCursor    string
	}
	get := func(query string) page {
		t.Helper()
		r := a.do(t, "GET", "/v1/recipients/pager/notifications"+query, "", "", httpapi.HeaderMinPosition, pos)
		var p page
		if err := json.Unmarshal([]byte(r.body), &p); err != nil || r.status != 200 {
			t.Fatalf("GET %s = %d %s", query, r.status, r.body)
		}
		return p
	}
	var walked []string
	query := "?limit=2"
	for range 5 {
		p := get(query)
		for _, n := range p.Notifications {
			walked = append(walked, n.ID)
		}
		if p.NextCursor == "" {
			break
		}
		query = "?limit=2&cursor=" + p.NextCursor
	}
	if want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}; fmt.Sprint(walked) != fmt.Sprint(want) {
		t.Fatalf("paging by 2 walked %v, want %v", walked, want)
	}
	if p := get("?status=read"); len(p.Notifications) != 1 || p.Notifications[0].ID != ids[3] {
		t.Fatalf("status=read = %+v", p)
	}
	if p := get("?status=unread&category=promo"); len(p.Notifications) != 3 || p.Notifications[0].Category != "promo" {
		t.Fatalf("unread promo = %+v, want 3", p)
	}
	if p := get(""); len(p.Notifications) != 5 || p.NextCursor != "" {
		t.Fatalf("default page = %d items, cursor %q", len(p.Notifications), p.NextCursor)
	}
	for q, field := range map[string]string{"?limit=101": "limit", "?limit=abc": "limit", "?status=new": "status", "?cursor=zzz": "cursor"} {
		r := a.do(t, "GET", "/v1/recipients/pager/notifications"+q, "", "")
		if r.status != 400 || !strings.Contains(r.body, `"field":"`+field+`"`) {
			t.Fatalf("GET %s = %d %s, want 400 naming %s", q, r.status, r.body, field)
		}
	}
}

// Read-all marks every unread notification read, skips canceled ones, and a retry with the
// same Idempotency-Key after new mail changes nothing.
func TestV1_ReadAll(t *testing.T) {
	t.Parallel()
	a := start(t)
	var ids []string
	var last reply
	for i := range 4 {
		last = a.do(t, "POST", "/notifications", jsonCT, fmt.Sprintf(`{"recipientId":"reader","content":"Unread number %d","category":"c"}`, i))
		var n struct{ Notification struct{ ID string } }
		json.Unmarshal([]byte(last.body), &n)
		ids = append(ids, n.Notification.ID)
	}
	a.do(t, "PATCH", "/notifications/"+ids[0]+"/cancel", "", "")
	last = a.do(t, "PATCH", "/notifications/"+ids[1]+"/read", "", "")
	a.waitFor(t, last)

	r := a.do(t, "POST", "/v1/recipients/reader/notifications/read-all", "", "", "Idempotency-Key", "ra-1")
	if r.status != 200 || r.body != `{"read":2}` {
		t.Fatalf("read-all = %d %s, want {\"read\":2}", r.status, r.body)
	}
	c := a.do(t, "GET", "/v1/recipients/reader/notifications/count", "", "", httpapi.HeaderMinPosition, r.header.Get(httpapi.HeaderPosition))
	if c.body != `{"total":4,"unread":0,"unseen":0}` {
		t.Fatalf("counts after read-all = %s", c.body)
	}
	// New mail, then the same read-all retried: it re-reads nothing it read, and the new one
	// is not part of that command.
	fresh := a.do(t, "POST", "/notifications", jsonCT, `{"recipientId":"reader","content":"Arrived later","category":"c"}`)
	a.waitFor(t, fresh)
	// The retry lists the new one as unread; its per-notification command id is new, so it is
	// read: a retry converges on "everything listed is read", never reads anything twice.
	again := a.do(t, "POST", "/v1/recipients/reader/notifications/read-all", "", "", "Idempotency-Key", "ra-1")
	if again.status != 200 || again.body != `{"read":1}` {
		t.Fatalf("retried read-all = %d %s, want {\"read\":1}", again.status, again.body)
	}
	h := a.do(t, "GET", "/v1/notifications/"+ids[2]+"/history", "", "")
	if strings.Count(h.body, "NotificationRead") != 1 {
		t.Fatalf("history of %s after two read-alls = %s, want one NotificationRead", ids[2], h.body)
	}
}

// The /v1 commands answer with the notification's id and the log position of its latest
// event; a repeated change is a no-op at the same position; errors are the seed routes'.
func TestV1_Commands(t *testing.T) {
	t.Parallel()
	a := start(t)
	sent := a.do(t, "POST", "/v1/notifications", jsonCT, `{"recipientId":"v1c","content":"Versioned send","category":"c"}`)
	var got struct {
		ID       string
		Position uint64
	}
	if err := json.Unmarshal([]byte(sent.body), &got); err != nil || sent.status != 201 || got.ID == "" || got.Position == 0 {
		t.Fatalf("POST /v1/notifications = %d %s (%v)", sent.status, sent.body, err)
	}
	if loc := sent.header.Get("Location"); loc != "/v1/notifications/"+got.ID {
		t.Fatalf("Location = %q", loc)
	}
	if h := sent.header.Get(httpapi.HeaderPosition); h != strconv.FormatUint(got.Position, 10) {
		t.Fatalf("%s = %q, body position %d", httpapi.HeaderPosition, h, got.Position)
	}
	last := got.Position
	tests := []struct {
		name, path  string
		status      int
		samePos     bool   // an idempotent no-op: the position does not move
		problemType string // for errors
	}{
		{"read", "/v1/notifications/{id}/read", 200, false, ""},
		{"read again", "/v1/notifications/{id}/read", 200, true, ""},
		{"unread", "/v1/notifications/{id}/unread", 200, false, ""},
		{"cancel", "/v1/notifications/{id}/cancel", 200, false, ""},
		{"read canceled", "/v1/notifications/{id}/read", 409, false, "urn:notify:problem:conflict"},
		{"unknown id", "/v1/notifications/0b8e2d4e-0000-4000-8000-000000000000/read", 404, false, "urn:notify:problem:not-found"},
		{"GET on a command", "/v1/notifications/{id}/cancel", 405, false, "about:blank"},
	}
	for _, tt := range tests {
		method := "POST"
		if tt.status == 405 {
			method = "GET"
		}
		r := a.do(t, method, strings.Replace(tt.path, "{id}", got.ID, 1), "", "")
		if r.status != tt.status {
			t.Fatalf("%s: %d %s, want %d", tt.name, r.status, r.body, tt.status)
		}
		if tt.problemType != "" {
			if !strings.Contains(r.body, `"type":"`+tt.problemType+`"`) || r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%s: %s %s, want a %s problem", tt.name, r.header.Get("Content-Type"), r.body, tt.problemType)
			}
			continue
		}
		var res struct {
			ID       string
			Position uint64
		}
		if err := json.Unmarshal([]byte(r.body), &res); err != nil || res.ID != got.ID {
			t.Fatalf("%s: %s (%v)", tt.name, r.body, err)
		}
		if moved := res.Position != last; moved == tt.samePos || res.Position < last {
			t.Fatalf("%s: position %d after %d (no-op: %v)", tt.name, res.Position, last, tt.samePos)
		}
		last = res.Position
	}
	if r := a.do(t, "POST", "/v1/notifications", jsonCT, `{"recipientId":"","content":"x"}`); r.status != 400 || !strings.Contains(r.body, `"field":"recipientId"`) {
		t.Fatalf("invalid send = %d %s", r.status, r.body)
	}
}

// TestV1_BulkByFilter: a bulk change selects from the read model as the list does (by tag,
// status, time; archived ones only for unarchive), answers how many it matched and changed,
// and the lists and counts follow.
func TestV1_BulkByFilter(t *testing.T) {
	t.Parallel()
	a := start(t)
	var last reply
	for i, tags := range []string{`["orders"]`, `["orders","eu"]`, `["news"]`} {
		last = a.do(t, "POST", "/v1/notifications", jsonCT, fmt.Sprintf(`{"recipientId":"bulky","content":"Bulk number %d","category":"c","tags":%s}`, i, tags))
		if last.status != 201 {
			t.Fatalf("send: %d %s", last.status, last.body)
		}
	}
	a.waitFor(t, last)
	bulk := func(body, key string) reply {
		t.Helper()
		r := a.do(t, "POST", "/v1/recipients/bulky/notifications/bulk", jsonCT, body, "Idempotency-Key", key)
		if r.status == 200 && r.header.Get(httpapi.HeaderPosition) != "" {
			a.waitFor(t, r)
		}
		return r
	}
	count := func() string {
		return a.do(t, "GET", "/v1/recipients/bulky/notifications/count", "", "").body
	}
	listed := func(query string) int {
		var p struct{ Notifications []json.RawMessage }
		json.Unmarshal([]byte(a.do(t, "GET", "/v1/recipients/bulky/notifications"+query, "", "").body), &p)
		return len(p.Notifications)
	}
	steps := []struct {
		name, body, key string
		status          int
		want            string
		counts          string
	}{
		{"archive by tag", `{"action":"archive","filter":{"tag":"orders"}}`, "b-1", 200, `{"matched":2,"changed":2,"more":false}`, `{"total":3,"unread":1,"unseen":1}`},
		{"the same again", `{"action":"archive","filter":{"tag":"orders"}}`, "b-1", 200, `{"matched":0,"changed":0,"more":false}`, `{"total":3,"unread":1,"unseen":1}`},
		{"read what is unread and not archived", `{"action":"read","filter":{"status":"unread"}}`, "b-2", 200, `{"matched":1,"changed":1,"more":false}`, `{"total":3,"unread":0,"unseen":0}`},
		{"unarchive takes the archived ones", `{"action":"unarchive","filter":{}}`, "b-3", 200, `{"matched":2,"changed":2,"more":false}`, `{"total":3,"unread":2,"unseen":2}`},
		{"seen of those sent before the epoch: none", `{"action":"seen","filter":{"before":"1970-01-02T00:00:00Z"}}`, "b-4", 200, `{"matched":0,"changed":0,"more":false}`, `{"total":3,"unread":2,"unseen":2}`},
		{"ids and a filter", `{"action":"seen","ids":["00000000-0000-4000-8000-000000000000"],"filter":{}}`, "b-5", 400, "give ids or a filter, not both", ""},
		{"neither", `{"action":"seen"}`, "b-6", 400, "give the ids to change", ""},
		{"unknown action", `{"action":"delete","filter":{}}`, "b-7", 400, "must be one of seen, read, unread, archive, unarchive", ""},
		{"bad tag", `{"action":"seen","filter":{"tag":"Orders"}}`, "b-8", 400, "filter.tag", ""},
	}
	for _, s := range steps {
		r := bulk(s.body, s.key)
		if r.status != s.status || !strings.Contains(r.body, s.want) {
			t.Fatalf("%s: %d %s, want %d with %s", s.name, r.status, r.body, s.status, s.want)
		}
		if s.counts != "" {
			if c := count(); c != s.counts {
				t.Fatalf("%s: counts %s, want %s", s.name, c, s.counts)
			}
		}
		if s.name == "archive by tag" {
			if n, arch, every := listed(""), listed("?archived=true"), listed("?archived=all"); n != 1 || arch != 2 || every != 3 {
				t.Fatalf("after archiving: %d listed, %d archived, %d in all; want 1, 2, 3", n, arch, every)
			}
			if n := listed("?tag=eu&archived=all"); n != 1 {
				t.Fatalf("tag eu: %d listed, want 1", n)
			}
		}
	}
}

// TestV1_BulkSelectsWhatTheActionChanges: a filter takes only notifications the action would
// change (unseen ones to see, unread ones to read, read ones to unread), so sending it again
// matches nothing, and a filter larger than the bound reaches the rest; a misspelt filter
// field is refused rather than read as "every notification".
func TestV1_BulkSelectsWhatTheActionChanges(t *testing.T) {
	t.Parallel()
	a := start(t)
	var ids []string
	var last reply
	for i := range 4 {
		last = a.do(t, "POST", "/v1/notifications", jsonCT, fmt.Sprintf(`{"recipientId":"sel","content":"Select number %d","category":"c"}`, i))
		ids = append(ids, regexp.MustCompile(`"id":"([^"]+)"`).FindStringSubmatch(last.body)[1])
	}
	a.do(t, "POST", "/v1/notifications/"+ids[0]+"/seen", "", "")
	last = a.do(t, "POST", "/v1/notifications/"+ids[1]+"/cancel", "", "")
	a.waitFor(t, last)
	for _, s := range []struct{ name, body, key, want string }{
		{"see: the seen and the canceled ones are left out", `{"action":"seen","filter":{}}`, "s-1", `{"matched":2,"changed":2,"more":false}`},
		{"see again: nothing left to see", `{"action":"seen","filter":{}}`, "s-2", `{"matched":0,"changed":0,"more":false}`},
		{"unread what is unread: nothing", `{"action":"unread","filter":{"status":"unread"}}`, "s-3", `{"matched":0,"changed":0,"more":false}`},
		{"read: the three unread ones", `{"action":"read","filter":{}}`, "s-4", `{"matched":3,"changed":3,"more":false}`},
		{"unread: the three read ones", `{"action":"unread","filter":{}}`, "s-5", `{"matched":3,"changed":3,"more":false}`},
		{"a misspelt filter field", `{"action":"archive","filter":{"tags":"zz"}}`, "s-6", `has no field \"tags\"`},
	} {
		r := a.do(t, "POST", "/v1/recipients/sel/notifications/bulk", jsonCT, s.body, "Idempotency-Key", s.key)
		if !strings.Contains(r.body, s.want) {
			t.Fatalf("%s: %d %s, want %s", s.name, r.status, r.body, s.want)
		}
		if r.status == 200 && r.header.Get(httpapi.HeaderPosition) != "" {
			a.waitFor(t, r)
		}
	}
}
