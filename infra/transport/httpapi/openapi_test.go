package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/eventnotify/notify/app"
	"github.com/eventnotify/notify/infra/transport/httpapi"
)

// doc is the embedded document, parsed and validated once for every test of the package.
var doc = sync.OnceValues(func() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	d, err := loader.LoadFromData(httpapi.OpenAPI)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if err := d.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("not valid OpenAPI: %w", err)
	}
	return d, nil
})

var docRouter = sync.OnceValues(func() (routers.Router, error) {
	d, err := doc()
	if err != nil {
		return nil, err
	}
	return gorillamux.NewRouter(d)
})

func TestOpenAPI_IsAValidDocumentServedPublicly(t *testing.T) {
	t.Parallel()
	d, err := doc()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.OpenAPI, "3.") {
		t.Fatalf("openapi = %q, want 3.x", d.OpenAPI)
	}
	a := secured(t, 0, 0)
	r := a.do(t, "GET", "/openapi.json", "", "")
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" || r.body != string(httpapi.OpenAPI) {
		t.Fatalf("GET /openapi.json without credentials = %d %s, want 200 application/json with the embedded document", r.status, r.header.Get("Content-Type"))
	}
}

// echoParam turns Echo's :name into OpenAPI's {name}.
var echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// Every route Echo serves is documented with its method, and every documented one is served.
func TestOpenAPI_DocumentsEveryRouteAndOnlyThose(t *testing.T) {
	t.Parallel()
	d, err := doc()
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, r := range httpapi.New(app.Application{}, httpapi.Options{}).Routes() {
		served[r.Method+" "+echoParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	documented := map[string]bool{}
	for path, item := range d.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	for _, r := range sorted(served) {
		if !documented[r] {
			t.Errorf("%s is served but not in openapi.json", r)
		}
	}
	for _, r := range sorted(documented) {
		if !served[r] {
			t.Errorf("%s is in openapi.json but not served", r)
		}
	}
}

func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkAgainstDoc fails the test when an answer is not one the document allows. api.do calls
// it for every request of every test in this package (the lifecycle tests, the error table,
// the authorization matrix, the limits), so the document cannot drift from the service.
func checkAgainstDoc(t *testing.T, req *http.Request, res *http.Response, body []byte) {
	t.Helper()
	if err := validateAgainstDoc(req, res.StatusCode, res.Header, body); err != nil {
		t.Errorf("the answer to %s %s breaks openapi.json: %v", req.Method, req.URL.Path, err)
	}
}

// The browser routes answer script and HTML, which the validator reads as text.
func init() {
	openapi3filter.RegisterBodyDecoder("text/javascript", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
}

func validateAgainstDoc(req *http.Request, status int, header http.Header, body []byte) error {
	d, err := doc()
	if err != nil {
		return err
	}
	router, err := docRouter()
	if err != nil {
		return err
	}
	route, params, err := router.FindRoute(req)
	if errors.Is(err, routers.ErrPathNotFound) || errors.Is(err, routers.ErrMethodNotAllowed) {
		// Not a documented operation: only the router's own answers (404, 405, and 204 to
		// OPTIONS, as the document's description says) may come back.
		if req.Method == http.MethodOptions && status == http.StatusNoContent && header.Get("Allow") != "" {
			return nil
		}
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			return fmt.Errorf("undocumented route answered %d", status)
		}
		if ct := header.Get("Content-Type"); ct != "application/problem+json" {
			return fmt.Errorf("router answer %d is %s, want application/problem+json", status, ct)
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return err
		}
		return d.Components.Schemas["Problem"].Value.VisitJSON(v)
	}
	if err != nil {
		return err
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(context.Background(), in)
}

// The check itself bites: an undocumented status, a body off its schema, or a missing
// required header is caught.
func TestOpenAPI_CheckRejectsDrift(t *testing.T) {
	t.Parallel()
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	problem := http.Header{"Content-Type": {"application/problem+json"}}
	pos := http.Header{"Content-Type": {"application/json"}, "Notify-Position": {"3"}}
	item := `{"id":"00000000-0000-4000-8000-000000000000","recipientId":"r-1","content":"hello there","category":"c","status":"sent","readAt":null,"canceledAt":null,"createdAt":"2026-12-01T00:00:00Z"}`
	item13 := strings.Replace(item, `"createdAt"`, `"title":"T","data":{"a":[1]},"actionUrl":"/a","actions":[{"label":"Go","url":"/go"}],"tags":["orders"],"seenAt":null,"archivedAt":"2026-12-01T00:00:01Z","createdAt"`, 1)
	tests := []struct {
		name, method, path string
		status             int
		header             http.Header
		body               string
		ok                 bool
	}{
		{"a documented answer", "GET", "/notifications/count/from/r-1", 200, jsonHeader, `{"count":2}`, true},
		{"an undocumented status", "GET", "/notifications/count/from/r-1", 418, problem, `{"type":"about:blank","title":"x","status":418}`, false},
		{"a field of the wrong type", "GET", "/notifications/count/from/r-1", 200, jsonHeader, `{"count":"two"}`, false},
		{"an extra field", "GET", "/v1/recipients/r-1/notifications/count", 200, jsonHeader, `{"total":1,"unread":0,"canceled":0}`, false},
		// What the read side adds with issue #13, documented ahead of it; the seed's shapes gain nothing.
		{"counts with unseen", "GET", "/v1/recipients/r-1/notifications/count", 200, jsonHeader, `{"total":1,"unread":0,"unseen":0}`, true},
		{"a page item with the fields of #13", "GET", "/v1/recipients/r-1/notifications?archived=all&tag=orders", 200, jsonHeader, `{"notifications":[` + item13 + `]}`, true},
		{"a page item with seenAt absent", "GET", "/v1/recipients/r-1/notifications?archived=true", 200, jsonHeader, `{"notifications":[` + item + `]}`, true},
		{"a seed list item with a field of #13", "GET", "/notifications/from/r-1", 200, jsonHeader, `{"notifications":[` + item13 + `]}`, false},
		{"a seed send with seenAt", "POST", "/notifications", 201, pos, `{"notification":` + strings.Replace(item, `}`, `,"seenAt":null}`, 1) + `}`, false},
		{"a problem missing its title", "PATCH", "/notifications/00000000-0000-4000-8000-000000000000/read", 404, problem, `{"type":"about:blank","status":404}`, false},
		{"a problem as plain JSON", "PATCH", "/notifications/00000000-0000-4000-8000-000000000000/read", 404, jsonHeader, `{"type":"about:blank","title":"x","status":404}`, false},
		{"a command answer without Notify-Position", "PATCH", "/notifications/00000000-0000-4000-8000-000000000000/read", 200, http.Header{}, ``, false},
		{"a command answer with Notify-Position", "PATCH", "/notifications/00000000-0000-4000-8000-000000000000/read", 200, pos, ``, true},
		{"a 401 without WWW-Authenticate", "GET", "/healthz", 401, problem, `{"type":"urn:notify:problem:unauthenticated","title":"Unauthorized","status":401}`, false},
		{"an unknown route answering 200", "GET", "/nothing-here", 200, jsonHeader, `{}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			err := validateAgainstDoc(req, tt.status, tt.header, []byte(tt.body))
			if (err == nil) != tt.ok {
				t.Fatalf("validate = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// Every documented error status is one problemFor or the router can produce, and every
// problem answer in the document is application/problem+json.
func TestOpenAPI_ErrorsAreProblemDocuments(t *testing.T) {
	t.Parallel()
	d, err := doc()
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"400": true, "401": true, "403": true, "404": true, "409": true, "413": true, "415": true, "429": true, "500": true, "503": true, "507": true}
	for path, item := range d.Paths.Map() {
		for method, op := range item.Operations() {
			for code, ref := range op.Responses.Map() {
				if code[0] < '4' {
					continue
				}
				if !allowed[code] {
					t.Errorf("%s %s documents %s, which the service never answers", method, path, code)
				}
				if ref.Value.Content.Get("application/problem+json") == nil || len(ref.Value.Content) != 1 {
					t.Errorf("%s %s: %s is not documented as application/problem+json only", method, path, code)
				}
			}
		}
	}
	if !bytes.Contains(httpapi.OpenAPI, []byte(`"X-Api-Key"`)) {
		t.Error("the API key header is not documented")
	}
}
