// Package esdbtest is an in-process test double of an EventStoreDB node: a gRPC server on a
// loopback address, built on the protobuf packages the official Go client (v4) ships, that
// implements the calls that client makes for appends, stream reads, $all reads and filtered
// $all subscriptions, plus the server-features and gossip calls of its connection handshake.
//
// It is test support only: nothing outside _test files may import it, so it never reaches the
// service binary.
//
// Every behaviour cites the rule it copies. "server:" citations name files of
// github.com/EventStore/EventStore at commit 3f1acb7e46d5 (v25.0 branch, March 2025);
// "docs:" citations name pages of https://developers.eventstore.com. Where the double is
// simpler than the server, the comment says so.
package esdbtest

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/gossip"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
)

// Server is the double. Its log lives in memory and survives Stop and Start, so a test can take
// the node away and bring it back on the same address with the same data.
type Server struct {
	mu      sync.Mutex
	records []*record        // the transaction log, in log-position order
	streams map[string][]int // stream → indexes into records of its events, by revision
	ids     map[uuid.UUID]int
	next    int64         // log position of the next record
	changed chan struct{} // closed and replaced after every write

	subscriptions int // subscriptions confirmed, over the server's whole life

	srvMu sync.Mutex // serialises Start and Stop
	grpc  *grpc.Server
	done  chan struct{}
	addr  atomic.Value // string; read by the gossip handler, which must not wait for Stop
}

// record is one record of the log. Only data records are events; the others (epoch records,
// the empty prepare an empty append writes) take log space and are never read back.
type record struct {
	pos         int64 // log position; for an event it is both its commit and prepare position
	size        int64
	event       bool
	stream      string
	rev         int64
	id          uuid.UUID
	typ         string
	contentType string
	data, meta  []byte
	created     time.Time
}

// post is the position right after the record.
func (r *record) post() int64 { return r.pos + r.size }

// New returns a stopped double with an empty log; Start serves it.
func New() *Server {
	return &Server{streams: map[string][]int{}, ids: map[uuid.UUID]int{}, changed: make(chan struct{})}
}

// Run starts a double on 127.0.0.1 with a free port and stops it when the test ends.
func Run(t testing.TB) *Server {
	t.Helper()
	s := New()
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("start EventStoreDB double: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Start serves the double on addr, which must be a loopback address ("127.0.0.1:0" picks a
// port; a restart passes the previous Addr). Each start writes a new epoch, as a node does when
// it becomes leader (server: Services/Storage/EpochManager/EpochManager.cs writes an epoch
// record and a "$epoch-information" event in the "$epoch-information" stream).
func (s *Server) Start(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("esdbtest: address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("esdbtest: address %q is not a loopback address", addr)
	}
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.grpc != nil {
		return errors.New("esdbtest: already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("esdbtest: listen on %s: %w", addr, err)
	}
	s.writeEpoch()
	g := grpc.NewServer()
	streams.RegisterStreamsServer(g, &streamsService{s: s})
	serverfeatures.RegisterServerFeaturesServer(g, &featuresService{})
	gossip.RegisterGossipServer(g, &gossipService{s: s})
	s.grpc, s.done = g, make(chan struct{})
	s.addr.Store(ln.Addr().String())
	done := s.done
	go func() {
		defer close(done)
		_ = g.Serve(ln)
	}()
	return nil
}

// Stop takes the node away abruptly: the listener closes and every call in flight, live
// subscriptions included, ends with a transport error, as when a node dies.
func (s *Server) Stop() {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.grpc == nil {
		return
	}
	s.grpc.Stop()
	<-s.done
	s.grpc = nil
}

// Addr is the address the double listens on (host:port).
func (s *Server) Addr() string {
	addr, _ := s.addr.Load().(string)
	return addr
}

// URL is the insecure connection string of the double for the official client.
func (s *Server) URL() string { return "esdb://" + s.Addr() + "?tls=false" }

// Subscriptions reports how many subscriptions the double has confirmed since New.
func (s *Server) Subscriptions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subscriptions
}

// Records reports how many records (events and others) the log holds.
func (s *Server) Records() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

// AppendSystemEvent writes an event the node itself would write, such as the statistics a node
// appends to "$stats-<endpoint>" with type "$statsCollected" (server:
// Services/Monitoring/MonitoringService.cs). Tests use it to prove system events never leak.
func (s *Server) AppendSystemEvent(stream, typ string) {
	if !strings.HasPrefix(stream, "$") {
		panic("esdbtest: system streams start with $")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	last := s.lastRevision(stream)
	s.writeEvent(stream, last+1, uuid.New(), typ, "application/json", []byte(`{}`), nil, time.Now())
	s.notify()
}

// writeEpoch appends an epoch record (a system record, not an event) and the
// "$epoch-information" event. The sizes are arbitrary; only the growth of positions matters.
func (s *Server) writeEpoch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, &record{pos: s.next, size: 128})
	s.next += 128
	const stream = "$epoch-information"
	s.writeEvent(stream, s.lastRevision(stream)+1, uuid.New(), "$epoch-information", "application/json", []byte(`{}`), nil, time.Now())
	s.notify()
}

// lastRevision returns the revision of the stream's last event, -1 for no stream (server:
// Data/ExpectedVersion.cs, NoStream = -1). Callers hold s.mu.
func (s *Server) lastRevision(stream string) int64 {
	idx := s.streams[stream]
	if len(idx) == 0 {
		return -1
	}
	return s.records[idx[len(idx)-1]].rev
}

// writeEvent appends one event record. Its size follows the server's accounting of an event's
// size on disk (server: Data/Event.cs SizeOnDisk = data + metadata + 2 × type length) plus a
// fixed header, so positions are byte offsets that grow unevenly, as in a real log. Callers
// hold s.mu.
func (s *Server) writeEvent(stream string, rev int64, id uuid.UUID, typ, contentType string, data, meta []byte, now time.Time) *record {
	r := &record{
		pos: s.next, size: 96 + int64(len(stream)+len(data)+len(meta)+2*len(typ)),
		event: true, stream: stream, rev: rev, id: id, typ: typ, contentType: contentType,
		data: data, meta: meta, created: now.UTC(),
	}
	s.next += r.size
	s.records = append(s.records, r)
	s.streams[stream] = append(s.streams[stream], len(s.records)-1)
	s.ids[id] = len(s.records) - 1
	return r
}

// notify wakes every reader waiting for new records. Callers hold s.mu.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// snapshot returns the records written so far and a channel closed at the next write.
func (s *Server) snapshot() ([]*record, chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records[:len(s.records):len(s.records)], s.changed
}

// firstAtOrAfter returns the index of the first record whose position is at least pos.
func firstAtOrAfter(recs []*record, pos int64) int {
	return sort.Search(len(recs), func(i int) bool { return recs[i].pos >= pos })
}
