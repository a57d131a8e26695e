package httpapi_test

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/eventnotify/notify/infra/transport/httpapi"
	"github.com/eventnotify/notify/infra/transport/httpapi/auth"
)

func TestParseCORSOrigins(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec    string
		want    []string
		wantErr string
	}{
		{"", nil, ""},
		{" , ", nil, ""},
		{"https://app.example.com", []string{"https://app.example.com"}, ""},
		{"https://a.example, http://localhost:5173 ,http://127.0.0.1:8081", []string{"https://a.example", "http://localhost:5173", "http://127.0.0.1:8081"}, ""},
		{"http://[::1]:3000", []string{"http://[::1]:3000"}, ""},
		{"*", []string{"*"}, ""},
		{"*, https://a.example", nil, `give it alone`},
		{"https://app.example.com/", nil, `browsers send "https://app.example.com"`},
		{"https://app.example.com/inbox", nil, `no path`},
		{"https://App.Example.com", nil, `browsers send it as "https://app.example.com"`},
		{"https://app.example.com:443", nil, `browsers send it as "https://app.example.com"`},
		{"http://app.example.com:80", nil, `browsers send it as "http://app.example.com"`},
		{"https://*.example.com", nil, `no wildcard`},
		{"https://user@app.example.com", nil, `no user`},
		{"app.example.com", nil, `want an origin such as`},
		{"ftp://app.example.com", nil, `want an origin such as`},
		{"null", nil, `null origin`},
		{"https://a.example?x", nil, `no path, query or fragment`},
		{"http://[::1]:80", nil, `browsers send it as "http://[::1]"`},
		{"http://[0:0::1]:8080", nil, `browsers send it as "http://[::1]:8080"`},
		{"https://bücher.example", nil, `browsers send it as "https://xn--bcher-kva.example"`},
		{"https://xn--bcher-kva.example", []string{"https://xn--bcher-kva.example"}, ""},
		{"http://a.example:080", nil, `without leading zeros`},
		{"http://a.example:", nil, `port after the colon is missing`},
		{"https://a.example:0", nil, `from 1 to 65535`},
		{"https://a.example:99999", nil, `from 1 to 65535`},
		{"http://127.000.000.001:5173", nil, `not an IP address as browsers write one`},
		{"https://[::ffff:127.0.0.1]", nil, `write the IPv4 address (127.0.0.1)`},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := httpapi.ParseCORSOrigins(tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseCORSOrigins(%q) = %v, %v; want an error with %q", tc.spec, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("ParseCORSOrigins(%q) = %q, %v; want %q", tc.spec, got, err, tc.want)
			}
		})
	}
}

const pageOrigin = "http://app.test:5173"

// documentedOperations lists every operation of openapi.json as method and a concrete path.
func documentedOperations(t *testing.T) [][2]string {
	t.Helper()
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(httpapi.OpenAPI, &d); err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	var out [][2]string
	for path, ops := range d.Paths {
		concrete := param.ReplaceAllStringFunc(path, func(p string) string {
			if p == "{id}" {
				return "00000000-0000-4000-8000-000000000000"
			}
			if p == "{name}" {
				return "inbox"
			}
			return "alice"
		})
		for method := range ops {
			out = append(out, [2]string{strings.ToUpper(method), concrete})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][1]+out[i][0] < out[j][1]+out[j][0] })
	return out
}

func preflight(t *testing.T, url, origin, method, headers string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, url, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	if headers != "" {
		req.Header.Set("Access-Control-Request-Headers", headers)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// TestAuthorization_CORSMatrix: every documented operation's preflight, from a listed origin
// and from another, with authentication on. A preflight carries no credentials, so it is
// answered before the guard; the browser then sends the real request with them.
func TestAuthorization_CORSMatrix(t *testing.T) {
	t.Parallel()
	a := startOpts(t, httpapi.Options{Security: httpapi.Security{Auth: testAuth(t)}, CORSOrigins: []string{pageOrigin}})
	for _, op := range documentedOperations(t) {
		method, path := op[0], op[1]
		t.Run(method+" "+path, func(t *testing.T) {
			if strings.HasPrefix(path, "/ui/") { // answers for itself: TestUI_Routes
				return
			}
			res := preflight(t, a.url+path, pageOrigin, method, "authorization,content-type,idempotency-key")
			h := res.Header
			if res.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != pageOrigin {
				t.Fatalf("preflight from %s = %d, Allow-Origin %q; want 204 and the origin", pageOrigin, res.StatusCode, h.Get("Access-Control-Allow-Origin"))
			}
			if !strings.Contains(h.Get("Access-Control-Allow-Methods"), method) {
				t.Errorf("Allow-Methods %q lacks %s", h.Get("Access-Control-Allow-Methods"), method)
			}
			for _, want := range []string{"Authorization", "Content-Type", "Idempotency-Key", "Notify-Min-Position", "Last-Event-ID"} {
				if !strings.Contains(h.Get("Access-Control-Allow-Headers"), want) {
					t.Errorf("Allow-Headers %q lacks %s", h.Get("Access-Control-Allow-Headers"), want)
				}
			}
			if strings.Contains(h.Get("Access-Control-Allow-Headers"), auth.HeaderAPIKey) {
				t.Errorf("Allow-Headers %q lets a page send a service key", h.Get("Access-Control-Allow-Headers"))
			}
			if h.Get("Access-Control-Max-Age") != "600" || h.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("Max-Age %q, Allow-Credentials %q; want 600 and none (no cookies)", h.Get("Access-Control-Max-Age"), h.Get("Access-Control-Allow-Credentials"))
			}
			if other := preflight(t, a.url+path, "https://evil.test", method, "authorization"); other.Header.Get("Access-Control-Allow-Origin") != "" || other.Header.Get("Access-Control-Allow-Methods") != "" {
				t.Errorf("a preflight from an unlisted origin got %v", other.Header)
			}
		})
	}
}

// TestCORS_AnswersCarryTheHeadersAPageNeeds: the answers to a listed origin, refusals
// included (a page must read a 401's problem and a 429's Retry-After), let the page read the
// exposed headers; without configured origins nothing is allowed.
func TestCORS_AnswersCarryTheHeadersAPageNeeds(t *testing.T) {
	t.Parallel()
	a := startOpts(t, httpapi.Options{
		Security:    httpapi.Security{Auth: testAuth(t), RatePerSecond: 0.001, Burst: 2, RequestTimeout: 10 * time.Second},
		CORSOrigins: []string{pageOrigin, "https://other.test"},
	})
	alice := "Bearer " + token(t, jwtSecret, "alice", audience, time.Minute)
	exposed := func(t *testing.T, r reply, want ...string) {
		t.Helper()
		if r.header.Get("Access-Control-Allow-Origin") != pageOrigin {
			t.Fatalf("%d answer: Allow-Origin %q, want %s", r.status, r.header.Get("Access-Control-Allow-Origin"), pageOrigin)
		}
		for _, w := range want {
			if !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), w) {
				t.Errorf("%d answer: Expose-Headers %q lacks %s", r.status, r.header.Get("Access-Control-Expose-Headers"), w)
			}
		}
	}
	sent := a.do(t, "POST", "/v1/notifications", jsonCT, `{"recipientId":"alice","content":"hello there","category":"c"}`, "Origin", pageOrigin, auth.HeaderAPIKey, sendKey)
	if sent.status != 201 {
		t.Fatalf("send = %d %s", sent.status, sent.body)
	}
	exposed(t, sent, "Notify-Position", "Location", "Retry-After")
	if r := a.do(t, "GET", "/v1/recipients/alice/notifications/count", "", "", "Origin", pageOrigin); r.status != 401 {
		t.Fatalf("no token = %d", r.status)
	} else {
		exposed(t, r)
	}
	var limited reply
	for i := 0; i < 5 && limited.status != 429; i++ {
		limited = a.do(t, "GET", "/v1/recipients/alice/notifications/count", "", "", "Origin", pageOrigin, "Authorization", alice)
	}
	if limited.status != 429 || limited.header.Get("Retry-After") == "" {
		t.Fatalf("over the rate = %d, Retry-After %q", limited.status, limited.header.Get("Retry-After"))
	}
	exposed(t, limited, "Retry-After")
	if r := a.do(t, "GET", "/healthz", "", "", "Origin", "https://evil.test"); r.header.Get("Access-Control-Allow-Origin") != "" || !strings.Contains(strings.Join(r.header.Values("Vary"), ","), "Origin") {
		t.Fatalf("an unlisted origin: Allow-Origin %q, Vary %q; want none and Vary: Origin", r.header.Get("Access-Control-Allow-Origin"), r.header.Values("Vary"))
	}

	off := startWith(t, httpapi.Security{Auth: testAuth(t)})
	if res := preflight(t, off.url+"/v1/notifications", pageOrigin, "POST", ""); res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("without --cors-origins a preflight is allowed: %v", res.Header)
	}
	if r := off.do(t, "GET", "/healthz", "", "", "Origin", pageOrigin); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("without --cors-origins an answer is allowed: %v", r.header)
	}

	any := startOpts(t, httpapi.Options{CORSOrigins: []string{"*"}}) // development mode only (the service refuses * with auth)
	if res := preflight(t, any.url+"/v1/notifications", "http://anything.test", "POST", "content-type"); res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("* allows %q", res.Header.Get("Access-Control-Allow-Origin"))
	}
}

// TestUI_Routes: the component is public to every origin and revalidated by ETag; the demo
// page is served in development mode or when asked, with a policy that runs its own script
// only.
func TestUI_Routes(t *testing.T) {
	t.Parallel()
	securedAPI := startOpts(t, httpapi.Options{Security: httpapi.Security{Auth: testAuth(t)}, CORSOrigins: []string{pageOrigin}})
	withDemo := startOpts(t, httpapi.Options{Security: httpapi.Security{Auth: testAuth(t)}, UIDemo: true})
	dev := start(t)

	js := securedAPI.do(t, "GET", "/ui/notify-inbox.js", "", "", "Origin", "https://any.test")
	if js.status != 200 || !strings.HasPrefix(js.header.Get("Content-Type"), "text/javascript") || !strings.Contains(js.body, "notify-inbox") {
		t.Fatalf("component = %d %s %.80s", js.status, js.header.Get("Content-Type"), js.body)
	}
	if js.header.Get("Access-Control-Allow-Origin") != "*" || js.header.Get("X-Content-Type-Options") != "nosniff" || js.header.Get("ETag") == "" {
		t.Fatalf("component headers %v", js.header)
	}
	if r := securedAPI.do(t, "HEAD", "/ui/notify-inbox.js", "", ""); r.status != 200 || r.body != "" || r.header.Get("ETag") == "" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("HEAD = %d %q %v", r.status, r.body, r.header)
	}
	if r := securedAPI.do(t, "GET", "/ui/notify-inbox.js?v=2", "", "", "Origin", "https://any.test"); r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("the component with a cache-buster = %d %v", r.status, r.header)
	}
	if r := securedAPI.do(t, "GET", "/ui/notify-inbox.js", "", "", "If-None-Match", js.header.Get("ETag")); r.status != 304 || r.body != "" {
		t.Fatalf("revalidation = %d %q, want 304", r.status, r.body)
	}
	// Compressed once at start, served to clients that take gzip; the same file either way.
	plain := securedAPI.do(t, "GET", "/ui/notify-inbox.js", "", "", "Accept-Encoding", "identity")
	for _, tc := range []struct {
		accept string
		gzip   bool
	}{{"gzip", true}, {"br, gzip;q=0.8", true}, {"GZIP", true}, {"gzip;q=0", false}, {"br", false}, {"identity", false}} {
		r := securedAPI.do(t, "GET", "/ui/notify-inbox.js", "", "", "Accept-Encoding", tc.accept)
		if got := r.header.Get("Content-Encoding") == "gzip"; got != tc.gzip || !strings.Contains(strings.Join(r.header.Values("Vary"), ","), "Accept-Encoding") {
			t.Fatalf("Accept-Encoding %q: Content-Encoding %q, Vary %q; want gzip %v", tc.accept, r.header.Get("Content-Encoding"), r.header.Values("Vary"), tc.gzip)
		}
		body := r.body
		if tc.gzip {
			zr, err := gzip.NewReader(strings.NewReader(r.body))
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.body) >= len(b) {
				t.Errorf("gzip %d bytes for %d", len(r.body), len(b))
			}
			body = string(b)
		}
		if body != plain.body {
			t.Fatalf("Accept-Encoding %q serves another file", tc.accept)
		}
	}

	for _, tc := range []struct {
		name string
		a    api
		want int
	}{{"auth on", securedAPI, 404}, {"auth on, --ui-demo", withDemo, 200}, {"development mode", dev, 200}} {
		t.Run(tc.name, func(t *testing.T) {
			page := tc.a.do(t, "GET", "/ui/demo", "", "")
			script := tc.a.do(t, "GET", "/ui/demo.js", "", "")
			if page.status != tc.want || script.status != tc.want {
				t.Fatalf("/ui/demo = %d, /ui/demo.js = %d; want %d", page.status, script.status, tc.want)
			}
			if tc.want == 404 {
				if !strings.Contains(page.body, "--ui-demo") {
					t.Fatalf("the 404 does not say how to turn it on: %s", page.body)
				}
				return
			}
			csp := page.header.Get("Content-Security-Policy")
			if !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-eval") {
				t.Fatalf("demo page %s, CSP %q", page.header.Get("Content-Type"), csp)
			}
		})
	}
}
