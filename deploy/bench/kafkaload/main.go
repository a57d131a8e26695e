// Command kafkaload measures the Kafka path of a running notify: commands produced to the
// commands topic until they are visible in the inbox read model.
//
//   - throughput: produce -n commands as fast as possible, then wait until the projection has
//     applied them all; rate = n / (last visible − first produced).
//   - latency (-rate > 0): produce at a fixed rate; each command's event position is learnt
//     from the events topic (its correlation-id is the command id) and the time it became
//     visible from polling /readyz every millisecond for the projection's position.
//
// Loopback only, bounded by -n and -timeout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func main() {
	var (
		brokers    = flag.String("brokers", "127.0.0.1:19092", "Kafka broker")
		service    = flag.String("service", "http://127.0.0.1:18181", "notify base URL")
		commands   = flag.String("commands-topic", "notifications.commands", "commands topic")
		events     = flag.String("events-topic", "notifications.events", "events topic")
		partitions = flag.Int("partitions", 16, "partitions to create the commands topic with")
		n          = flag.Int("n", 50000, "commands to produce")
		rate       = flag.Int("rate", 0, "commands per second (0: as fast as possible)")
		timeout    = flag.Duration("timeout", 5*time.Minute, "give up after")
	)
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *brokers, *service, *commands, *events, int32(*partitions), *n, *rate); err != nil {
		fmt.Fprintln(os.Stderr, "kafkaload:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, brokers, service, commandsTopic, eventsTopic string, partitions int32, n, rate int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ProducerLinger(time.Millisecond), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := createTopic(ctx, cl, commandsTopic, partitions); err != nil {
		return err
	}
	start, err := position(ctx, service)
	if err != nil {
		return err
	}
	run := strconv.FormatInt(time.Now().UnixNano(), 36)

	var (
		mu       sync.Mutex
		produced = make([]time.Time, n)
		errs     = make(chan error, 1)
		wg       sync.WaitGroup
	)
	var polls pollLog
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	if rate > 0 {
		go polls.run(pollCtx, service)
	}

	first := time.Now()
	for i := range n {
		if rate > 0 { // pace by the clock: a ticker drops ticks when the loop falls behind
			if wait := time.Until(first.Add(time.Duration(i) * time.Second / time.Duration(rate))); wait > 0 {
				time.Sleep(wait)
			}
		}
		recipient := fmt.Sprintf("load-%d", i%1000)
		body, _ := json.Marshal(map[string]string{
			"type": "SendNotification", "commandId": fmt.Sprintf("%s-%d", run, i),
			"recipientId": recipient, "content": fmt.Sprintf("Load test command %d", i), "category": "load",
		})
		wg.Add(1)
		i := i
		mu.Lock()
		produced[i] = time.Now()
		mu.Unlock()
		cl.Produce(ctx, &kgo.Record{Topic: commandsTopic, Key: []byte(recipient), Value: body}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return fmt.Errorf("produce: %w", err)
	default:
	}
	producedAll := time.Since(first)

	// Every command is one event: the projection reaches start+n when all are visible.
	want := start + uint64(n)
	var last time.Time
	for {
		p, err := position(ctx, service)
		if err != nil {
			return err
		}
		if p >= want {
			last = time.Now()
			polls.record(last, p)
			break
		}
		time.Sleep(time.Millisecond)
	}
	total := last.Sub(first)
	fmt.Printf("commands: %d over %d partitions; produced in %v; all visible after %v: %.0f commands/s\n",
		n, partitions, producedAll.Round(time.Millisecond), total.Round(time.Millisecond), float64(n)/total.Seconds())
	if rate == 0 {
		return nil
	}
	stopPoll()
	positions, err := eventPositions(ctx, brokers, eventsTopic, run, n)
	if err != nil {
		return err
	}
	lat := make([]time.Duration, 0, n)
	for i, p := range positions {
		seen, ok := polls.firstAtLeast(p)
		if !ok {
			return fmt.Errorf("command %d at position %d never seen visible", i, p)
		}
		lat = append(lat, seen.Sub(produced[i]))
	}
	slices.Sort(lat)
	q := func(f float64) time.Duration { return lat[int(f*float64(len(lat)-1))].Round(100 * time.Microsecond) }
	fmt.Printf("latency at %d commands/s, produce → visible in the inbox: p50 %v  p90 %v  p99 %v  max %v\n", rate, q(0.5), q(0.9), q(0.99), q(1))
	return nil
}

func createTopic(ctx context.Context, cl *kgo.Client, topic string, partitions int32) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = topic, partitions, 1
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 && code != 36 { // 36: already exists
		return fmt.Errorf("create topic %s: error code %d", topic, code)
	}
	return nil
}

// position asks the service how far its inbox projection has got.
func position(ctx context.Context, service string) (uint64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, service+"/readyz", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var body struct {
		Projections map[string]uint64 `json:"projections"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return 0, err
	}
	p, ok := body.Projections["inbox"]
	if !ok {
		return 0, errors.New("/readyz reports no inbox projection position")
	}
	return p, nil
}

// pollLog records (time, projection position) every millisecond.
type pollLog struct {
	mu  sync.Mutex
	at  []time.Time
	pos []uint64
}

func (l *pollLog) run(ctx context.Context, service string) {
	for ctx.Err() == nil {
		if p, err := position(ctx, service); err == nil {
			l.record(time.Now(), p)
		}
		time.Sleep(time.Millisecond)
	}
}

func (l *pollLog) record(at time.Time, p uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.pos); n > 0 && p < l.pos[n-1] {
		return
	}
	l.at, l.pos = append(l.at, at), append(l.pos, p)
}

func (l *pollLog) firstAtLeast(p uint64) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, _ := slices.BinarySearch(l.pos, p)
	if i == len(l.pos) {
		return time.Time{}, false
	}
	return l.at[i], true
}

// eventPositions reads the events topic for this run's commands: command i → log position.
func eventPositions(ctx context.Context, brokers, topic, run string, n int) ([]uint64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	out := make([]uint64, n)
	found := 0
	prefix := run + "-"
	for found < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("found %d of %d events: %w", found, n, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var corr, pos string
			for _, h := range r.Headers {
				switch h.Key {
				case "correlation-id":
					corr = string(h.Value)
				case "position":
					pos = string(h.Value)
				}
			}
			if len(corr) <= len(prefix) || corr[:len(prefix)] != prefix {
				return
			}
			i, err1 := strconv.Atoi(corr[len(prefix):])
			p, err2 := strconv.ParseUint(pos, 10, 64)
			if err1 == nil && err2 == nil && i < n && out[i] == 0 {
				out[i] = p
				found++
			}
		})
	}
	return out, nil
}
