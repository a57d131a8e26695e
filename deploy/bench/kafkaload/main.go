// Command kafkaload measures the Kafka path of a running notify: commands produced to a
// commands topic until their effect is visible.
//
//   - drain (-rate 0): produce -n commands as fast as possible, then wait until the inbox
//     projection has applied them all (polling /readyz); rate = n / (last applied − first
//     produced).
//   - latency (-rate > 0): first open one live stream (SSE) per recipient, then produce at a
//     fixed rate; every command's content carries its produce time, and each stream notes, for
//     every notification.sent it reads, the time since that command was produced.
//
// -seed sends the original service's payload {recipientId, content, category} with no key and
// no headers, as its producer (kafkajs) does; otherwise typed SendNotification envelopes keyed
// by recipient. Loopback only, bounded by -n and -timeout.
package main

import (
	"bytes"
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
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventnotify/notify/deploy/bench/benchsse"
	"github.com/eventnotify/notify/infra/transport/kafkasub/kafkaadmin"
)

type options struct {
	brokers, service, topic string
	partitions              int32
	n, rate, recipients     int
	seed                    bool
}

func main() {
	var o options
	var partitions int
	flag.StringVar(&o.brokers, "brokers", "127.0.0.1:19092", "Kafka broker")
	flag.StringVar(&o.service, "service", "http://127.0.0.1:18181", "notify base URL")
	flag.StringVar(&o.topic, "topic", "notifications.commands", "topic to produce to (created if missing)")
	flag.IntVar(&partitions, "partitions", 1, "partitions to create the topic with")
	flag.IntVar(&o.n, "n", 100000, "commands to produce")
	flag.IntVar(&o.rate, "rate", 0, "commands per second (0: as fast as possible, and measure the drain rate)")
	flag.IntVar(&o.recipients, "recipients", 100, "recipients the commands are spread over (each gets one live stream with -rate)")
	flag.BoolVar(&o.seed, "seed", false, "send the original service's payload, without key or headers")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after")
	flag.Parse()
	o.partitions = int32(partitions)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "kafkaload:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	// A topic just created may be missing from the metadata for a moment: an unknown topic is
	// retried until ctx's deadline, not franz-go's default of 4 times.
	cl, err := kgo.NewClient(kgo.SeedBrokers(o.brokers), kgo.ProducerLinger(time.Millisecond), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedRecords(1<<20), kgo.UnknownTopicRetries(-1))
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := kafkaadmin.CreateTopic(ctx, cl, o.topic, o.partitions); err != nil {
		return err
	}
	tag := strconv.FormatInt(time.Now().UnixNano(), 36)
	recipient := func(i int) string { return fmt.Sprintf("load-%s-%d", tag, i%o.recipients) }

	var lat latencies
	streamCtx, stopStreams := context.WithCancel(ctx)
	defer stopStreams()
	streamErr := make(chan error, o.recipients)
	if o.rate > 0 {
		var ready sync.WaitGroup
		for r := range o.recipients {
			ready.Add(1)
			go func() {
				err := listen(streamCtx, o.service+"/v1/recipients/"+recipient(r)+"/stream", &ready, lat.add)
				if err != nil && streamCtx.Err() == nil {
					streamErr <- err
				}
			}()
		}
		ready.Wait()
		select {
		case err := <-streamErr:
			return fmt.Errorf("live stream: %w", err)
		default:
		}
	}
	start, err := position(ctx, o.service)
	if err != nil {
		return err
	}

	var (
		wg      sync.WaitGroup
		failed  atomic.Pointer[error]
		payload = make([]byte, 0, 256)
	)
	first := time.Now()
	for i := range o.n {
		if o.rate > 0 { // pace by the clock: a ticker drops ticks when the loop falls behind
			if wait := time.Until(first.Add(time.Duration(i) * time.Second / time.Duration(o.rate))); wait > 0 {
				time.Sleep(wait)
			}
		}
		rec := recipient(i)
		content := fmt.Sprintf("kafkaload t=%d i=%d", time.Now().UnixNano(), i)
		r := &kgo.Record{Topic: o.topic}
		if o.seed {
			payload, _ = json.Marshal(map[string]string{"recipientId": rec, "content": content, "category": "load"})
		} else {
			payload, _ = json.Marshal(map[string]string{"type": "SendNotification", "commandId": fmt.Sprintf("%s-%d", tag, i),
				"recipientId": rec, "content": content, "category": "load"})
			r.Key = []byte(rec)
		}
		r.Value = payload
		wg.Add(1)
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		return fmt.Errorf("produce: %w", *err)
	}
	producedAll := time.Since(first)

	if o.rate == 0 {
		// Every command is one event: the projection reaches start+n when all are applied.
		want := start + uint64(o.n)
		for {
			p, err := position(ctx, o.service)
			if err != nil {
				return err
			}
			if p >= want {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		total := time.Since(first)
		fmt.Printf("drain: %d commands to %s (%d partitions); produced in %v; all applied after %v: %.0f commands/s\n",
			o.n, o.topic, o.partitions, producedAll.Round(time.Millisecond), total.Round(time.Millisecond), float64(o.n)/total.Seconds())
		return nil
	}
	for lat.len() < o.n {
		select {
		case err := <-streamErr:
			return fmt.Errorf("live stream: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("%d of %d commands seen on the live streams before the timeout", lat.len(), o.n)
		case <-time.After(5 * time.Millisecond):
		}
	}
	total := time.Since(first)
	d := lat.sorted()
	q := func(f float64) time.Duration { return d[int(f*float64(len(d)-1))].Round(100 * time.Microsecond) }
	fmt.Printf("latency: %d commands to %s at %d/s over %d streams, %.0f/s delivered; produce → seen on the live stream: p50 %v  p90 %v  p99 %v  max %v\n",
		o.n, o.topic, o.rate, o.recipients, float64(o.n)/total.Seconds(), q(0.5), q(0.9), q(0.99), q(1))
	return nil
}

type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) { l.mu.Lock(); l.d = append(l.d, d); l.mu.Unlock() }
func (l *latencies) len() int            { l.mu.Lock(); defer l.mu.Unlock(); return len(l.d) }
func (l *latencies) sorted() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	slices.Sort(l.d)
	return l.d
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

// listen reads one live stream, calling got with the latency of every notification.sent.
func listen(ctx context.Context, url string, ready *sync.WaitGroup, got func(time.Duration)) error {
	return benchsse.Read(ctx, http.DefaultClient, url, ready.Done, func(data []byte) error {
		now := time.Now()
		_, rest, ok := bytes.Cut(data, []byte(`"content":"kafkaload t=`))
		end := bytes.IndexByte(rest, ' ')
		if !ok || end < 0 {
			return fmt.Errorf("no produce time in %s", data)
		}
		t, err := strconv.ParseInt(string(rest[:end]), 10, 64)
		if err != nil {
			return err
		}
		got(now.Sub(time.Unix(0, t)))
		return nil
	})
}
