package httpapi

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/eventnotify/notify/domain/notification"
)

// declared is what the OpenAPI document says a route takes: its query parameters and the
// longest value of each header it declares with a maxLength.
type declared struct {
	query   map[string]bool
	headers map[string]int
}

// declaredParams reads every operation's parameters from the document, keyed by method and
// Echo's route template ("/v1/notifications/:id").
func declaredParams(doc []byte) (map[string]declared, error) {
	var d struct {
		Paths      map[string]map[string]struct{ Parameters []docParam } `json:"paths"`
		Components struct {
			Parameters map[string]docParam `json:"parameters"`
		} `json:"components"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	out := map[string]declared{}
	for path, ops := range d.Paths {
		route := path
		for strings.Contains(route, "{") {
			i, j := strings.Index(route, "{"), strings.Index(route, "}")
			route = route[:i] + ":" + route[i+1:j] + route[j+1:]
		}
		for method, op := range ops {
			dc := declared{query: map[string]bool{}, headers: map[string]int{}}
			for _, p := range op.Parameters {
				if p.Ref != "" {
					p = d.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
				}
				switch p.In {
				case "query":
					dc.query[p.Name] = true
				case "header":
					if p.Schema.MaxLength > 0 {
						dc.headers[p.Name] = p.Schema.MaxLength
					}
				}
			}
			out[strings.ToUpper(method)+" "+route] = dc
		}
	}
	return out, nil
}

type docParam struct {
	Ref    string `json:"$ref"`
	Name   string `json:"name"`
	In     string `json:"in"`
	Schema struct {
		MaxLength int `json:"maxLength"`
	} `json:"schema"`
}

// strictParams refuses what a route does not declare, as openapi.json documents it: a query
// parameter it does not take (POST …/read-all?category=b would otherwise mark every category
// read), and a header longer than its maxLength. The operational routes (health, readiness,
// metrics, the document) ignore query parameters, as probes and scrapers expect, and so do
// the browser's files (a page may add a cache-buster to the component's URL).
func strictParams(routes map[string]declared) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			dc, ok := routes[c.Request().Method+" "+c.Path()]
			if !ok || opsRoute(c.Path()) || strings.HasPrefix(c.Path(), "/ui/") {
				return next(c)
			}
			q, err := url.ParseQuery(c.Request().URL.RawQuery)
			if err != nil {
				return &notification.ValidationError{Field: "query", Rule: "must be a well-formed query string"}
			}
			for name := range q {
				if name == QueryAccessToken && !dc.query[name] {
					return &notification.ValidationError{Field: name, Rule: "is taken on the live stream route only (…/stream, for EventSource); send the token here as Authorization: Bearer"}
				}
				if !dc.query[name] {
					return &notification.ValidationError{Field: name, Rule: "is not a parameter of this route" + takes(dc.query)}
				}
			}
			for name, limit := range dc.headers {
				if v := c.Request().Header.Get(name); utf8.RuneCountInString(v) > limit {
					return &notification.ValidationError{Field: name, Rule: fmt.Sprintf("must be at most %d characters", limit)}
				}
			}
			return next(c)
		}
	}
}

func opsRoute(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics", "/openapi.json":
		return true
	}
	return false
}

func takes(names map[string]bool) string {
	if len(names) == 0 {
		return " (it takes none)"
	}
	list := make([]string, 0, len(names))
	for n := range names {
		list = append(list, n)
	}
	sort.Strings(list)
	return " (it takes " + strings.Join(list, ", ") + ")"
}
