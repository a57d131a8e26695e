package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/eventnotify/notify/app/live"
	"github.com/eventnotify/notify/infra/service/servicetest"
	"github.com/eventnotify/notify/infra/transport/httpapi"
	"github.com/eventnotify/notify/infra/transport/httpapi/auth"
)

// streamAPI is the API with its live hub, served over real HTTP on the real embedded stores.
type streamAPI struct {
	api
	hub     *live.Hub
	srv     *httptest.Server
	stopHub context.CancelFunc
}

type streamSetup struct {
	hub      live.Options
	sec      httpapi.Security
	stream   httpapi.Stream
	timeouts time.Duration // the server's read and write timeouts (0: none)
	// listener wraps the server's listener (nil: as is).
	listener func(net.Listener) net.Listener
}

func startStream(t *testing.T, st streamSetup) streamAPI {
	t.Helper()
	hubOpts := st.hub
	c := servicetest.NewComponentTestApplication(t, servicetest.Options{Live: &hubOpts})
	srv := httptest.NewUnstartedServer(httpapi.New(c.App, httpapi.Options{Security: st.sec, Stream: st.stream}))
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = st.timeouts, st.timeouts
	if st.listener != nil {
		srv.Listener = st.listener(srv.Listener)
	}
	srv.Config.RegisterOnShutdown(c.StopHub)
	srv.Start()
	t.Cleanup(func() {
		c.StopHub() // ends the streams, which Close would wait for
		srv.Close()
	})
	return streamAPI{api: api{url: srv.URL, runner: c.Runner}, hub: c.App.Queries.Live, srv: srv, stopHub: c.StopHub}
}

// frame is one SSE message as a client sees it; comment lines land in comment.
type frame struct {
	id, event, data, comment string
}

type sseClient struct {
	res    *http.Response
	frames chan frame
	cancel context.CancelFunc
}

// open connects to recipient's stream; a non-200 answer is returned as a reply instead.
func (a streamAPI) open(t *testing.T, recipient string, headers ...string) (*sseClient, *reply) {
	t.Helper()
	return a.openPath(t, "/v1/recipients/"+recipient+"/stream", headers...)
}

func (a streamAPI) openPath(t *testing.T, path string, headers ...string) (*sseClient, *reply) {
	t.Helper()
	return a.openWith(t, http.DefaultClient, path, headers...)
}

func (a streamAPI) openWith(t *testing.T, client *http.Client, path string, headers ...string) (*sseClient, *reply) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", a.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		defer cancel()
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return nil, &reply{res.StatusCode, res.Header, string(b)}
	}
	c := &sseClient{res: res, frames: make(chan frame, 1024), cancel: cancel}
	go readFrames(res.Body, c.frames)
	t.Cleanup(c.close)
	return c, nil
}

func (c *sseClient) close() { c.cancel(); c.res.Body.Close() }

// readFrames parses an SSE body into frames until it ends, then closes out.
func readFrames(body io.Reader, out chan<- frame) {
	defer close(out)
	sc := bufio.NewScanner(body)
	var f frame
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			out <- f
			f = frame{}
		case strings.HasPrefix(line, ":"):
			f.comment = strings.TrimSpace(line[1:])
		default:
			k, v, _ := strings.Cut(line, ":")
			v = strings.TrimPrefix(v, " ")
			switch k {
			case "id":
				f.id = v
			case "event":
				f.event = v
			case "data":
				f.data = v
			}
		}
	}
}

// next returns the next frame with an event or data (comments and retry hints are skipped).
func (c *sseClient) next(t *testing.T) frame {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				t.Fatal("the stream ended")
			}
			if f.event != "" || f.data != "" {
				return f
			}
		case <-timeout:
			t.Fatal("no frame within 10s")
		}
	}
}

// nextChange returns the next notification.* frame, skipping counts.
func (c *sseClient) nextChange(t *testing.T) frame {
	t.Helper()
	for {
		if f := c.next(t); f.event != "counts" {
			return f
		}
	}
}

// counts waits for a counts frame and returns its total and unread.
func (c *sseClient) counts(t *testing.T) (total, unread int) {
	t.Helper()
	f := c.next(t)
	if f.event != "counts" {
		t.Fatalf("got %s %s, want a counts frame", f.event, f.data)
	}
	var v struct{ Total, Unread int }
	if err := json.Unmarshal([]byte(f.data), &v); err != nil {
		t.Fatal(err)
	}
	return v.Total, v.Unread
}

// send creates a notification for recipient and returns its id and log position.
func (a streamAPI) send(t *testing.T, recipient string, headers ...string) (string, string) {
	t.Helper()
	r := a.do(t, "POST", "/notifications", jsonCT, `{"recipientId":"`+recipient+`","content":"hello there","category":"c"}`, headers...)
	if r.status != http.StatusCreated {
		t.Fatalf("send = %d %s", r.status, r.body)
	}
	var n struct{ Notification struct{ ID string } }
	if err := json.Unmarshal([]byte(r.body), &n); err != nil {
		t.Fatal(err)
	}
	return n.Notification.ID, r.header.Get(httpapi.HeaderPosition)
}

// TestStream_ChangesCountsAndResume: a client sees a send and a read with their counts,
// leaves, misses changes (fewer or more than the ring holds), comes back with Last-Event-ID
// and gets exactly the missed changes in order, then live ones; bob's never show.
func TestStream_ChangesCountsAndResume(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		missed  int
		resumeQ bool // resume with ?lastEventId= instead of the header
	}{
		{"gap in the ring", 3, false},
		{"gap older than the ring", 20, false},
		{"gap in the ring, query parameter", 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := startStream(t, streamSetup{hub: live.Options{Ring: 8}})
			a.send(t, "bob") // before the stream opens: never shown
			c, _ := a.open(t, "alice")
			if f := c.res.Header; f.Get("Content-Type") != "text/event-stream" || f.Get("Cache-Control") != "no-cache" || f.Get("X-Accel-Buffering") != "no" {
				t.Fatalf("stream headers = %v", f)
			}
			if total, unread := c.counts(t); total != 0 || unread != 0 {
				t.Fatalf("opening counts = %d/%d, want 0/0", total, unread)
			}
			id, pos := a.send(t, "alice")
			f := c.nextChange(t)
			var sent map[string]any
			if err := json.Unmarshal([]byte(f.data), &sent); err != nil {
				t.Fatal(err)
			}
			if f.event != "notification.sent" || f.id != pos || sent["notificationId"] != id || sent["recipientId"] != "alice" ||
				sent["content"] != "hello there" || sent["category"] != "c" || sent["sentAt"] == nil || fmt.Sprint(sent["position"]) != pos {
				t.Fatalf("send frame = %+v, want notification.sent id %s of %s", f, pos, id)
			}
			if total, unread := c.counts(t); total != 1 || unread != 1 {
				t.Fatalf("counts after the send = %d/%d, want 1/1", total, unread)
			}
			r := a.do(t, "PATCH", "/notifications/"+id+"/read", "", "")
			f = c.nextChange(t)
			if f.event != "notification.read" || f.id != r.header.Get(httpapi.HeaderPosition) || !strings.Contains(f.data, `"readAt"`) {
				t.Fatalf("read frame = %+v", f)
			}
			if total, unread := c.counts(t); total != 1 || unread != 0 {
				t.Fatalf("counts after the read = %d/%d, want 1/0", total, unread)
			}
			last := f.id
			c.close()

			var want []string
			for i := 0; i < tc.missed; i++ {
				a.send(t, "bob")
				_, pos := a.send(t, "alice")
				want = append(want, pos)
			}
			a.send(t, "bob")
			var again *sseClient
			if tc.resumeQ {
				again, _ = a.openPath(t, "/v1/recipients/alice/stream?lastEventId="+last)
			} else {
				again, _ = a.open(t, "alice", "Last-Event-ID", last)
			}
			_, livePos := a.send(t, "alice")
			want = append(want, livePos)
			for i, w := range want {
				f := again.nextChange(t)
				if f.event != "notification.sent" || f.id != w || !strings.Contains(f.data, `"recipientId":"alice"`) {
					t.Fatalf("change %d after resuming from %s = %+v, want notification.sent id %s (want %v)", i, last, f, w, want)
				}
			}
			// Nothing more: the next frame is the counts of the last change, then silence.
			if total, unread := again.counts(t); total != tc.missed+2 || unread != tc.missed+1 {
				t.Fatalf("counts after resuming = %d/%d, want %d/%d", total, unread, tc.missed+2, tc.missed+1)
			}
			select {
			case f := <-again.frames:
				if f.event != "" {
					t.Fatalf("unexpected frame after the last change: %+v", f)
				}
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}

// TestStream_OpeningIDResumesWithoutLoss: the opening counts frame carries the position the
// stream is complete to, so a client that saw no change and comes back misses nothing.
func TestStream_OpeningIDResumesWithoutLoss(t *testing.T) {
	t.Parallel()
	a := startStream(t, streamSetup{})
	_, first := a.send(t, "alice")
	for deadline := time.Now().Add(5 * time.Second); fmt.Sprint(a.hub.Position()) != first; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the hub never reached %s", first)
		}
	}
	c, _ := a.open(t, "alice")
	opening := c.next(t)
	if opening.event != "counts" || opening.id != first {
		t.Fatalf("opening frame = %+v, want counts with id %s (where the hub is)", opening, first)
	}
	c.close()
	_, pos := a.send(t, "alice")
	again, _ := a.open(t, "alice", "Last-Event-ID", opening.id)
	if f := again.nextChange(t); f.id != pos {
		t.Fatalf("after resuming from the opening id %s got %+v, want the send at %s", opening.id, f, pos)
	}
}

func TestStream_MalformedLastEventIDIs400(t *testing.T) {
	t.Parallel()
	a := startStream(t, streamSetup{})
	for _, tc := range []struct{ name, path, header, field string }{
		{"letters", "", "abc", "Last-Event-ID"},
		{"negative", "", "-1", "Last-Event-ID"},
		{"fraction", "", "1.5", "Last-Event-ID"},
		{"beyond 64 bits", "", "18446744073709551616", "Last-Event-ID"},
		{"query", "?lastEventId=x1", "", "lastEventId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h []string
			if tc.header != "" {
				h = []string{"Last-Event-ID", tc.header}
			}
			_, r := a.openPath(t, "/v1/recipients/alice/stream"+tc.path, h...)
			if r == nil || r.status != 400 || r.header.Get("Content-Type") != "application/problem+json" ||
				!strings.Contains(r.body, `"field":"`+tc.field+`"`) || !strings.Contains(r.body, "log position") {
				t.Fatalf("Last-Event-ID %q = %+v, want 400 naming %s", tc.header+tc.path, r, tc.field)
			}
		})
	}
	if _, r := a.open(t, "not%20valid"); r == nil || r.status != 400 {
		t.Fatalf("an invalid recipient = %+v, want 400", r)
	}
	// An id beyond the log head was not sent by this log (a wiped or another store): waiting
	// for it would hang the stream, then skip the events before it.
	for _, h := range [][]string{{"Last-Event-ID", "9999"}, nil} {
		path := "/v1/recipients/alice/stream"
		if h == nil {
			path += "?lastEventId=9999"
		}
		if _, r := a.openPath(t, path, h...); r == nil || r.status != 400 || !strings.Contains(r.body, "ahead of the log head") {
			t.Fatalf("Last-Event-ID beyond the log head (%v %s) = %+v, want 400", h, path, r)
		}
	}
}

// TestStream_Authorization: the inbox policy applies: the owner's token or an admin key;
// another recipient's token gets the 404 of an inbox that does not exist.
func TestStream_Authorization(t *testing.T) {
	t.Parallel()
	a := startStream(t, streamSetup{sec: httpapi.Security{Auth: testAuth(t), RequestTimeout: 10 * time.Second}})
	cs := creds(t)
	for who, want := range map[string]int{"right recipient": 200, "admin key": 200, "wrong recipient": 404, "service key": 403, "no token": 401, "expired": 401} {
		t.Run(who, func(t *testing.T) {
			c, r := a.open(t, "alice", cs[who]...)
			switch {
			case want == 200 && c == nil:
				t.Fatalf("%s = %d %s, want a stream", who, r.status, r.body)
			case want == 200:
				c.close()
			case r == nil || r.status != want || r.header.Get("Content-Type") != "application/problem+json":
				t.Fatalf("%s = %+v, want %d problem+json", who, r, want)
			case want == 404 && !strings.Contains(r.body, "no such inbox"):
				t.Fatalf("bob on alice's stream = %s, want the inbox 404", r.body)
			}
		})
	}
	// The same tokens as ?access_token= (a browser's EventSource cannot set headers), which
	// is taken alone: with a header too it is refused, and an API key is no token.
	tok := func(who string) string { return strings.TrimPrefix(cs[who][1], "Bearer ") }
	for _, tc := range []struct {
		name, query string
		headers     []string
		want        int
	}{
		{"right recipient", "access_token=" + tok("right recipient"), nil, 200},
		{"wrong recipient", "access_token=" + tok("wrong recipient"), nil, 404},
		{"expired", "access_token=" + tok("expired"), nil, 401},
		{"bad signature", "access_token=" + tok("bad signature"), nil, 401},
		{"wrong audience", "access_token=" + tok("wrong audience"), nil, 401},
		{"empty", "access_token=", nil, 401},
		{"an API key as token", "access_token=" + adminKey, nil, 401},
		{"and a bearer header", "access_token=" + tok("right recipient"), cs["right recipient"], 401},
		{"and an API key header", "access_token=" + tok("right recipient"), cs["admin key"], 401},
		{"with a resume", "lastEventId=0&access_token=" + tok("right recipient"), nil, 200},
		{"percent-encoded name", "access%5Ftoken=" + tok("right recipient"), nil, 200},
		{"given twice", "access_token=" + tok("right recipient") + "&access_token=" + tok("wrong recipient"), nil, 401},
	} {
		t.Run("access_token "+tc.name, func(t *testing.T) {
			c, r := a.openPath(t, "/v1/recipients/alice/stream?"+tc.query, tc.headers...)
			switch {
			case tc.want == 200 && c == nil:
				t.Fatalf("= %d %s, want a stream", r.status, r.body)
			case tc.want == 200:
				c.close()
			case r == nil || r.status != tc.want || r.header.Get("Content-Type") != "application/problem+json":
				t.Fatalf("= %+v, want %d problem+json", r, tc.want)
			case strings.Contains(r.body, "eyJ") || strings.Contains(r.body, adminKey):
				t.Fatalf("the refusal echoes the credential: %s", r.body)
			}
		})
	}
	// Only the stream takes it: elsewhere it is a 400 that says where it belongs.
	r := a.do(t, "GET", "/v1/recipients/alice/notifications?access_token="+tok("right recipient"), "", "")
	if r.status != 400 || !strings.Contains(r.body, `"field":"access_token"`) || !strings.Contains(r.body, "live stream route only") {
		t.Fatalf("access_token on the inbox route = %d %s, want a 400 naming it", r.status, r.body)
	}

	// The owner's stream carries the owner's changes.
	c, _ := a.open(t, "alice", cs["right recipient"]...)
	_, pos := a.send(t, "alice", auth.HeaderAPIKey, sendKey)
	if f := c.nextChange(t); f.id != pos {
		t.Fatalf("alice's own stream got %+v, want the send at %s", f, pos)
	}
}

// TestStream_DevelopmentModeIgnoresTokens: with no authentication configured, credentials
// are ignored, in the query as in the headers.
func TestStream_DevelopmentModeIgnoresTokens(t *testing.T) {
	t.Parallel()
	a := startStream(t, streamSetup{})
	c, r := a.openPath(t, "/v1/recipients/alice/stream?access_token=x&access_token=y", "Authorization", "Bearer z")
	if c == nil {
		t.Fatalf("= %d %s, want a stream", r.status, r.body)
	}
	c.close()
}

// TestStream_ConnectionLimits: the N+1th stream of a recipient, and the stream over the
// global cap, are 429 with Retry-After; closing one admits another.
func TestStream_ConnectionLimits(t *testing.T) {
	t.Parallel()
	a := startStream(t, streamSetup{hub: live.Options{MaxPerRecipient: 2, MaxClients: 3}})
	first, _ := a.open(t, "alice")
	a.open(t, "alice")
	_, r := a.open(t, "alice")
	if r == nil || r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" ||
		r.header.Get("Content-Type") != "application/problem+json" || !strings.Contains(r.body, "2 live streams") {
		t.Fatalf("alice's third stream = %+v, want 429 with Retry-After", r)
	}
	a.open(t, "bob")
	if _, r := a.open(t, "carol"); r == nil || r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "the server already serves 3") {
		t.Fatalf("a fourth stream on the server = %+v, want 429", r)
	}
	first.close()
	deadline := time.Now().Add(5 * time.Second)
	for a.hub.Subscribers() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the closed stream still counts: %d open", a.hub.Subscribers())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if c, r := a.open(t, "alice"); c == nil {
		t.Fatalf("after one closed, alice's stream = %+v, want admitted", r)
	}
}

// TestStream_OutlivesServerTimeouts: the server's read and write timeouts and the request
// timeout do not end a stream; heartbeats keep it talking.
func TestStream_OutlivesServerTimeouts(t *testing.T) {
	t.Parallel()
	a := startStream(t, streamSetup{
		sec:      httpapi.Security{RequestTimeout: 200 * time.Millisecond},
		stream:   httpapi.Stream{Heartbeat: 100 * time.Millisecond},
		timeouts: 300 * time.Millisecond,
	})
	c, _ := a.open(t, "alice")
	pings := 0
	for end := time.After(time.Second); pings >= 0; {
		select {
		case f, ok := <-c.frames:
			if !ok {
				t.Fatalf("the stream ended after %d pings", pings)
			}
			if f.comment == "ping" {
				pings++
			}
		case <-end:
			if pings < 3 {
				t.Fatalf("%d pings in 1s at a 100ms heartbeat", pings)
			}
			_, pos := a.send(t, "alice")
			if f := c.nextChange(t); f.id != pos {
				t.Fatalf("after the server's timeouts passed got %+v, want the send at %s", f, pos)
			}
			return
		}
	}
}

// TestStream_ShutdownClosesStreams: a graceful shutdown ends open streams instead of waiting
// for them.
func TestStream_ShutdownClosesStreams(t *testing.T) {
	t.Parallel()
	a := startStream(t, streamSetup{})
	c, _ := a.open(t, "alice")
	c.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with an open stream: %v", err)
	}
	for f := range c.frames {
		if f.comment != "" && !strings.Contains(f.comment, "shutting down") {
			t.Fatalf("unexpected frame at shutdown: %+v", f)
		}
	}
}

// TestStream_SeenArchivedUnarchived: the changes of issue #13 arrive as notification.seen,
// notification.archived and notification.unarchived with the stored event and its position,
// each followed by counts; a client that left comes back with Last-Event-ID and gets exactly
// the ones it missed, in order.
func TestStream_SeenArchivedUnarchived(t *testing.T) {
	t.Parallel()
	a := startStream(t, streamSetup{hub: live.Options{Ring: 8}})
	c, _ := a.open(t, "alice")
	c.counts(t)
	id, _ := a.send(t, "alice")
	if f := c.nextChange(t); f.event != "notification.sent" {
		t.Fatalf("first change = %+v", f)
	}
	change := func(verb string) string {
		t.Helper()
		r := a.do(t, "POST", "/v1/notifications/"+id+"/"+verb, "", "")
		if r.status != 200 {
			t.Fatalf("%s = %d %s", verb, r.status, r.body)
		}
		return r.header.Get(httpapi.HeaderPosition)
	}
	var last string
	for _, step := range []struct{ verb, event, field string }{
		{"seen", "notification.seen", "seenAt"},
		{"archive", "notification.archived", "archivedAt"},
		{"unarchive", "notification.unarchived", "unarchivedAt"},
	} {
		pos := change(step.verb)
		f := c.nextChange(t)
		var data map[string]any
		if err := json.Unmarshal([]byte(f.data), &data); err != nil {
			t.Fatal(err)
		}
		if f.event != step.event || f.id != pos || data["notificationId"] != id || data["recipientId"] != "alice" || data[step.field] == nil || fmt.Sprint(data["position"]) != pos {
			t.Fatalf("%s frame = %+v, want %s at %s with %s", step.verb, f, step.event, pos, step.field)
		}
		if total, _ := c.counts(t); total != 1 {
			t.Fatalf("counts after %s: total %d, want 1", step.verb, total)
		}
		last = f.id
	}
	c.close()

	type missed struct{ event, id string }
	var want []missed
	for _, verb := range []string{"archive", "unarchive", "archive"} {
		pos := change(verb)
		want = append(want, missed{map[string]string{"archive": "notification.archived", "unarchive": "notification.unarchived"}[verb], pos})
	}
	again, _ := a.open(t, "alice", "Last-Event-ID", last)
	want = append(want, missed{"notification.unarchived", change("unarchive")}) // live, after the missed ones
	for i, w := range want {
		if f := again.nextChange(t); f.event != w.event || f.id != w.id {
			t.Fatalf("change %d after resuming from %s = %+v, want %s at %s", i, last, f, w.event, w.id)
		}
	}
}

// TestStream_SeenAndArchivedMoveUnseen: the counts frame carries unseen; seeing a
// notification and archiving one move it as the count route does.
func TestStream_SeenAndArchivedMoveUnseen(t *testing.T) {
	t.Parallel()
	a := startStream(t, streamSetup{})
	c, _ := a.open(t, "carol")
	countsFrame := func() string {
		t.Helper()
		f := c.next(t)
		if f.event != "counts" {
			t.Fatalf("got %s %s, want a counts frame", f.event, f.data)
		}
		var v struct{ Total, Unread, Unseen int }
		if err := json.Unmarshal([]byte(f.data), &v); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d/%d/%d", v.Total, v.Unread, v.Unseen)
	}
	if got := countsFrame(); got != "0/0/0" {
		t.Fatalf("opening counts %s, want 0/0/0", got)
	}
	var one, two string
	for _, step := range []struct {
		do     func()
		event  string
		counts string
	}{
		{func() { one, _ = a.send(t, "carol") }, "notification.sent", "1/1/1"},
		{func() { two, _ = a.send(t, "carol") }, "notification.sent", "2/2/2"},
		{func() { a.do(t, "POST", "/v1/notifications/"+one+"/seen", "", "") }, "notification.seen", "2/2/1"},
		{func() { a.do(t, "POST", "/v1/notifications/"+two+"/archive", "", "") }, "notification.archived", "2/1/0"},
		{func() { a.do(t, "POST", "/v1/notifications/"+two+"/unarchive", "", "") }, "notification.unarchived", "2/2/1"},
	} {
		step.do()
		if f := c.nextChange(t); f.event != step.event {
			t.Fatalf("frame %s %s, want %s", f.event, f.data, step.event)
		}
		if got := countsFrame(); got != step.counts {
			t.Fatalf("after %s: counts %s, want %s", step.event, got, step.counts)
		}
	}
}
