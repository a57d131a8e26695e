package httpapi_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/eventnotify/notify/infra/transport/httpapi"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/seed_routes.golden from the current code")

// goldenTime matches the timestamps of an answer: the one part of it that depends on the
// clock. Each is checked to be RFC 3339 and replaced by <time>; every other byte is held.
var goldenTime = regexp.MustCompile(`"(\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d))"`)

// goldenHeaders are the headers a client of the seed routes may depend on (Date and the
// like vary by run and are left out; Content-Length is checked against the body).
var goldenHeaders = []string{"Allow", "Content-Length", "Content-Type", "Location", "Notify-Position", "Retry-After", "Www-Authenticate"}

// The seed routes (the original Node service's) answer byte for byte what they answered
// before issue #13: a fixed sequence of requests on a fresh log, each answer's status, the
// headers that matter and the body, compared with testdata/seed_routes.golden (written by the
// code before the change: go test -run TestSeedRoutes_Golden -update-golden). Rich fields sent
// to the seed's POST are ignored as every unknown field is, so they appear nowhere.
func TestSeedRoutes_Golden(t *testing.T) {
	t.Parallel()
	a := start(t)
	const (
		ct      = jsonCT
		unknown = "00000000-0000-4000-8000-000000000000"
	)
	var out strings.Builder
	step := func(name, method, path, contentType, body string, headers ...string) reply {
		t.Helper()
		r := a.do(t, method, path, contentType, body, headers...)
		fmt.Fprintf(&out, "### %s\n%s %s\n%d\n", name, method, path, r.status)
		for _, h := range goldenHeaders {
			if v := r.header.Values(h); h == "Content-Length" && len(v) > 0 {
				// The length moves with the timestamps' digits: held to the body's own.
				if v[0] != fmt.Sprint(len(r.body)) {
					t.Errorf("%s: Content-Length %s, the body has %d bytes", name, v[0], len(r.body))
				}
				fmt.Fprintf(&out, "%s: (the body's)\n", h)
			} else if len(v) > 0 {
				fmt.Fprintf(&out, "%s: %s\n", h, strings.Join(v, ", "))
			}
		}
		b := goldenTime.ReplaceAllStringFunc(r.body, func(m string) string {
			if _, err := time.Parse(time.RFC3339Nano, m[1:len(m)-1]); err != nil {
				t.Errorf("%s: %s is not an RFC 3339 time", name, m)
			}
			return `"<time>"`
		})
		fmt.Fprintf(&out, "\n%s\n\n", b)
		return r
	}
	wait := func(r reply) { t.Helper(); a.waitFor(t, r) }

	id := func(r reply) string {
		t.Helper()
		m := regexp.MustCompile(`"id":"([0-9a-f-]{36})"`).FindStringSubmatch(r.body)
		if m == nil {
			t.Fatalf("no id in %s", r.body)
		}
		return m[1]
	}
	first := step("send", "POST", "/notifications", ct, `{"recipientId":"golden","content":"You have a new sale","category":"sales"}`, "Idempotency-Key", "golden-1")
	step("send retried with the same key", "POST", "/notifications", ct, `{"recipientId":"golden","content":"You have a new sale","category":"sales"}`, "Idempotency-Key", "golden-1")
	step("same key, other body", "POST", "/notifications", ct, `{"recipientId":"golden","content":"Another thing","category":"sales"}`, "Idempotency-Key", "golden-1")
	rich := step("send with fields the seed does not know (ignored)", "POST", "/notifications", ct,
		`{"recipientId":"golden","content":"Rich fields are not seed fields","category":"c","title":"T","data":{"a":1},"actionUrl":"/x","actions":[{"label":"Go","url":"/go"}],"tags":["t"]}`,
		"Idempotency-Key", "golden-2")
	step("invalid send", "POST", "/notifications", ct, `{"recipientId":"","content":"hey"}`)
	step("wrong media type", "POST", "/notifications", "text/plain", `{}`)
	step("malformed body", "POST", "/notifications", ct, `{"recipientId":`)
	wait(rich)
	step("count", "GET", "/notifications/count/from/golden", "", "")
	step("list", "GET", "/notifications/from/golden", "", "")
	n := id(first)
	for i, verb := range []string{"read", "unread", "read", "cancel"} {
		r := step(verb, "PATCH", "/notifications/"+n+"/"+verb, "", "", "Idempotency-Key", fmt.Sprintf("golden-change-%d", i))
		wait(r)
		step("list after "+verb, "GET", "/notifications/from/golden", "", "")
	}
	step("read a canceled one", "PATCH", "/notifications/"+n+"/read", "", "")
	step("read an unknown one", "PATCH", "/notifications/"+unknown+"/read", "", "")
	step("bad id", "PATCH", "/notifications/nope/read", "", "")
	step("count after the changes", "GET", "/notifications/count/from/golden", "", "")
	step("count with a position", "GET", "/notifications/count/from/golden", "", "", httpapi.HeaderMinPosition, "1")
	step("bad position", "GET", "/notifications/count/from/golden?minPosition=x", "", "")
	step("empty inbox", "GET", "/notifications/from/nobody", "", "")
	step("encoded recipient", "GET", "/notifications/count/from/user%40example.com", "", "")
	step("unknown query parameter", "GET", "/notifications/from/golden?status=read", "", "")
	step("wrong method", "DELETE", "/notifications", "", "")
	r := step("id of the rich send", "PATCH", "/notifications/"+id(rich)+"/read", "", "", "Idempotency-Key", "golden-3")
	wait(r)
	// A retried send answers the notification as it is now: read, in the seed's shape.
	step("send retried after a read", "POST", "/notifications", ct,
		`{"recipientId":"golden","content":"Rich fields are not seed fields","category":"c","title":"T","data":{"a":1},"actionUrl":"/x","actions":[{"label":"Go","url":"/go"}],"tags":["t"]}`,
		"Idempotency-Key", "golden-2")
	step("send retried after a cancel", "POST", "/notifications", ct, `{"recipientId":"golden","content":"You have a new sale","category":"sales"}`, "Idempotency-Key", "golden-1")

	path := filepath.Join("testdata", "seed_routes.golden")
	if *updateGolden {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != string(want) {
		t.Errorf("the seed routes answer differently from %s:\n%s", path, lineDiff(string(want), got))
	}
}

// lineDiff lists the lines that differ, with their line numbers.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %s\n  got  %s\n", i+1, wl, gl)
		}
	}
	return b.String()
}
