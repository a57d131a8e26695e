package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func cpu(pid string) float64 {
	b, _ := os.ReadFile("/proc/" + pid + "/stat")
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100
}

func main() {
	pid := os.Args[1]
	topic := fmt.Sprintf("cost%d", time.Now().UnixNano())
	cl, _ := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:19092"), kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(time.Millisecond), kgo.MaxBufferedRecords(1<<20))
	ctx := context.Background()
	cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("warm")})
	a := cpu(pid)
	var wg sync.WaitGroup
	for i := range 100000 {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf(`{"recipientId":"r%d","content":"kafkaload t=1 i=%d","category":"load"}`, i%100, i))}, func(*kgo.Record, error) { wg.Done() })
	}
	wg.Wait()
	b := cpu(pid)
	fmt.Printf("produce 100k: broker %.2fs\n", b-a)
	c, _ := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:19092"), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	n := 0
	for n < 100001 {
		fs := c.PollFetches(ctx)
		n += fs.NumRecords()
	}
	fmt.Printf("consume 100k: broker %.2fs\n", cpu(pid)-b)
}
