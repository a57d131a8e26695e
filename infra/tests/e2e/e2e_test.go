package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/store/esdb"
	"github.com/eventnotify/notify/infra/store/esdb/esdbtest"
	"github.com/eventnotify/notify/infra/store/eventlog"
	"github.com/eventnotify/notify/infra/tests/proc"
)

var binary string

func TestMain(m *testing.M) {
	bin, remove, err := proc.Build("../../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = bin
	code := m.Run()
	remove()
	os.Exit(code)
}

// service is one running notify process.
type service struct {
	cmd  *exec.Cmd
	url  string
	logs *proc.Output
	done chan error
}

// freePort is a loopback address nothing listens on.
func freePort(t *testing.T) string { return proc.FreeAddr(t) }

// startServiceArgs starts the binary with args (which include --http-addr) and waits until
// it is ready.
func startServiceArgs(t *testing.T, args []string) *service {
	t.Helper()
	return startServiceEnv(t, args)
}

// startServiceEnv starts the binary with args and extra environment entries (KEY=value).
func startServiceEnv(t *testing.T, args []string, env ...string) *service {
	t.Helper()
	return startServiceUntil(t, "/readyz", args, env...)
}

// startServiceUntil starts the binary and waits until path answers 200.
func startServiceUntil(t *testing.T, path string, args []string, env ...string) *service {
	t.Helper()
	addr := ""
	for i, a := range args {
		if a == "--http-addr" && i+1 < len(args) {
			addr = args[i+1]
		}
	}
	cmd := exec.Command(binary, args...)
	// The bursts below come from one client IP; the rate limit is tested in infra/transport/httpapi.
	cmd.Env = append(append(os.Environ(), "NOTIFY_RATE_LIMIT=0"), env...)
	s := &service{cmd: cmd, url: "http://" + addr, logs: &proc.Output{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.done
		if t.Failed() {
			t.Logf("service logs:\n%s", s.logs.String())
		}
	})
	s.waitStatus(t, path, 200)
	return s
}

func (s *service) waitStatus(t *testing.T, path string, want int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(s.url + path); err == nil {
			res.Body.Close()
			if res.StatusCode == want {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never answered %d; logs:\n%s", path, want, s.logs)
}

func (s *service) do(t *testing.T, method, path, body string, headers ...string) (int, http.Header, []byte) {
	t.Helper()
	code, h, b, err := s.try(method, path, body, headers...)
	if err != nil {
		t.Fatal(err)
	}
	return code, h, b
}

func (s *service) try(method, path, body string, headers ...string) (int, http.Header, []byte, error) {
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b, err
}

type view struct {
	ID          string  `json:"id"`
	RecipientID string  `json:"recipientId"`
	Content     string  `json:"content"`
	Category    string  `json:"category"`
	ReadAt      *string `json:"readAt"`
	CanceledAt  *string `json:"canceledAt"`
	CreatedAt   string  `json:"createdAt"`
}

func (s *service) inbox(t *testing.T, recipient string) []view {
	t.Helper()
	code, _, b := s.do(t, "GET", "/notifications/from/"+recipient, "")
	var out struct{ Notifications []view }
	if err := json.Unmarshal(b, &out); err != nil || code != 200 {
		t.Fatalf("inbox of %s = %d %s (%v)", recipient, code, b, err)
	}
	return out.Notifications
}

func (s *service) count(t *testing.T, recipient string) int {
	t.Helper()
	_, _, b := s.do(t, "GET", "/notifications/count/from/"+recipient, "")
	var out struct{ Count int }
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("count of %s: %s (%v)", recipient, b, err)
	}
	return out.Count
}

// waitCount waits until the recipient's count is want (what names the wait in a failure).
func (s *service) waitCount(t *testing.T, what, recipient string, want int) {
	t.Helper()
	eventually(t, what, func() error {
		if c := s.count(t, recipient); c != want {
			return fmt.Errorf("count %d, want %d", c, want)
		}
		return nil
	})
}

// eventually retries check until it passes (the read model follows the log asynchronously).
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	eventuallyWithin(t, 10*time.Second, what, check)
}

func eventuallyWithin(t *testing.T, limit time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// backend is an event store the binary runs on: the embedded log, or EventStoreDB played
// by the in-process protocol double (infra/store/esdb/esdbtest) that the binary reaches over gRPC.
type backend struct {
	name string
	// start returns the binary's extra flags and a function that reads the log the binary
	// wrote (after it stopped) into a subscribable store with its head.
	start func(t *testing.T, dataDir string) (flags []string, open func(t *testing.T) (logReader, eventstore.Position))
}

type logReader interface {
	Subscribe(ctx context.Context, from eventstore.Position, filter eventstore.Filter, handle func(context.Context, eventstore.Batch) error) error
}

var backends = []backend{
	{"embedded", func(_ *testing.T, dataDir string) ([]string, func(*testing.T) (logReader, eventstore.Position)) {
		return nil, func(t *testing.T) (logReader, eventstore.Position) {
			log, err := eventlog.Open(filepath.Join(dataDir, "events.db"), eventlog.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { log.Close() })
			return log, log.Head()
		}
	}},
	{"esdb-double", func(t *testing.T, _ string) ([]string, func(*testing.T) (logReader, eventstore.Position)) {
		srv := esdbtest.Run(t)
		return []string{"--event-store", srv.URL()}, func(t *testing.T) (logReader, eventstore.Position) {
			es, err := esdb.Open(srv.URL(), esdb.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { es.Close() })
			head, err := es.Head(context.Background(), eventstore.Filter{StreamPrefix: notification.StreamPrefix})
			if err != nil {
				t.Fatal(err)
			}
			return es, head
		}
	}},
}

// Every seed route, through the built binary, then a graceful stop on SIGTERM; on each
// event store.
func TestSeedRoutesThroughTheBinary(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			flags, _ := b.start(t, dir)
			testSeedRoutes(t, startServiceArgs(t, append([]string{"--data-dir", dir, "--http-addr", freePort(t)}, flags...)))
		})
	}
}

func testSeedRoutes(t *testing.T, s *service) {
	recipient := uuid.NewString()
	code, h, b := s.do(t, "POST", "/notifications", fmt.Sprintf(`{"recipientId":%q,"content":"Você recebeu uma solicitação de amizade","category":"social"}`, recipient))
	if code != 201 {
		t.Fatalf("POST = %d %s", code, b)
	}
	var created struct{ Notification view }
	json.Unmarshal(b, &created)
	id := created.Notification.ID
	// Read-your-writes: passing the command's position back makes the count exact at once.
	if code, _, b := s.do(t, "GET", "/notifications/count/from/"+recipient, "", "Notify-Min-Position", h.Get("Notify-Position")); code != 200 || string(b) != `{"count":1}` {
		t.Fatalf("count with the send's position = %d %s, want {\"count\":1}", code, b)
	}
	for _, step := range []string{"read", "unread", "read", "cancel"} {
		if code, _, b := s.do(t, "PATCH", "/notifications/"+id+"/"+step, ""); code != 200 {
			t.Fatalf("PATCH %s = %d %s", step, code, b)
		}
	}
	eventually(t, "inbox after cancel", func() error {
		got := s.inbox(t, recipient)
		if len(got) != 1 || got[0].ID != id || got[0].CanceledAt == nil || got[0].ReadAt == nil {
			return fmt.Errorf("inbox = %+v, want %s read and canceled", got, id)
		}
		return nil
	})
	if code, h, b := s.do(t, "PATCH", "/notifications/"+id+"/unread", ""); code != 409 || h.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("unread of canceled = %d %s", code, b)
	}
	// The wiring counts what the binary did: commands by outcome, the appends they made,
	// requests by route template, and the projection's lag.
	s.wantMetric(t, 1, "notify_commands_total", "command", "send", "outcome", "ok")
	s.wantMetric(t, 2, "notify_commands_total", "command", "read", "outcome", "ok")
	s.wantMetric(t, 1, "notify_commands_total", "command", "unread", "outcome", "conflict")
	s.wantMetric(t, 5, "notify_eventstore_appends_total", "outcome", "ok")
	s.wantMetric(t, 2, "notify_http_requests_total", "route", "/notifications/:id/read", "method", "PATCH", "code", "200")
	if _, err := s.metric(t, "notify_projection_lag", "projection", "inbox"); err != nil {
		t.Error(err)
	}

	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("SIGTERM exit: %v\n%s", err, s.logs)
		}
		s.done <- err
	case <-time.After(20 * time.Second):
		t.Fatal("service did not stop on SIGTERM")
	}
	if !strings.Contains(s.logs.String(), "projection stopped") {
		t.Fatalf("shutdown did not stop the projection cleanly:\n%s", s.logs)
	}
}

// A burst of POSTs, SIGKILL in the middle, restart: every acknowledged notification is there
// exactly once, nothing unacknowledged is half there, and retrying the unacknowledged ones
// with their Idempotency-Key completes the set without duplicates.
func TestKillDuringBurstLosesNothing(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testKillDuringBurst(t, b)
		})
	}
}

func testKillDuringBurst(t *testing.T, b backend) {
	dir := t.TempDir()
	addr := freePort(t)
	flags, openLog := b.start(t, dir)
	args := append([]string{"--data-dir", dir, "--http-addr", addr}, flags...)
	s := startServiceArgs(t, args)

	const workers, recipients, killAfter = 16, 8, 600
	type attempt struct{ key, recipient, content string }
	var (
		mu       sync.Mutex
		attempts []attempt
		acked    = map[string]string{} // key → notification id
		ackCount atomic.Int64
		wg       sync.WaitGroup
	)
	killed := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-killed:
					return
				default:
				}
				a := attempt{key: fmt.Sprintf("burst-%d-%d", w, i), recipient: fmt.Sprintf("burst-r%d", (w+i)%recipients), content: fmt.Sprintf("burst message %d from %d", i, w)}
				mu.Lock()
				attempts = append(attempts, a)
				mu.Unlock()
				code, _, b, err := s.try("POST", "/notifications", fmt.Sprintf(`{"recipientId":%q,"content":%q,"category":"burst"}`, a.recipient, a.content), "Idempotency-Key", a.key)
				if err != nil || code != 201 {
					continue // not acknowledged: the outcome is unknown to the client
				}
				var created struct{ Notification view }
				if json.Unmarshal(b, &created) != nil {
					continue
				}
				mu.Lock()
				acked[a.key] = created.Notification.ID
				mu.Unlock()
				ackCount.Add(1)
			}
		}()
	}
	for ackCount.Load() < killAfter {
		time.Sleep(time.Millisecond)
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.done <- nil
	close(killed)
	wg.Wait()
	t.Logf("%d POSTs sent, %d acknowledged before SIGKILL", len(attempts), len(acked))

	s = startServiceArgs(t, args)
	byID := map[string]attempt{}
	for _, a := range attempts {
		byID[uuid.NewSHA1(command.Namespace, []byte(a.key)).String()] = a
	}
	listed := map[string]view{}
	for r := range recipients {
		recipient := fmt.Sprintf("burst-r%d", r)
		views := s.inbox(t, recipient)
		if c := s.count(t, recipient); c != len(views) {
			t.Fatalf("%s: count %d but %d listed", recipient, c, len(views))
		}
		for _, v := range views {
			if _, dup := listed[v.ID]; dup {
				t.Fatalf("notification %s listed twice", v.ID)
			}
			a, ok := byID[v.ID]
			if !ok {
				t.Fatalf("inbox holds %s, which no request asked for", v.ID)
			}
			if v.RecipientID != recipient || a.recipient != recipient || v.Content != a.content || v.Category != "burst" {
				t.Fatalf("notification %s is not what %s asked for: %+v", v.ID, a.key, v)
			}
			listed[v.ID] = v
		}
	}
	for key, id := range acked {
		if _, ok := listed[id]; !ok {
			t.Fatalf("acknowledged notification %s (key %s) lost after SIGKILL", id, key)
		}
	}
	t.Logf("after restart: %d listed (%d acknowledged, %d landed without an answer)", len(listed), len(acked), len(listed)-len(acked))

	// The client retries everything it has no answer for; each lands exactly once.
	for _, a := range attempts {
		if _, ok := acked[a.key]; ok {
			continue
		}
		code, _, b := s.do(t, "POST", "/notifications", fmt.Sprintf(`{"recipientId":%q,"content":%q,"category":"burst"}`, a.recipient, a.content), "Idempotency-Key", a.key)
		if code != 201 {
			t.Fatalf("retry of %s = %d %s", a.key, code, b)
		}
	}
	eventually(t, "every attempt listed exactly once after retries", func() error {
		total := 0
		for r := range recipients {
			total += s.count(t, fmt.Sprintf("burst-r%d", r))
		}
		if total != len(attempts) {
			return fmt.Errorf("%d notifications, want %d", total, len(attempts))
		}
		return nil
	})

	// The log agrees with the read model: one NotificationSent per attempt, no other event.
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-s.done; err != nil {
		t.Fatalf("SIGTERM exit: %v", err)
	}
	s.done <- nil
	log, head := openLog(t)
	sent := countSent(t, log, head)
	if sent != len(attempts) {
		t.Fatalf("event log holds %d NotificationSent, want %d", sent, len(attempts))
	}
}

func countSent(t *testing.T, log logReader, head eventstore.Position) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := 0
	stop := fmt.Errorf("done")
	err := log.Subscribe(ctx, 0, eventstore.Filter{StreamPrefix: notification.StreamPrefix}, func(_ context.Context, b eventstore.Batch) error {
		for _, e := range b.Events {
			if e.Type == notification.TypeSent {
				n++
			}
		}
		if b.Position >= head {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("read the log: %v", err)
	}
	return n
}
