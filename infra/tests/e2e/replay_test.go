package e2e_test

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The replay admin endpoint and the CLI rebuild the inbox into a fresh copy through the
// binary: the inbox reads the same before and after, through the endpoint while the service
// serves, and through the CLI with the service stopped or running (--server).
func TestReplayThroughTheBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	args := []string{"--data-dir", dir, "--http-addr", freePort(t)}
	s := startServiceArgs(t, args)
	recipient := "replay-" + uuid.NewString()[:8]
	var ids []string
	for i := range 40 {
		code, _, body := s.do(t, "POST", "/notifications", fmt.Sprintf(`{"recipientId":%q,"content":"Replayed %d","category":"c"}`, recipient, i))
		if code != 201 {
			t.Fatalf("POST = %d %s", code, body)
		}
		var out struct{ Notification view }
		json.Unmarshal(body, &out)
		ids = append(ids, out.Notification.ID)
	}
	for _, id := range ids[:10] {
		if code, _, body := s.do(t, "PATCH", "/notifications/"+id+"/read", ""); code != 204 && code != 200 {
			t.Fatalf("PATCH read = %d %s", code, body)
		}
	}
	if code, _, body := s.do(t, "PATCH", "/notifications/"+ids[10]+"/cancel", ""); code != 204 && code != 200 {
		t.Fatalf("PATCH cancel = %d %s", code, body)
	}
	eventually(t, "the inbox reflects every change", func() error {
		for _, v := range s.inbox(t, recipient) {
			if v.ID == ids[10] && v.CanceledAt != nil {
				return nil // the last change: the projection is past all of them
			}
		}
		return fmt.Errorf("the cancel of %s is not projected yet", ids[10])
	})
	before := s.inbox(t, recipient)

	code, _, body := s.do(t, "POST", "/v1/projections/inbox/replay", "")
	if code != 202 || !strings.Contains(string(body), `"replay":{`) {
		t.Fatalf("POST replay = %d %s, want 202 with the replay's status", code, body)
	}
	waitReplayed(t, s)
	if after := s.inbox(t, recipient); !reflect.DeepEqual(after, before) {
		t.Fatalf("inbox after the replay differs:\n%+v\nbefore:\n%+v", after, before)
	}
	code, h, body := s.do(t, "POST", "/v1/projections/nope/replay", "")
	if code != 404 || h.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(body), "no such projection") {
		t.Fatalf("replay of an unknown projection = %d %s %s", code, h.Get("Content-Type"), body)
	}

	// The CLI while the service runs: refused on the embedded files, with a hint; through
	// --server it asks the service.
	out, err := exec.Command(binary, "projections", "replay", "inbox", "--data-dir", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--server") {
		t.Fatalf("CLI replay on the files of a running service: %v\n%s\nwant a refusal naming --server", err, out)
	}
	out, err = exec.Command(binary, "projections", "replay", "inbox", "--server", s.url).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "promoted at position") {
		t.Fatalf("CLI replay --server: %v\n%s", err, out)
	}
	if after := s.inbox(t, recipient); !reflect.DeepEqual(after, before) {
		t.Fatal("inbox differs after the CLI replay through the service")
	}

	// The CLI with the service stopped, then the service again on the replayed copy.
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-s.done; err != nil {
		t.Fatalf("service exit: %v\n%s", err, s.logs)
	}
	s.done <- nil // for the cleanup's wait
	out, err = exec.Command(binary, "projections", "replay", "inbox", "--data-dir", dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "promoted at position") {
		t.Fatalf("CLI replay with the service stopped: %v\n%s", err, out)
	}
	s = startServiceArgs(t, args)
	if after := s.inbox(t, recipient); !reflect.DeepEqual(after, before) {
		t.Fatal("inbox differs after the offline CLI replay")
	}
	if out, err := exec.Command(binary, "projections", "rebuild").CombinedOutput(); err == nil || !strings.Contains(string(out), "usage: notify projections replay") {
		t.Fatalf("unknown subcommand: %v\n%s, want the usage", err, out)
	}
}

// waitReplayed polls GET /v1/projections until the replay has finished, and fails if it failed.
func waitReplayed(t *testing.T, s *service) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		_, _, body := s.do(t, "GET", "/v1/projections", "")
		var st struct {
			Projections []struct {
				Name   string
				State  string
				Replay *struct {
					FinishedAt *time.Time
					Error      string
				}
			}
		}
		if err := json.Unmarshal(body, &st); err != nil || len(st.Projections) != 1 {
			t.Fatalf("GET /v1/projections: %s (%v)", body, err)
		}
		p := st.Projections[0]
		if p.Replay != nil && p.Replay.FinishedAt != nil {
			if p.Replay.Error != "" || p.State == "replaying" {
				t.Fatalf("replay finished with %q, state %s", p.Replay.Error, p.State)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the replay did not finish within 30s")
}
