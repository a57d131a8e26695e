package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/eventnotify/notify/infra/transport/httpapi/auth"
)

// TestHostileInputsAgainstTheBinary sends oversized, malformed and unauthenticated requests to
// the running binary, each several times, checks every one gets its documented status, and
// that the service still serves a normal send and read afterwards.
func TestHostileInputsAgainstTheBinary(t *testing.T) {
	t.Parallel()
	secret, key := "token-secret-5b1e8c0f9a7d4e2b6c3a1f0e", "svc-key-d41c7e09b2"
	s := startServiceEnv(t, []string{"--data-dir", t.TempDir(), "--http-addr", freePort(t), "--log-level", "debug",
		"--auth-jwt-issuer", "iss", "--auth-jwt-audience", "notify"},
		"NOTIFY_AUTH_API_KEYS="+auth.HashKey(key)+":send", "NOTIFY_AUTH_JWT_SECRET="+secret)
	tok := func(key, alg string) string {
		m := map[string]jwt.SigningMethod{"HS256": jwt.SigningMethodHS256, "none": jwt.SigningMethodNone}[alg]
		k := any([]byte(key))
		if alg == "none" {
			k = jwt.UnsafeAllowNoneSignatureType
		}
		v, _ := jwt.NewWithClaims(m, jwt.MapClaims{"sub": "alice", "iss": "iss", "aud": "notify", "exp": time.Now().Add(time.Minute).Unix()}).SignedString(k)
		return "Bearer " + v
	}
	svc := []string{auth.HeaderAPIKey, key}
	cases := []struct {
		name    string
		method  string
		path    string
		ct      string
		body    string
		headers []string
		status  int
	}{
		{"body one byte over 64 KiB", "POST", "/notifications", "application/json", `{"content":"` + strings.Repeat("a", 64<<10) + `"}`, svc, 413},
		{"body of 8 MiB", "POST", "/notifications", "application/json", strings.Repeat(" ", 8<<20), svc, 413},
		{"malformed JSON", "POST", "/notifications", "application/json", `{"recipientId":`, svc, 400},
		{"JSON nested 10,000 deep", "POST", "/notifications", "application/json", `{"x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`, svc, 400},
		{"not JSON media type", "POST", "/notifications", "text/plain", `{}`, svc, 415},
		{"invalid UTF-8 content", "POST", "/notifications", "application/json", "{\"recipientId\":\"r\",\"content\":\"hello \xff\xfe there\",\"category\":\"c\"}", svc, 400},
		{"content of 241 characters", "POST", "/notifications", "application/json", `{"recipientId":"r","content":"` + strings.Repeat("é", 241) + `","category":"c"}`, svc, 400},
		{"recipient of 129 characters", "POST", "/notifications", "application/json", `{"recipientId":"` + strings.Repeat("r", 129) + `","content":"hello there","category":"c"}`, svc, 400},
		{"recipient path of 10,000 characters", "GET", "/notifications/from/" + strings.Repeat("a", 10000), "", "", []string{"Authorization", tok(secret, "HS256")}, 404},
		{"notification id not a UUID", "PATCH", "/notifications/../../etc/passwd/read", "", "", svc, 404},
		{"no credentials", "POST", "/notifications", "application/json", `{}`, nil, 401},
		{"forged token", "GET", "/notifications/from/alice", "", "", []string{"Authorization", tok(strings.Repeat("x", 32), "HS256")}, 401},
		{"alg none token", "GET", "/notifications/from/alice", "", "", []string{"Authorization", tok("", "none")}, 401},
		{"guessed API key", "POST", "/notifications", "application/json", `{}`, []string{auth.HeaderAPIKey, "guess"}, 401},
		{"recipient token sending", "POST", "/notifications", "application/json", `{}`, []string{"Authorization", tok(secret, "HS256")}, 403},
	}
	const times = 10
	for _, c := range cases {
		for i := 0; i < times; i++ {
			code, h, b, err := s.try(c.method, c.path, c.body, append([]string{"Content-Type", c.ct}, c.headers...)...)
			if err != nil {
				t.Fatalf("%s (#%d): %v", c.name, i+1, err)
			}
			if code != c.status || h.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%s (#%d) = %d %s %.200s, want %d problem+json", c.name, i+1, code, h.Get("Content-Type"), b, c.status)
			}
		}
	}
	// A 2 MiB header is refused by the HTTP server itself.
	for i := 0; i < times; i++ {
		if code, _, _, err := s.try("GET", "/healthz", "", "X-Junk", strings.Repeat("j", 2<<20)); err != nil || code != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("2 MiB header = %d %v, want 431", code, err)
		}
	}
	// A raw connection sending garbage instead of HTTP gets a 400 and is closed.
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(conn, "\x00\x01GARBAGE\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	reply, _ := io.ReadAll(conn)
	conn.Close()
	if !bytes.HasPrefix(reply, []byte("HTTP/1.1 400")) {
		t.Fatalf("garbage on the socket got %q", reply)
	}
	t.Logf("%d hostile inputs × %d each (plus a 2 MiB header and raw garbage) all refused as documented", len(cases), times)

	// Still serving.
	code, _, b := s.do(t, "POST", "/notifications", `{"recipientId":"alice","content":"still here","category":"c"}`, svc...)
	var n struct{ Notification struct{ ID string } }
	if code != 201 || json.Unmarshal(b, &n) != nil {
		t.Fatalf("a normal send after the barrage = %d %s", code, b)
	}
	eventually(t, "alice's inbox shows it", func() error {
		code, _, b := s.do(t, "GET", "/notifications/count/from/alice", "", "Authorization", tok(secret, "HS256"))
		if code != 200 || string(b) != `{"count":1}` {
			return fmt.Errorf("count = %d %s", code, b)
		}
		return nil
	})
	for _, v := range []string{secret, key, auth.HashKey(key)} {
		if strings.Contains(s.logs.String(), v) {
			t.Fatalf("the logs (at debug level) contain a secret:\n%s", s.logs)
		}
	}
}

// TestRefusesUnauthenticatedBeyondLoopback: the binary will not serve every inbox to the
// network by accident. The address is checked before anything binds, and it is a TEST-NET
// address (RFC 5737) that no interface here holds, so even a regression binds nothing.
func TestRefusesUnauthenticatedBeyondLoopback(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(binary, "--data-dir", t.TempDir(), "--http-addr", "192.0.2.1:8080").CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(out), "--insecure") {
		t.Fatalf("unauthenticated on a non-loopback address = exit %d %s, want exit 2 naming --insecure", code, out)
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
