// Command sseload measures the SSE fan-out of a running notify (started with --rate-limit 0
// and --sse-max-per-recipient at least -clients/-recipients):
//
//  1. -clients real HTTP streams are opened, spread round-robin over -recipients recipients;
//     the server's RSS growth divided by -clients is the memory per connection (start the
//     server fresh for this figure);
//  2. baseline: -sends POSTs at -rate to recipients nobody streams; the server's CPU time is
//     noted;
//  3. the same POSTs to the streamed recipients; every client records, for each notification.sent it reads, the
//     time since the POST was issued (the content carries that time). The server's CPU time
//     beyond the baseline, per delivered event, is the fan-out's cost.
//
// Sends go round-robin to the recipients, so with 1,000 recipients each send reaches one
// client and with one recipient each send reaches all of them. Loopback only; bounded by
// -timeout.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/eventnotify/notify/deploy/bench/benchsse"
)

func main() {
	var (
		service    = flag.String("service", "http://127.0.0.1:18182", "notify base URL")
		pid        = flag.Int("pid", 0, "the server's process id (for its CPU time and RSS)")
		clients    = flag.Int("clients", 1000, "streams to open")
		recipients = flag.Int("recipients", 1000, "recipients the streams and sends are spread over")
		sends      = flag.Int("sends", 2000, "POSTs per phase")
		rate       = flag.Int("rate", 200, "POSTs per second")
		timeout    = flag.Duration("timeout", 3*time.Minute, "give up after")
		tag        = flag.String("tag", "run", "recipient id prefix (fresh inboxes per run)")
	)
	flag.Parse()
	if err := run(*service, *pid, *clients, *recipients, *sends, *rate, *timeout, *tag); err != nil {
		fmt.Fprintln(os.Stderr, "sseload:", err)
		os.Exit(1)
	}
}

func run(service string, pid, clients, recipients, sends, rate int, timeout time.Duration, tag string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DialContext: (&net.Dialer{}).DialContext}
	post := &http.Client{Transport: tr}
	recipient := func(i int) string { return fmt.Sprintf("%s-%d", tag, i%recipients) }

	rss0 := rss(pid)
	self0 := selfCPU()
	var (
		received atomic.Int64
		mu       sync.Mutex
		lat      []time.Duration
		ready    sync.WaitGroup
		errs     = make(chan error, clients)
	)
	streamCtx, stopStreams := context.WithCancel(ctx)
	defer stopStreams()
	stream := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: clients}}
	for i := 0; i < clients; i++ {
		ready.Add(1)
		go func() {
			err := listen(streamCtx, stream, service+"/v1/recipients/"+recipient(i)+"/stream", &ready, func(d time.Duration) {
				received.Add(1)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			})
			if err != nil && streamCtx.Err() == nil {
				errs <- err
			}
		}()
	}
	ready.Wait()
	select {
	case err := <-errs:
		return fmt.Errorf("stream: %w", err)
	default:
	}
	time.Sleep(time.Second)
	perConn := float64(rss(pid)-rss0) / float64(clients)

	// Baseline: the same sends to recipients nobody streams.
	nobody := func(i int) string { return fmt.Sprintf("%s-nobody-%d", tag, i%recipients) }
	cpu0 := cpuTime(pid)
	if err := drive(ctx, post, service, nobody, sends, rate); err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	time.Sleep(500 * time.Millisecond) // let the projection finish
	baseline := cpuTime(pid) - cpu0

	want := int64(sends) * int64(clients) / int64(recipients)
	cpu1 := cpuTime(pid)
	start := time.Now()
	if err := drive(ctx, post, service, recipient, sends, rate); err != nil {
		return fmt.Errorf("with streams: %w", err)
	}
	for received.Load() < want {
		select {
		case err := <-errs:
			return fmt.Errorf("stream: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("delivered %d of %d events before the timeout", received.Load(), want)
		case <-time.After(10 * time.Millisecond):
		}
	}
	elapsed := time.Since(start)
	time.Sleep(500 * time.Millisecond) // the counts frames that follow the last events
	withStreams := cpuTime(pid) - cpu1

	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Printf("clients=%d recipients=%d sends=%d rate=%d/s delivered=%d in %v (%.0f events/s)\n",
		clients, recipients, sends, rate, len(lat), elapsed.Round(time.Millisecond), float64(len(lat))/elapsed.Seconds())
	fmt.Printf("latency POST issued -> client read: p50 %v p99 %v max %v\n", pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
	fmt.Printf("server CPU: baseline %v, with streams %v; fan-out %.1f µs per delivered event (incl. its counts frame)\n",
		baseline.Round(time.Millisecond), withStreams.Round(time.Millisecond), float64((withStreams-baseline).Microseconds())/float64(len(lat)))
	fmt.Printf("load generator CPU (same machine): %v\n", (selfCPU() - self0).Round(time.Millisecond))
	fmt.Printf("server RSS per open stream: %.1f KiB (RSS %d -> %d KiB)\n", perConn, rss0, rss(pid))
	return nil
}

// drive POSTs n notifications at rate, each carrying its issue time in the content.
func drive(ctx context.Context, c *http.Client, service string, recipient func(int) string, n, rate int) error {
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	var failed atomic.Value
	for i := 0; i < n; i++ {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"recipientId":%q,"content":"bench t=%d","category":"bench"}`, recipient(i), time.Now().UnixNano())
			res, err := c.Post(service+"/notifications", "application/json", strings.NewReader(body))
			if err != nil {
				failed.Store(err)
				return
			}
			res.Body.Close()
			if res.StatusCode != http.StatusCreated {
				failed.Store(fmt.Errorf("POST = %d", res.StatusCode))
			}
		}()
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return err
	}
	return nil
}

// listen reads one stream, calling got with the latency of every notification.sent.
func listen(ctx context.Context, c *http.Client, url string, ready *sync.WaitGroup, got func(time.Duration)) error {
	return benchsse.Read(ctx, c, url, ready.Done, func(data []byte) error {
		now := time.Now()
		_, rest, ok := bytes.Cut(data, []byte(`"content":"bench t=`))
		end := bytes.IndexByte(rest, '"')
		if !ok || end < 0 {
			return fmt.Errorf("no bench time in %s", data)
		}
		t, err := strconv.ParseInt(string(rest[:end]), 10, 64)
		if err != nil {
			return err
		}
		got(now.Sub(time.Unix(0, t)))
		return nil
	})
}

// cpuTime is the process's user+system CPU time from /proc/<pid>/stat.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// rss is the process's resident set in KiB.
func rss(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	return 0
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
