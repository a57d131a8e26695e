package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// proxy forwards TCP connections from a listener to target. It listens only when told, so
// the service first finds nothing at the address, and cut closes the listener and every
// connection, as a server that goes away would.
type proxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
}

func (p *proxy) listen(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	t.Cleanup(p.cut)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.ln, p.conns = nil, nil
}

// PostgreSQL unreachable when the service starts: it starts anyway, takes commands (the log
// is local), answers reads 503 dependency-unavailable with Retry-After and /readyz 503, says
// so once in its log instead of once per retry, and serves everything once the database is
// reached, the commands taken meanwhile included.
func TestDependency_PostgresUnreachableAtStart(t *testing.T) {
	t.Parallel()
	pg := os.Getenv("PG_URL")
	if pg == "" {
		t.Skip("PG_URL is not set: start PostgreSQL with `deploy/postgres/pg.sh up` (CI does) to run this test")
	}
	u, err := url.Parse(pg)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: freePort(t), target: u.Host}
	u.Host = p.addr
	schema := "e2e_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	addr := freePort(t)
	s := startServiceUntil(t, "/healthz", []string{"--data-dir", t.TempDir(), "--http-addr", addr,
		"--read-model", u.String(), "--read-model-schema", schema})

	recipient := uuid.NewString()
	s.sendN(t, recipient, "Taken while PostgreSQL is away", 3)
	for _, path := range []string{"/notifications/from/" + recipient, "/v1/recipients/" + recipient + "/notifications/count"} {
		code, h, body := s.do(t, "GET", path, "")
		var prob struct{ Type string }
		json.Unmarshal(body, &prob)
		if code != 503 || h.Get("Retry-After") == "" || prob.Type != "urn:notify:problem:dependency-unavailable" {
			t.Fatalf("GET %s without PostgreSQL = %d Retry-After %q %s, want 503 dependency-unavailable with Retry-After", path, code, h.Get("Retry-After"), body)
		}
	}
	code, _, body := s.do(t, "GET", "/readyz", "")
	if code != 503 || !strings.Contains(string(body), "read model unreachable") {
		t.Fatalf("/readyz without PostgreSQL = %d %s", code, body)
	}
	if logs := s.logs.String(); strings.Contains(logs, "notify:notify@") {
		t.Fatalf("the logs print the database password:\n%s", logs)
	}

	p.listen(t)
	s.waitCount(t, "the notifications taken meanwhile listed", recipient, 3)
	s.waitStatus(t, "/readyz", 200)
	logs := s.logs.String()
	if n := strings.Count(logs, "PostgreSQL read model unreachable"); n != 1 {
		t.Fatalf("the unreachable database is reported %d times, want once:\n%s", n, logs)
	}
	if !strings.Contains(logs, "PostgreSQL read model reached") {
		t.Fatalf("no line says the database was reached:\n%s", logs)
	}

	// PostgreSQL goes away while the service runs: the same, and back again.
	p.cut()
	eventually(t, "reads answer 503 with the database gone", func() error {
		code, h, body, err := s.try("GET", "/notifications/count/from/"+recipient, "")
		if err != nil || code != 503 || h.Get("Retry-After") == "" {
			return fmt.Errorf("%d %s %v", code, body, err)
		}
		return nil
	})
	s.sendN(t, recipient, "Taken while PostgreSQL is away again", 2)
	p.listen(t)
	s.waitCount(t, "every notification listed once the database is back", recipient, 5)
}

// A PostgreSQL read model reached only after the start is checked against the log before it
// is served: one built from another log stops the service with the repair, and none of its
// notifications is ever shown.
func TestDependency_PostgresReachedLateIsCheckedBeforeServed(t *testing.T) {
	t.Parallel()
	pg := os.Getenv("PG_URL")
	if pg == "" {
		t.Skip("PG_URL is not set: start PostgreSQL with `deploy/postgres/pg.sh up` (CI does) to run this test")
	}
	schema := "e2e_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	a := startWithArgs(t, t.TempDir(), freePort(t), []string{"--read-model", pg, "--read-model-schema", schema})
	a.sendN(t, "ida", "Written through A", 2)
	a.waitCount(t, "A's notifications listed", "ida", 2)
	a.stop(t)

	u, err := url.Parse(pg)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: freePort(t), target: u.Host}
	u.Host = p.addr
	b := startServiceUntil(t, "/healthz", []string{"--data-dir", t.TempDir(), "--http-addr", freePort(t),
		"--read-model", u.String(), "--read-model-schema", schema})
	if code, _, body := b.do(t, "GET", "/notifications/from/ida", ""); code != 503 {
		t.Fatalf("B's inbox before PostgreSQL is reached = %d %s, want 503", code, body)
	}
	p.listen(t)
	eventually(t, "B stops on A's read model", func() error {
		select {
		case err := <-b.done:
			b.done <- err
			if err == nil {
				return fmt.Errorf("B exited 0")
			}
			return nil
		default:
			if code, _, body, err := b.try("GET", "/notifications/from/ida", ""); err == nil && code == 200 {
				t.Fatalf("B served A's read model: %s", body)
			}
			return fmt.Errorf("still running")
		}
	})
	if logs := b.logs.String(); !strings.Contains(logs, "built from another event log") || !strings.Contains(logs, "projections replay inbox") {
		t.Fatalf("B's stop does not say why or how to repair:\n%s", logs)
	}
}

// EventStoreDB unreachable when the service starts: after --startup-timeout it exits with one
// message naming the store (password hidden), what the client last said and what to check; it
// neither waits for ever nor logs each of the client's retries.
func TestDependency_EventStoreDBUnreachableAtStart(t *testing.T) {
	t.Parallel()
	code, out := runToExit(t, "--data-dir", t.TempDir(), "--http-addr", freePort(t), "--startup-timeout", "2s",
		"--event-store", "esdb://admin:s3cret@"+freePort(t)+"?tls=false")
	noCrash(t, out)
	for _, want := range []string{"did not answer within --startup-timeout 2s", "connection refused", "Check --event-store"} {
		if code == 0 || !strings.Contains(out, want) {
			t.Fatalf("exit %d, want a failure saying %q:\n%s", code, want, out)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Fatalf("the output prints the password:\n%s", out)
	}
	if n := strings.Count(out, "esdb client:"); n > 2 {
		t.Fatalf("the client's retries are logged %d times in 2 s, want them summarized:\n%s", n, out)
	}
}

// Kafka unreachable: at start the service starts anyway (HTTP takes commands and serves
// reads) and /readyz answers 503 with kafka.status "unreachable" and since when; once a
// broker answers, the bridge connects and consumes; when the broker goes away again /readyz
// says so, and recovers with it. The broker is the in-process Kafka-protocol broker kfake on
// a fixed port, so the test can start and stop it.
func TestDependency_KafkaUnreachable(t *testing.T) {
	t.Parallel()
	addr := freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	startBroker := func() *kfake.Cluster {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.Ports(p))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	s := startServiceUntil(t, "/healthz", []string{"--data-dir", t.TempDir(), "--http-addr", freePort(t), "--kafka-brokers", addr, "--kafka-group", "e2e-unreachable"})
	type kafka struct{ Status, UnreachableSince string }
	readyz := func() (int, kafka) {
		code, _, body := s.do(t, "GET", "/readyz", "")
		var r struct{ Kafka kafka }
		json.Unmarshal(body, &r)
		return code, r.Kafka
	}
	unreachable := func() error {
		if code, k := readyz(); code != 503 || k.Status != "unreachable" || k.UnreachableSince == "" {
			return fmt.Errorf("%d %+v", code, k)
		}
		return nil
	}
	ready := func() error {
		if code, k := readyz(); code != 200 || k.Status != "ok" {
			return fmt.Errorf("%d %+v", code, k)
		}
		return nil
	}
	if err := unreachable(); err != nil {
		t.Fatalf("/readyz with no broker at start: %v", err)
	}
	s.sendN(t, "kim", "Taken over HTTP while Kafka is away", 1)

	broker := startBroker()
	eventually(t, "/readyz ready once the broker answers", ready)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(), kgo.UnknownTopicRetries(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rec := &kgo.Record{Topic: "notifications.send-notification", Value: []byte(`{"recipientId":"kim","content":"Through Kafka","category":"c"}`)}
	produceCtx, cancelProduce := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelProduce()
	if err := cl.ProduceSync(produceCtx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	s.waitCount(t, "the command from Kafka applied", "kim", 2)

	cl.Close()
	broker.Close()
	eventually(t, "/readyz says Kafka is unreachable", unreachable)
	s.sendN(t, "kim", "Taken over HTTP while Kafka is away again", 1)
	broker = startBroker()
	defer broker.Close()
	eventually(t, "/readyz ready again", ready)
	if logs := s.logs.String(); strings.Count(logs, "Kafka unreachable") != 1 || !strings.Contains(logs, "Kafka reached") {
		t.Fatalf("want one line saying Kafka is unreachable and one that it was reached:\n%s", logs)
	}
}
