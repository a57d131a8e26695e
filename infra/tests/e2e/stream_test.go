package e2e_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sseFrame is one Server-Sent Events message with an event name.
type sseFrame struct{ id, event, data string }

// readStream opens path as a stream and delivers its named frames until the stream ends.
func readStream(t *testing.T, s *service, path string, headers ...string) <-chan sseFrame {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", s.url+path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s = %d %s", path, res.StatusCode, res.Header.Get("Content-Type"))
	}
	out := make(chan sseFrame, 100)
	go func() {
		defer close(out)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var f sseFrame
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ": ")
			switch k {
			case "id":
				f.id = v
			case "event":
				f.event = v
			case "data":
				f.data = v
			case "":
				if f.event != "" {
					out <- f
				}
				f = sseFrame{}
			}
		}
	}()
	return out
}

// changes reads n notification.* frames (skipping counts), failing after 10 s.
func changes(t *testing.T, frames <-chan sseFrame, n int) []sseFrame {
	t.Helper()
	var got []sseFrame
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case f, ok := <-frames:
			if !ok {
				t.Fatalf("stream ended after %v", got)
			}
			if f.event != "counts" {
				got = append(got, f)
			}
		case <-timeout:
			t.Fatalf("got %d of %d changes: %v", len(got), n, got)
		}
	}
	return got
}

// TestStreamThroughTheBinary: a stream sees changes live, resumes with Last-Event-ID across
// a restart of the binary (the in-memory ring is gone, so the gap is read from the log), and
// SIGTERM ends open streams instead of waiting for them.
func TestStreamThroughTheBinary(t *testing.T) {
	t.Parallel()
	dir, addr := t.TempDir(), freePort(t)
	args := []string{"--data-dir", dir, "--http-addr", addr, "--shutdown-timeout", "30s"}
	s := startServiceArgs(t, args)
	send := func(s *service, recipient string) string {
		code, h, b := s.do(t, "POST", "/notifications", fmt.Sprintf(`{"recipientId":%q,"content":"hello there","category":"c"}`, recipient))
		if code != 201 {
			t.Fatalf("POST = %d %s", code, b)
		}
		return h.Get("Notify-Position")
	}
	frames := readStream(t, s, "/v1/recipients/alice/stream")
	first := send(s, "alice")
	send(s, "bob")
	if got := changes(t, frames, 1); got[0].id != first || got[0].event != "notification.sent" {
		t.Fatalf("live change = %+v, want notification.sent at %s", got[0], first)
	}
	stop := func(s *service) {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-s.done:
			if err != nil {
				t.Fatalf("SIGTERM with a stream open: %v\n%s", err, s.logs)
			}
			s.done <- err
		case <-time.After(25 * time.Second):
			t.Fatal("the service waited for its open stream on SIGTERM")
		}
	}
	stop(s)
	for range frames { // the stream ends with the process
	}

	s = startServiceArgs(t, args)
	var want []string
	for i := 0; i < 3; i++ {
		send(s, "bob")
		want = append(want, send(s, "alice"))
	}
	again := readStream(t, s, "/v1/recipients/alice/stream?lastEventId="+first)
	want = append(want, send(s, "alice"))
	for i, f := range changes(t, again, len(want)) {
		if f.id != want[i] || !strings.Contains(f.data, `"recipientId":"alice"`) {
			t.Fatalf("change %d after resuming from %s = %+v, want id %s (all: %v)", i, first, f, want[i], want)
		}
	}
	stop(s)
}
