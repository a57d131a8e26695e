package tracing_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/eventnotify/notify/infra/platform/tracing"
)

// collector is an OTLP/HTTP receiver that records the paths it was sent to and answers
// status.
type collector struct {
	mu    sync.Mutex
	paths []string
	types []string
}

func (c *collector) serve(status int) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.paths = append(c.paths, r.URL.Path)
		c.types = append(c.types, r.Header.Get("Content-Type"))
		c.mu.Unlock()
		w.WriteHeader(status)
	}))
}

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Spans go to the OTLP traces path: added to a base URL, kept when the URL names one; an
// export that fails is logged through the service's logger. (Not parallel: the SDK reports
// export failures to a process-wide handler, which Setup sets.)
func TestSetup_ExportsToTheTracesPath(t *testing.T) {
	for _, tt := range []struct {
		name, suffix, wantPath string
		status                 int
		wantLogged             bool
	}{
		{"base URL", "", "/v1/traces", http.StatusOK, false},
		{"base URL with a slash", "/", "/v1/traces", http.StatusOK, false},
		{"full URL", "/otlp/v1/traces", "/otlp/v1/traces", http.StatusOK, false},
		{"collector failing", "", "/v1/traces", http.StatusBadRequest, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &collector{}
			srv := c.serve(tt.status)
			defer srv.Close()
			logs := &logBuffer{}
			tp, err := tracing.Setup(context.Background(), tracing.Config{Endpoint: srv.URL + tt.suffix, SampleRatio: 1}, slog.New(slog.NewTextHandler(logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			_, span := tp.Tracer("test").Start(context.Background(), "work")
			span.End()
			_ = tp.Shutdown(context.Background()) // flushes: the export has happened when it returns
			c.mu.Lock()
			defer c.mu.Unlock()
			if len(c.paths) == 0 || c.paths[0] != tt.wantPath || c.types[0] != "application/x-protobuf" {
				t.Fatalf("exports went to %q as %q, want %s as application/x-protobuf", c.paths, c.types, tt.wantPath)
			}
			if logged := strings.Contains(logs.String(), "traces not exported"); logged != tt.wantLogged {
				t.Fatalf("export failure logged = %v, want %v; log:\n%s", logged, tt.wantLogged, logs)
			}
		})
	}
}

// No endpoint, no provider: tracing is off.
func TestSetup_OffWithoutEndpoint(t *testing.T) {
	tp, err := tracing.Setup(context.Background(), tracing.Config{}, slog.Default())
	if err != nil || tp != nil {
		t.Fatalf("Setup without an endpoint = %v, %v; want nil, nil", tp, err)
	}
}
