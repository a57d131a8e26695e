package esdbtest

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/dlclark/regexp2"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// readBatchSize is how many events the server reads per page, and the default search window
// of a filtered read or subscription (server: Services/Transport/Enumerators/Enumerator.cs
// ReadBatchSize = 32).
const readBatchSize = 32

// tfPos is a transaction-file position, compared commit first, then prepare (server:
// Core/Data/TFPos.cs). An event written by a gRPC append commits itself, so its position is
// (log position, log position); page boundaries are (post-position, 0).
type tfPos struct{ commit, prepare int64 }

// headOfTf is the position before everything (server: TFPos.HeadOfTf = (-1, -1)).
var (
	headOfTf        = tfPos{-1, -1}
	firstRecordOfTf = tfPos{0, 0}
)

func (p tfPos) less(q tfPos) bool {
	return p.commit < q.commit || (p.commit == q.commit && p.prepare < q.prepare)
}

func eventPos(r *record) tfPos { return tfPos{r.pos, r.pos} }

// Read follows Services/Transport/Grpc/Streams.Read.cs: the request's (stream option, count
// option, direction, filter option) picks an enumerator, and any other combination is
// InvalidArgument ("The combination of … is invalid"). The UUID option is required.
// Implemented: stream reads forwards and backwards, $all reads forwards and backwards without
// a filter, and $all subscriptions with or without a filter. Filtered $all reads and stream
// subscriptions are not served (Unimplemented): the client API v4 cannot ask for the former
// and the adapter does not use the latter.
func (svc *streamsService) Read(req *streams.ReadReq, out streams.Streams_ReadServer) error {
	o := req.GetOptions()
	if o.GetUuidOption() == nil {
		return status.Error(codes.InvalidArgument, "'uuidOption' is a required argument")
	}
	structured := o.GetUuidOption().GetString_() == nil
	forwards := o.GetReadDirection() == streams.ReadReq_Options_Forwards
	_, subscription := o.GetCountOption().(*streams.ReadReq_Options_Subscription)
	_, counted := o.GetCountOption().(*streams.ReadReq_Options_Count)
	noFilter := o.GetNoFilter() != nil
	filtered := o.GetFilter() != nil
	switch {
	case o.GetStream() != nil && counted && noFilter:
		return svc.s.readStream(o.GetStream(), o.GetCount(), forwards, structured, out)
	case o.GetAll() != nil && counted && noFilter:
		return svc.s.readAll(o.GetAll(), o.GetCount(), forwards, structured, out)
	case o.GetAll() != nil && subscription && forwards && (noFilter || filtered):
		return svc.s.subscribeAll(o, structured, out)
	case o.GetStream() != nil && subscription, o.GetAll() != nil && counted && filtered:
		return status.Error(codes.Unimplemented, "esdbtest: stream subscriptions and filtered $all reads are not implemented by the double")
	}
	return status.Errorf(codes.InvalidArgument, "The combination of (%T, %T, %s, %T) is invalid.",
		o.GetStreamOption(), o.GetCountOption(), o.GetReadDirection(), o.GetFilterOption())
}

// readStream serves a stream read. A stream without events answers with one StreamNotFound
// message and ends; a read past the end of an existing stream answers with no events
// (server: Services/Transport/Enumerators/Enumerator.ReadStreamForwards.cs and
// ReadStreamBackwards.cs, ReadStreamResult.NoStream / Success). First/last stream position
// messages are only sent when the request's ControlOption compatibility is 1 or more, which
// the Go client v4 never sets, so the double never sends them (the client panics on them).
func (s *Server) readStream(o *streams.ReadReq_Options_StreamOptions, count uint64, forwards, structured bool, out streams.Streams_ReadServer) error {
	name := string(o.GetStreamIdentifier().GetStreamName())
	s.mu.Lock()
	idx := append([]int(nil), s.streams[name]...)
	recs := s.records
	s.mu.Unlock()
	if len(idx) == 0 {
		return out.Send(&streams.ReadResp{Content: &streams.ReadResp_StreamNotFound_{
			StreamNotFound: &streams.ReadResp_StreamNotFound{StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)}},
		}})
	}
	last := uint64(len(idx) - 1)
	hidden := s.truncatedBefore(name, last)
	var from uint64
	switch r := o.GetRevisionOption().(type) {
	case *streams.ReadReq_Options_StreamOptions_Revision:
		from = r.Revision
	case *streams.ReadReq_Options_StreamOptions_Start:
		from = 0
	case *streams.ReadReq_Options_StreamOptions_End:
		if forwards {
			return nil // forwards from the end: nothing follows
		}
		from = last
	default:
		return status.Errorf(codes.InvalidArgument, "revision option %T is invalid", r)
	}
	sent := uint64(0)
	if forwards {
		for rev := max(from, hidden); rev <= last && sent < count; rev++ {
			if err := out.Send(readEvent(recs[idx[rev]], structured)); err != nil {
				return err
			}
			sent++
		}
		return nil
	}
	if from > last {
		from = last
	}
	for rev := int64(from); rev >= int64(hidden) && sent < count; rev-- {
		if err := out.Send(readEvent(recs[idx[rev]], structured)); err != nil {
			return err
		}
		sent++
	}
	return nil
}

// truncatedBefore is the first revision of stream that reads still return, by its metadata
// (the last event of $$stream): $tb (truncate before) hides the revisions before it, and
// $maxCount keeps only the last that many (server: StreamMetadata, applied by the index
// reader to stream reads at once; $all keeps the events until a scavenge, as here). The other
// metadata ($maxAge, $acl, $cacheControl) is not enforced by the double.
func (s *Server) truncatedBefore(stream string, last uint64) uint64 {
	s.mu.Lock()
	meta := s.streams["$$"+stream]
	var data []byte
	if len(meta) > 0 {
		data = s.records[meta[len(meta)-1]].data
	}
	s.mu.Unlock()
	var md struct {
		MaxCount *uint64 `json:"$maxCount"`
		TB       *uint64 `json:"$tb"`
	}
	if data == nil || json.Unmarshal(data, &md) != nil {
		return 0
	}
	from := uint64(0)
	if md.TB != nil {
		from = *md.TB
	}
	if md.MaxCount != nil && *md.MaxCount <= last {
		from = max(from, last+1-*md.MaxCount)
	}
	return from
}

// readAll serves an unfiltered $all read. Forwards, a position is inclusive; backwards it is
// a post-position, so events strictly before it are read (server:
// Services/Storage/ReaderIndex/AllReader.cs, "pre-positions" forwards, "post-positions"
// backwards). The default $all filter applies: "$epoch-information" and persistent
// subscription checkpoint/parked streams of $all are never read; other system events are
// (server: Services/Storage/ReaderIndex/EventFilter.cs DefaultAllFilterStrategy). The double
// does not check that a position points at a record (the server may answer InvalidPosition).
func (s *Server) readAll(o *streams.ReadReq_Options_AllOptions, count uint64, forwards, structured bool, out streams.Streams_ReadServer) error {
	recs, _ := s.snapshot()
	filter := defaultAllFilter
	sent := uint64(0)
	send := func(r *record) (bool, error) {
		if !r.event || !filter(r) {
			return true, nil
		}
		if sent >= count {
			return false, nil
		}
		sent++
		return true, out.Send(readEvent(r, structured))
	}
	if forwards {
		start := tfPos{0, 0}
		switch p := o.GetAllOption().(type) {
		case *streams.ReadReq_Options_AllOptions_End:
			return nil
		case *streams.ReadReq_Options_AllOptions_Position:
			start = tfPos{int64(p.Position.GetCommitPosition()), int64(p.Position.GetPreparePosition())}
			if err := checkPosition(recs, start); err != nil {
				return err
			}
		}
		for _, r := range recs[firstAtOrAfter(recs, start.commit):] {
			if eventPos(r).less(start) {
				continue
			}
			if more, err := send(r); err != nil || !more {
				return err
			}
		}
		return nil
	}
	end := tfPos{math.MaxInt64, math.MaxInt64}
	switch p := o.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_Start:
		return nil
	case *streams.ReadReq_Options_AllOptions_Position:
		end = tfPos{int64(p.Position.GetCommitPosition()), int64(p.Position.GetPreparePosition())}
		if err := checkPosition(recs, end); err != nil {
			return err
		}
	}
	for i := len(recs) - 1; i >= 0; i-- {
		if !eventPos(recs[i]).less(end) {
			continue
		}
		if more, err := send(recs[i]); err != nil || !more {
			return err
		}
	}
	return nil
}

// readEvent is an event on the wire (server: Streams.Read.cs ConvertToReadEvent and
// ConvertToRecordedEvent): type, created (ticks since the Unix epoch) and content-type in the
// system metadata, user metadata as custom_metadata, and commit = prepare = log position for a
// self-committed event (server: Data/ResolvedEvent.cs CalculatePosition), also on stream reads.
func readEvent(r *record, structured bool) *streams.ReadResp {
	return &streams.ReadResp{Content: &streams.ReadResp_Event{Event: &streams.ReadResp_ReadEvent{
		Event: &streams.ReadResp_ReadEvent_RecordedEvent{
			Id:               protoUUID(r.id, structured),
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
			StreamRevision:   uint64(r.rev),
			PreparePosition:  uint64(r.pos),
			CommitPosition:   uint64(r.pos),
			Metadata: map[string]string{
				"type":         r.typ,
				"created":      fmt.Sprint(ticksSinceEpoch(r.created)),
				"content-type": r.contentType,
			},
			CustomMetadata: r.meta,
			Data:           r.data,
		},
		Position: &streams.ReadResp_ReadEvent_CommitPosition{CommitPosition: uint64(r.pos)},
	}}}
}

// eventFilter says whether a subscription delivers an event.
type eventFilter func(*record) bool

// defaultAllFilter is DefaultAllFilterStrategy: every non-system stream; of the system ones
// all but "$epoch-information" and the checkpoint and parked streams of persistent
// subscriptions to $all (server: Services/Storage/ReaderIndex/EventFilter.cs).
func defaultAllFilter(r *record) bool {
	if !strings.HasPrefix(r.stream, "$") {
		return true
	}
	if r.stream == "$epoch-information" {
		return false
	}
	const ps = "$persistentsubscription-$all::"
	return !(strings.HasPrefix(r.stream, ps) && (strings.HasSuffix(r.stream, "-checkpoint") || strings.HasSuffix(r.stream, "-parked")))
}

// compileFilter builds the filter of a request as Streams.Read.cs ConvertToEventFilter does:
// on the stream name or the event type, by a regex when one is given, else by prefixes, and —
// reading $all — only among events the default $all filter lets through. The regex is .NET's
// (the server compiles it with System.Text.RegularExpressions.Regex, EventFilter.cs), so the
// double uses dlclark/regexp2, a port of it: lookarounds such as the Python client's default
// ^(?!\$) compile and match as on the server, where Go's regexp refuses them.
func compileFilter(f *streams.ReadReq_Options_FilterOptions) (eventFilter, error) {
	if f == nil {
		return defaultAllFilter, nil
	}
	expr, onType := f.GetStreamIdentifier(), false
	if f.GetEventType() != nil {
		expr, onType = f.GetEventType(), true
	}
	if expr == nil {
		return nil, status.Error(codes.InvalidArgument, "filter needs a stream identifier or event type expression")
	}
	subject := func(r *record) string {
		if onType {
			return r.typ
		}
		return r.stream
	}
	if expr.GetRegex() != "" {
		re, err := regexp2.Compile(expr.GetRegex(), regexp2.None)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "filter regex: %v", err)
		}
		return func(r *record) bool {
			if !defaultAllFilter(r) {
				return false
			}
			ok, err := re.MatchString(subject(r))
			return err == nil && ok
		}, nil
	}
	prefixes := expr.GetPrefix()
	return func(r *record) bool {
		if !defaultAllFilter(r) {
			return false
		}
		for _, p := range prefixes {
			if strings.HasPrefix(subject(r), p) {
				return true
			}
		}
		return false
	}, nil
}

// subscription is one $all subscription being served: the server's enumerator state.
type subscription struct {
	s          *Server
	out        streams.Streams_ReadServer
	structured bool
	filter     eventFilter
	window     int // max search window: events considered per page
	interval   int // checkpoint interval in considered events; 0: no checkpoints (unfiltered)
	lastSent   tfPos
	sentAny    bool
}

// subscribeAll serves a $all subscription (server: Services/Transport/Enumerators/
// Enumerator.AllSubscriptionFiltered.cs, and Enumerator.AllSubscription.cs when unfiltered):
//
//  1. subscribe to live events, then confirm; the confirmation position is the last indexed
//     position at that moment;
//  2. the starting checkpoint is the requested position (exclusive: only events after it are
//     sent), HeadOfTf for Start, the confirmation position for End;
//  3. catch up page by page (32 matches at most, the search window of considered events at
//     most); a filtered subscription sends a checkpoint each time the considered count reaches
//     window × checkpointIntervalMultiplier, and always one at the end of catch-up, at
//     max(last event sent, the start of the last page that read anything);
//  4. send CaughtUp, then live events committed after the confirmation; a filtered
//     subscription sends a live checkpoint at the position of the event that completes each
//     interval (server: Services/SubscriptionsService.cs ProcessEventCommited). Live events at
//     or before the checkpoint and live checkpoints before it are skipped; a checkpoint not
//     after the last one sent is dropped (MoveNextAsync).
//
// The double never falls behind (its log is in memory), so it never sends FellBehind.
func (s *Server) subscribeAll(o *streams.ReadReq_Options, structured bool, out streams.Streams_ReadServer) error {
	sub := &subscription{s: s, out: out, structured: structured, filter: defaultAllFilter, window: readBatchSize}
	if f := o.GetFilter(); f != nil {
		filter, err := compileFilter(f)
		if err != nil {
			return err
		}
		if f.GetMax() > 0 {
			sub.window = int(f.GetMax())
		}
		if f.GetCheckpointIntervalMultiplier() == 0 {
			// ArgumentOutOfRangeException.ThrowIfZero in the enumerator's constructor.
			return status.Error(codes.Unknown, "Exception was thrown by handler. checkpointIntervalMultiplier must not be zero")
		}
		sub.filter, sub.interval = filter, sub.window*int(f.GetCheckpointIntervalMultiplier())
	}

	s.mu.Lock()
	s.subscriptions++
	confirmed := tfPos{-1, -1}
	if n := len(s.records); n > 0 {
		last := s.records[n-1].pos
		confirmed = tfPos{last, last}
	}
	liveFrom := len(s.records)
	s.mu.Unlock()
	if err := out.Send(&streams.ReadResp{Content: &streams.ReadResp_Confirmation{
		Confirmation: &streams.ReadResp_SubscriptionConfirmation{SubscriptionId: uuid.NewString()},
	}}); err != nil {
		return err
	}

	checkpoint := headOfTf
	switch p := o.GetAll().GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_End:
		checkpoint = confirmed
	case *streams.ReadReq_Options_AllOptions_Position:
		checkpoint = tfPos{int64(p.Position.GetCommitPosition()), int64(p.Position.GetPreparePosition())}
		s.mu.Lock()
		recs := s.records
		s.mu.Unlock()
		if err := checkPosition(recs, checkpoint); err != nil {
			return err
		}
	}
	var err error
	if checkpoint.less(confirmed) {
		if checkpoint, err = sub.catchUp(checkpoint); err != nil {
			return err
		}
	}
	return sub.live(checkpoint, liveFrom)
}

// checkPosition refuses a position of $all that is no record boundary, as the server does:
// its reader finds no record there and the read fails with InvalidPosition, which the gRPC
// layer answers InvalidArgument "Trying to read from an invalid position." (Enumerators:
// ReadResponseException.InvalidPosition; Grpc/RpcExceptions.InvalidPositionException). A
// boundary is the start of the log, a record's position, or the end of the log; the prepare
// position is the commit one, or 0 as in the checkpoints of catch-up.
func checkPosition(recs []*record, p tfPos) error {
	if p.prepare != p.commit && p.prepare != 0 {
		return status.Error(codes.InvalidArgument, "Trying to read from an invalid position.")
	}
	if p.commit == 0 || (len(recs) > 0 && p.commit == recs[len(recs)-1].post()) {
		return nil
	}
	if i := firstAtOrAfter(recs, p.commit); i < len(recs) && recs[i].pos == p.commit {
		return nil
	}
	return status.Error(codes.InvalidArgument, "Trying to read from an invalid position.")
}

// page is one filtered forward read of $all (server: AllReader.ReadAllEventsForwardInternal):
// the matching events, how many events were considered, where the next page starts (the
// post-position of the last considered event, prepare 0), where this one started, and
// whether it reached the end of the log.
type page struct {
	events     []*record
	considered int
	next, cur  tfPos
	end        bool
}

func (sub *subscription) readPage(from tfPos) page {
	recs, _ := sub.s.snapshot()
	if from.commit < 0 {
		from = tfPos{0, 0}
	}
	p := page{next: from, cur: from}
	i := firstAtOrAfter(recs, from.commit)
	for len(p.events) < readBatchSize && p.considered < sub.window {
		if i >= len(recs) {
			p.end = true
			break
		}
		r := recs[i]
		i++
		if !r.event || eventPos(r).less(from) {
			continue // not an event, or before the start: skipped without being considered
		}
		p.considered++
		if sub.filter(r) {
			p.events = append(p.events, r)
		}
		p.next = tfPos{r.post(), 0}
	}
	return p
}

// catchUp is the catch-up phase; it returns the checkpoint it reached.
func (sub *subscription) catchUp(checkpoint tfPos) (tfPos, error) {
	counter := 0
	from := checkpoint
	for {
		if err := sub.out.Context().Err(); err != nil {
			return checkpoint, err
		}
		p := sub.readPage(from)
		for _, r := range p.events {
			if !checkpoint.less(eventPos(r)) {
				continue // only the first event of the first page can be at the checkpoint
			}
			if err := sub.out.Send(readEvent(r, sub.structured)); err != nil {
				return checkpoint, err
			}
			checkpoint = eventPos(r)
		}
		// A page's start is a checkpoint only when the page read past it: a page that read
		// nothing starts at a position whose record is not processed yet (the end of the log,
		// prepare 0), and a client keeping only the commit position would then skip the event
		// written there (KDB-744, fixed in v24.10 and v25.0: "When there's an empty page read,
		// filtered $all subscriptions can send an incorrect checkpoint equal to the end
		// position of the log"; Enumerator.AllSubscriptionFiltered.cs CatchUp).
		if checkpoint.less(p.cur) && p.cur.less(p.next) {
			checkpoint = p.cur
		}
		counter += p.considered
		if p.end {
			// Nothing to checkpoint yet past the start of a log that has records: the first
			// record's position, to keep a checkpoint within the interval (same source).
			if checkpoint.less(firstRecordOfTf) && firstRecordOfTf.less(p.next) {
				checkpoint = firstRecordOfTf
			}
			return checkpoint, sub.sendCheckpoint(checkpoint)
		}
		if sub.interval > 0 && counter >= sub.interval {
			counter %= sub.interval
			if err := sub.sendCheckpoint(checkpoint); err != nil {
				return checkpoint, err
			}
		}
		from = p.next
	}
}

// live is the live phase: it sends CaughtUp, then follows the log from index liveFrom (the
// first record committed after the confirmation) until the call ends.
func (sub *subscription) live(checkpoint tfPos, liveFrom int) error {
	if err := sub.out.Send(&streams.ReadResp{Content: &streams.ReadResp_CaughtUp_{CaughtUp: &streams.ReadResp_CaughtUp{}}}); err != nil {
		return err
	}
	counter, i := 0, liveFrom
	for {
		recs, changed := sub.s.snapshot()
		for ; i < len(recs); i++ {
			r := recs[i]
			if !r.event {
				continue
			}
			if sub.filter(r) && checkpoint.less(eventPos(r)) {
				if err := sub.out.Send(readEvent(r, sub.structured)); err != nil {
					return err
				}
				checkpoint = eventPos(r)
			}
			if sub.interval == 0 {
				continue
			}
			if counter++; counter >= sub.interval {
				counter = 0
				if cp := eventPos(r); !cp.less(checkpoint) {
					if err := sub.sendCheckpoint(cp); err != nil {
						return err
					}
					checkpoint = cp
				}
			}
		}
		select {
		case <-changed:
		case <-sub.out.Context().Done():
			return sub.out.Context().Err()
		}
	}
}

// sendCheckpoint sends a checkpoint of a filtered subscription, never HeadOfTf and never one
// that is not after the last checkpoint sent (server: SendCheckpointToSubscription and
// MoveNextAsync of Enumerator.AllSubscriptionFiltered.cs).
func (sub *subscription) sendCheckpoint(p tfPos) error {
	if sub.interval == 0 || p == headOfTf || (sub.sentAny && !sub.lastSent.less(p)) {
		return nil
	}
	sub.lastSent, sub.sentAny = p, true
	return sub.out.Send(&streams.ReadResp{Content: &streams.ReadResp_Checkpoint_{Checkpoint: &streams.ReadResp_Checkpoint{
		CommitPosition: uint64(p.commit), PreparePosition: uint64(p.prepare),
	}}})
}
