package httpapi_test

import (
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/eventnotify/notify/app/live"
)

// smallBuffers makes a socket's kernel buffers as small as Linux allows, so that a peer that
// stops reading blocks the writer after a few KiB instead of megabytes.
func smallBuffers(c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024)
		if serr == nil {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 1024)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

type smallListener struct{ net.Listener }

func (l smallListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		raw, rerr := tc.SyscallConn()
		if rerr == nil {
			rerr = smallBuffers(raw)
		}
		if rerr != nil {
			c.Close()
			return nil, rerr
		}
	}
	return c, err
}

// TestStream_SlowClientIsCutOffOthersContinue: a client that stops reading is disconnected
// once its buffer overflows, while another stream of the same recipient receives every
// change; the slow client then resumes with Last-Event-ID and misses nothing.
func TestStream_SlowClientIsCutOffOthersContinue(t *testing.T) {
	t.Parallel()
	a := startStream(t, streamSetup{
		hub:      live.Options{Buffer: 64}, // deep enough that the reading client keeps up under load
		listener: func(l net.Listener) net.Listener { return smallListener{l} },
	})
	slowClient := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
		Control: func(_, _ string, c syscall.RawConn) error { return smallBuffers(c) },
	}).DialContext}}
	t.Cleanup(slowClient.CloseIdleConnections)

	// The slow client reads the response headers and then nothing until pause closes.
	req, err := http.NewRequest("GET", a.url+"/v1/recipients/alice/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := slowClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("slow client's stream = %v %v", res, err)
	}
	defer res.Body.Close()
	fast, _ := a.open(t, "alice")
	fast.next(t)
	pause := make(chan struct{})
	frames := make(chan frame, 10000)
	go func() {
		<-pause
		readFrames(res.Body, frames)
	}()

	var sent []string
	for len(sent) < 1000 && a.hub.Subscribers() == 2 {
		_, pos := a.send(t, "alice")
		sent = append(sent, pos)
	}
	if a.hub.Subscribers() != 1 {
		t.Fatalf("after %d changes the client that does not read is still subscribed", len(sent))
	}
	for i := range sent {
		if f := fast.nextChange(t); f.id != sent[i] {
			t.Fatalf("the reading client's change %d = %+v, want id %s", i, f, sent[i])
		}
	}

	// The slow client, reading again, gets a gap-free prefix and the reason it was closed.
	close(pause)
	var got []string
	var closing string
	for f := range frames {
		if strings.HasPrefix(f.event, "notification.") {
			got = append(got, f.id)
		}
		if f.comment != "" {
			closing = f.comment
		}
	}
	if !strings.Contains(closing, "fell behind") {
		t.Fatalf("the slow stream ended with %q, want it to say the client fell behind", closing)
	}
	for i := range got {
		if got[i] != sent[i] {
			t.Fatalf("the slow client's change %d = %s, want %s", i, got[i], sent[i])
		}
	}
	t.Logf("cut off after %d changes, %d of them read before", len(sent), len(got))
	last := "0"
	if len(got) > 0 {
		last = got[len(got)-1]
	}
	again, _ := a.open(t, "alice", "Last-Event-ID", last)
	for i := len(got); i < len(sent); i++ {
		if f := again.nextChange(t); f.id != sent[i] {
			t.Fatalf("after resuming from %s, change %d = %+v, want %s", last, i, f, sent[i])
		}
	}
}
