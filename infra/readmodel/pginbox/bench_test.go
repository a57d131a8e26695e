package pginbox_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/infra/readmodel/pginbox"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
	"github.com/eventnotify/notify/projections/inbox/inboxtest"
)

// workload is the deterministic benchmark workload every read model is measured with.
var workload = inboxtest.Workload

// project applies events in batches of batch through a lease or a copy, as a replaying
// runner does.
func project(tb testing.TB, l projections.Store[inbox.Tx], name string, events []eventstore.RecordedEvent, batch int) {
	for i := 0; i < len(events); i += batch {
		b := events[i:min(i+batch, len(events))]
		from := eventstore.Position(0)
		if i > 0 {
			from = events[i-1].Position
		}
		err := l.Apply(context.Background(), name, from, b[len(b)-1].Position, func(tx inbox.Tx) error {
			return inboxtest.Fold(tx, b)
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkReplay is the inbox projection's apply rate into PostgreSQL from position 0, in the
// runner's batches of 512, through the projector's lease: b.N events into empty tables.
//
//	go test -run '^$' -bench Replay -benchtime 200000x ./infra/readmodel/pginbox/
func BenchmarkReplay(b *testing.B) {
	s := open(b, freshSchema(b), pginbox.Options{})
	events := workload(b.N, 10_000)
	l, err := s.Lead(context.Background(), inbox.Name)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Release()
	pid := l.BackendPID()
	b.ResetTimer()
	start, cpu := time.Now(), serverCPU(pid)
	project(b, l, inbox.Name, events, 512)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	if cpu >= 0 {
		b.ReportMetric(float64((serverCPU(pid)-cpu).Microseconds())/float64(b.N), "server-cpu-us/event")
	}
}

// BenchmarkReplayCopy is a replay as projections.Replay does it: b.N events applied from
// position 0 into a fresh copy, in the runner's batches of 512, then the copy finished (counts
// summed, index built) and promoted over a live read model. The time includes the promotion,
// also reported alone. Sub-benchmarks: "default" is what Fresh does; "unknown" asks the
// database for every row a batch reads (one query per batch), as the live model does;
// "serial" also commits each batch before the next is prepared; "unlogged" builds the copy
// UNLOGGED (SET LOGGED at the promotion).
//
//	go test -run '^$' -bench ReplayCopy/default -benchtime 1000000x -timeout 20m ./infra/readmodel/pginbox/
func BenchmarkReplayCopy(b *testing.B) {
	for _, v := range []struct {
		name                      string
		known, pipeline, unlogged bool
	}{
		{"default", true, true, false},
		{"unknown", false, true, false},
		{"serial", false, false, false},
		{"unlogged", true, true, true},
	} {
		b.Run(v.name, func(b *testing.B) {
			defer pginbox.SetKnownBuild(v.known)()
			defer pginbox.SetPipelineBuild(v.pipeline)()
			defer pginbox.SetBuildUnlogged(v.unlogged)()
			s := open(b, freshSchema(b), pginbox.Options{})
			events := workload(b.N, 10_000)
			ctx := context.Background()
			c, err := s.Fresh(ctx, inbox.Name)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Drop(ctx)
			pid := c.(*pginbox.Copy).BackendPID()
			b.ResetTimer()
			start, cpu, ccpu := time.Now(), serverCPU(pid), clientCPU()
			project(b, c, inbox.Name, events, 512)
			applied, cpuApplied, ccpuApplied := time.Now(), serverCPU(pid), clientCPU()
			if err := c.Promote(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			b.ReportMetric(time.Since(applied).Seconds(), "promote-s")
			if cpu >= 0 {
				b.ReportMetric(float64((cpuApplied-cpu).Microseconds())/float64(b.N), "server-cpu-us/event")
			}
			b.ReportMetric(float64((ccpuApplied-ccpu).Microseconds())/float64(b.N), "client-cpu-us/event")
			if p, err := s.Checkpoint(ctx, inbox.Name); err != nil || p != eventstore.Position(b.N) {
				b.Fatalf("after promotion the checkpoint is %d, %v; want %d", p, err, b.N)
			}
		})
	}
}

// clientCPU is the CPU time this process has used.
func clientCPU() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// serverCPU is the CPU time the server process pid has used, when it runs on this machine
// (-1 otherwise): on a shared machine it measures the server's work without its waits.
func serverCPU(pid uint32) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	if len(f) < 13 {
		return -1
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // clock ticks of 1/100 s
}

// BenchmarkInboxPage is the latency of a 20-item inbox page and of a count of a random
// recipient, with PGREAD_BENCH_ROWS events stored (default 100,000; about 70% are sends), one
// recipient per 100 events, so that every page is full whatever the total.
//
//	PGREAD_BENCH_ROWS=1000000 go test -run '^$' -bench InboxPage -benchtime 20000x ./infra/readmodel/pginbox/
func BenchmarkInboxPage(b *testing.B) {
	rows := 100_000
	if v, err := strconv.Atoi(os.Getenv("PGREAD_BENCH_ROWS")); err == nil && v > 0 {
		rows = v
	}
	recipients := max(rows/100, 10)
	s := open(b, freshSchema(b), pginbox.Options{})
	l, err := s.Lead(context.Background(), inbox.Name)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	project(b, l, inbox.Name, workload(rows, recipients), 2048)
	l.Release()
	b.Logf("stored %d events in %v", rows, time.Since(start).Round(time.Millisecond))

	inboxtest.BenchQueries(b, s, recipients)
}
