package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
)

// runToExit runs the binary with args until it exits (at most 30 s) and returns its exit code
// and output.
func runToExit(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "NOTIFY_RATE_LIMIT=0")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%v did not exit in 30 s:\n%s", args, out)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

// noCrash fails the test if out holds a Go crash: a panic, a fatal runtime error, a trace.
func noCrash(t *testing.T, out string) {
	t.Helper()
	for _, s := range []string{"panic:", "fatal error:", "goroutine ", "SIGBUS", "SIGSEGV", "runtime/"} {
		if strings.Contains(out, s) {
			t.Fatalf("the output shows a crash (%q):\n%s", s, out)
		}
	}
}

// stop sends SIGTERM and waits.
func (s *service) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-s.done; err != nil {
		t.Fatalf("SIGTERM exit: %v\n%s", err, s.logs)
	}
	s.done <- nil
}

// sendN posts n notifications for recipient, content "<tag> number <i>".
func (s *service) sendN(t *testing.T, recipient, tag string, n int) {
	t.Helper()
	for i := range n {
		code, _, body := s.do(t, "POST", "/notifications", fmt.Sprintf(`{"recipientId":%q,"content":"%s number %d","category":"c"}`, recipient, tag, i))
		if code != 201 {
			t.Fatalf("POST = %d %s", code, body)
		}
	}
}

func editFile(t *testing.T, path string, fn func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fn(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A damaged event log (cut short, or pages overwritten) is refused at start with a message
// naming the file, the damage and the way out, never a Go crash; `notify check` reports it.
func TestDamage_DamagedLogIsRefusedWithAMessage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startWithArgs(t, dir, freePort(t), nil)
	s.sendN(t, "dora", "Before the damage", 400)
	s.stop(t)
	log := filepath.Join(dir, "events.db")
	pristine, _ := os.ReadFile(log)
	for name, damage := range map[string]func([]byte) []byte{
		"cut short":         func(b []byte) []byte { return b[:len(b)/3] },
		"64 bytes of noise": func(b []byte) []byte { copy(b[len(b)/2:], bytes.Repeat([]byte{0x5A}, 64)); return b },
		"meta pages zeroed": func(b []byte) []byte { clear(b[:8192]); return b },
	} {
		editFile(t, log, func([]byte) []byte { return damage(bytes.Clone(pristine)) })
		code, out := runToExit(t, "--data-dir", dir, "--http-addr", freePort(t))
		noCrash(t, out)
		if code == 0 || !strings.Contains(out, log) || !strings.Contains(out, "damaged") || !strings.Contains(out, "notify check") {
			t.Fatalf("%s: exit %d, want a refusal naming %s, the damage and `notify check`:\n%s", name, code, log, out)
		}
		code, out = runToExit(t, "check", "--data-dir", dir)
		noCrash(t, out)
		if code != 1 || !strings.Contains(out, "DAMAGED") {
			t.Fatalf("%s: notify check = %d, want 1 and DAMAGED:\n%s", name, code, out)
		}
	}
	os.WriteFile(log, pristine, 0o600)
	if code, out := runToExit(t, "check", "--data-dir", dir); code != 0 || !strings.Contains(out, "healthy") {
		t.Fatalf("the intact files: notify check = %d:\n%s", code, out)
	}
}

// A flipped byte inside one event fails its checksum: the service starts, serves everything
// else, parks that event (GET /v1/projections says which), and `notify check` names it.
func TestDamage_CorruptEventIsParkedAndTheRestServed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startWithArgs(t, dir, freePort(t), nil)
	s.sendN(t, "eve", "Intact notification", 30)
	s.stop(t)
	os.Remove(filepath.Join(dir, "inbox.db")) // rebuilt from the log: the corrupt event is met
	editFile(t, filepath.Join(dir, "events.db"), func(b []byte) []byte {
		i := bytes.Index(b, []byte("Intact notification number 17\""))
		b[i] ^= 0x20
		return b
	})
	s = startWithArgs(t, dir, freePort(t), nil)
	s.waitCount(t, "the other 29 listed", "eve", 29)
	for _, v := range s.inbox(t, "eve") {
		if strings.Contains(v.Content, "number 17") {
			t.Fatalf("the corrupt event was served: %+v", v)
		}
	}
	_, _, body := s.do(t, "GET", "/v1/projections", "")
	var st struct {
		Projections []struct {
			Parked       int
			ParkedEvents []struct {
				Position int
				Reason   string
			}
		}
	}
	if json.Unmarshal(body, &st) != nil || st.Projections[0].Parked != 1 || !strings.Contains(st.Projections[0].ParkedEvents[0].Reason, "checksum") {
		t.Fatalf("/v1/projections = %s, want the corrupt event parked", body)
	}
	if _, _, m := s.do(t, "GET", "/metrics", ""); !strings.Contains(string(m), `notify_projection_parked_events{projection="inbox"} 1`) {
		t.Fatalf("/metrics does not count the parked event:\n%s", m)
	}
	s.stop(t)
	if code, out := runToExit(t, "check", "--data-dir", dir); code != 1 || !strings.Contains(out, "CORRUPT") {
		t.Fatalf("notify check = %d:\n%s", code, out)
	}
}

// A damaged read model is never served: a document that fails its seal answers 503 (never
// malformed JSON), and the read model is rebuilt from the log while the service runs.
func TestDamage_DamagedReadModelIsRebuiltNotServed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startWithArgs(t, dir, freePort(t), nil)
	s.sendN(t, "finn", "Read model document", 40)
	s.waitCount(t, "all 40 listed", "finn", 40)
	s.stop(t)
	editFile(t, filepath.Join(dir, "inbox.db"), func(b []byte) []byte {
		i := bytes.Index(b, []byte("Read model document number 23"))
		b[i+5] ^= 0x01
		return b
	})
	s = startWithArgs(t, dir, freePort(t), nil)
	sawDamage := false
	eventually(t, "the inbox listed whole again", func() error {
		code, h, body := s.do(t, "GET", "/notifications/from/finn", "")
		switch code {
		case 503:
			sawDamage = true
			if !strings.Contains(string(body), "read-model-damaged") || h.Get("Retry-After") == "" {
				t.Fatalf("503 = %s (Retry-After %q)", body, h.Get("Retry-After"))
			}
			return fmt.Errorf("damaged, rebuilding")
		case 200:
			if !json.Valid(body) {
				t.Fatalf("a 200 carried malformed JSON: %s", body)
			}
			var out struct{ Notifications []view }
			json.Unmarshal(body, &out)
			if len(out.Notifications) != 40 {
				return fmt.Errorf("%d listed", len(out.Notifications))
			}
			return nil
		}
		return fmt.Errorf("%d %s", code, body)
	})
	if !sawDamage && !strings.Contains(s.logs.String(), "damaged") {
		t.Fatalf("the damage was neither answered nor logged:\n%s", s.logs)
	}
}

// An older copy of the event log restored under a newer read model: the read model is ahead
// of the log, so it is dropped and rebuilt (embedded) instead of being served: the listing
// matches the log, and new notifications appear at once.
func TestMismatch_OlderLogRestoredUnderNewerReadModel(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startWithArgs(t, dir, freePort(t), nil)
	s.sendN(t, "gus", "In the backup", 3)
	s.stop(t)
	backup, _ := os.ReadFile(filepath.Join(dir, "events.db"))
	s = startWithArgs(t, dir, freePort(t), nil)
	s.sendN(t, "gus", "After the backup", 2)
	s.waitCount(t, "5 listed", "gus", 5)
	s.stop(t)
	os.WriteFile(filepath.Join(dir, "events.db"), backup, 0o600)
	s = startWithArgs(t, dir, freePort(t), nil)
	if !strings.Contains(s.logs.String(), "does not belong to the event log") {
		t.Fatalf("the mismatch was not logged:\n%s", s.logs)
	}
	code, h, body := s.do(t, "POST", "/notifications", `{"recipientId":"gus","content":"After the restore","category":"c"}`)
	if code != 201 {
		t.Fatalf("POST = %d %s", code, body)
	}
	code, _, body = s.do(t, "GET", "/v1/recipients/gus/notifications", "", "Notify-Min-Position", h.Get("Notify-Position"))
	if code != 200 {
		t.Fatalf("page = %d %s", code, body)
	}
	var page struct{ Notifications []view }
	json.Unmarshal(body, &page)
	got := []string{}
	for _, v := range page.Notifications {
		got = append(got, v.Content)
	}
	if len(got) != 4 || got[0] != "After the restore" || strings.Contains(strings.Join(got, "|"), "After the backup") {
		t.Fatalf("listing %q, want the restored log's 3 and the new one", got)
	}
}

// Two instances, each with its own embedded log, on one PostgreSQL read model: the second is
// refused at start (it would show the other's notifications and hide its own), with the way
// to repair it; `notify projections replay inbox` with its settings rebuilds the read model
// from its log, and it then starts.
func TestMismatch_TwoLogsOnOnePostgresReadModel(t *testing.T) {
	t.Parallel()
	pg := os.Getenv("PG_URL")
	if pg == "" {
		t.Skip("PG_URL is not set: start PostgreSQL with `deploy/postgres/pg.sh up` (CI does) to run this test")
	}
	schema := "e2e_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	rm := []string{"--read-model", pg, "--read-model-schema", schema}
	dirA, dirB := t.TempDir(), t.TempDir()
	a := startWithArgs(t, dirA, freePort(t), rm)
	a.sendN(t, "hal", "Written through A", 3)
	a.stop(t)

	addrB := freePort(t)
	code, out := runToExit(t, append([]string{"--data-dir", dirB, "--http-addr", addrB}, rm...)...)
	noCrash(t, out)
	if code == 0 || !strings.Contains(out, "built from another event log") || !strings.Contains(out, "projections replay inbox") {
		t.Fatalf("B on A's read model: exit %d, want a refusal with the repair:\n%s", code, out)
	}
	if strings.Contains(out, "notify:notify@") {
		t.Fatalf("the refusal prints the database password:\n%s", out)
	}
	code, out = runToExit(t, append([]string{"projections", "replay", "inbox", "--data-dir", dirB}, rm...)...)
	if code != 0 || !strings.Contains(out, "promoted") {
		t.Fatalf("the repair = %d:\n%s", code, out)
	}
	b := startWithArgs(t, dirB, addrB, rm)
	if c := b.count(t, "hal"); c != 0 {
		t.Fatalf("after the repair B shows %d of A's notifications", c)
	}
	b.sendN(t, "hal", "Written through B", 2)
	b.waitCount(t, "B's own notifications listed", "hal", 2)
}

// A full disk: POSTs answer 507 with Retry-After (nothing was written), the service keeps
// running, and once space is freed they are accepted again; every acknowledged notification
// is listed, and none that was refused. The data directory is a small tmpfs (needs root,
// which CI has; elsewhere the test says why it cannot run).
func TestDisk_FullDiskAnswers507AndRecovers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s): CI runs this as root", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	s := startWithArgs(t, dir, freePort(t), nil)
	filler := filepath.Join(dir, "filler")
	f, _ := os.Create(filler)
	for { // fill what the two files have not taken yet
		if _, err := f.Write(make([]byte, 64<<10)); err != nil {
			break
		}
	}
	f.Close()
	acked, refused := 0, 0
	var last []byte
	for i := 0; i < 2000 && refused < 20; i++ {
		code, h, body := s.do(t, "POST", "/notifications", fmt.Sprintf(`{"recipientId":"ivy","content":"On a full disk %04d %s","category":"c"}`, i, strings.Repeat("x", 200)))
		switch code {
		case 201:
			acked++
		case 507:
			refused++
			last = body
			if h.Get("Retry-After") == "" || !strings.Contains(string(body), "insufficient-storage") {
				t.Fatalf("507 without Retry-After or its problem type: %s", body)
			}
		default:
			t.Fatalf("POST on a full disk = %d %s", code, body)
		}
	}
	if refused == 0 {
		t.Fatalf("the disk never filled: %d acknowledged", acked)
	}
	t.Logf("full disk: %d acknowledged, then 507: %s", acked, last)
	os.Remove(filler)
	eventually(t, "POSTs accepted again", func() error {
		code, _, body := s.do(t, "POST", "/notifications", `{"recipientId":"ivy","content":"After space was freed","category":"c"}`)
		if code != 201 {
			return fmt.Errorf("%d %s", code, body)
		}
		acked++
		return nil
	})
	s.waitCount(t, "every acknowledged notification listed", "ivy", acked)
	if lines := strings.Count(s.logs.String(), "request failed"); lines > 3 {
		t.Fatalf("%d error lines for %d refused requests: failures are not summarised", lines, refused)
	}
}
