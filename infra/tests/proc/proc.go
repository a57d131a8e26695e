// Package proc is what the suites that run the built binary share: building it once, a free
// loopback address for it, and a buffer its output goes to while the test reads it.
package proc

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Build compiles the service (the module's main package at root) into a fresh temporary
// directory and returns the binary's path and a function that removes it.
func Build(root string) (string, func(), error) {
	dir, err := os.MkdirTemp("", "notify-bin")
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(dir, "notify")
	cmd := exec.Command("go", "build", "-o", bin, root)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("build notify: %w", err)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// FreeAddr is a loopback address with a port nothing listens on at the moment.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Output collects a process's output: the process writes while the test reads.
type Output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}
