package e2e_test

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// Idle and half-sent connections (slowloris) do not hold the service: 200 sockets that send
// half a request line and then nothing are closed by the server (ReadHeaderTimeout, 5 s), and
// meanwhile a normal client is served.
func TestConnections_IdleAndHalfSentAreClosedOthersServed(t *testing.T) {
	t.Parallel()
	addr := freePort(t)
	s := startWithArgs(t, t.TempDir(), addr, nil)
	const n = 200
	conns := make([]net.Conn, 0, n)
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		defer c.Close()
		if i%2 == 0 { // half of them send a partial request; the rest send nothing
			if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")); err != nil {
				t.Fatal(err)
			}
		}
		conns = append(conns, c)
	}
	s.sendN(t, "ivy", "Served beside idle connections", 1)
	s.waitCount(t, "the notification listed beside idle connections", "ivy", 1)
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(15 * time.Second)) // the test's bound, not a timing claim
		_, err := io.ReadAll(c)                             // the server answers 408 or just closes
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("connection %d still open after 15 s: the server does not close idle connections", i)
		}
	}
}
