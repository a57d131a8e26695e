package esdbtest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Expected versions as the server encodes them (server: Data/ExpectedVersion.cs).
const (
	expectAny          = -2
	expectNoStream     = -1
	expectStreamExists = -4
)

// maxAppendSize is the server's default limit on the summed size of one append's events
// (server: Configuration/ClusterVNodeOptions.cs MaxAppendSize = 1 MiB).
const maxAppendSize = 1 << 20

// streamsService serves the Streams service.
type streamsService struct {
	streams.UnimplementedStreamsServer
	s *Server
}

type proposed struct {
	id          uuid.UUID
	typ         string
	contentType string
	data, meta  []byte
}

// Append follows Services/Transport/Grpc/Streams.Append.cs: the first message carries the
// options (stream and expected revision), every later one a proposed event; anything else is
// an InvalidOperationException, which reaches the client as status Unknown. Each event must
// carry the "type" and "content-type" metadata (else InvalidArgument with the
// "missing-required-metadata-property" exception trailer), and the events' summed size may
// not exceed MaxAppendSize (else InvalidArgument, "maximum-append-size-exceeded").
func (svc *streamsService) Append(stream streams.Streams_AppendServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return status.Error(codes.Unknown, "Exception was thrown by handler. InvalidOperationException")
	}
	name := string(opts.GetStreamIdentifier().GetStreamName())
	var expected int64
	switch e := opts.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Revision:
		if e.Revision > math.MaxInt64 {
			return status.Error(codes.InvalidArgument, "expected revision out of range")
		}
		expected = int64(e.Revision)
	case *streams.AppendReq_Options_Any:
		expected = expectAny
	case *streams.AppendReq_Options_StreamExists:
		expected = expectStreamExists
	case *streams.AppendReq_Options_NoStream:
		expected = expectNoStream
	default:
		return status.Errorf(codes.InvalidArgument, "expected stream revision %T is invalid", e)
	}
	var events []proposed
	size := 0
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		msg := req.GetProposedMessage()
		if msg == nil {
			return status.Error(codes.Unknown, "Exception was thrown by handler. InvalidOperationException")
		}
		typ, okType := msg.GetMetadata()["type"]
		contentType, okContent := msg.GetMetadata()["content-type"]
		if !okType || !okContent {
			missing := "type"
			if okType {
				missing = "content-type"
			}
			stream.SetTrailer(metadata.Pairs("exception", "missing-required-metadata-property", "required-metadata-properties", "type,content-type"))
			return status.Errorf(codes.InvalidArgument, "Required Metadata Property '%s' is missing", missing)
		}
		id, err := fromProtoUUID(msg.GetId())
		if err != nil || id == uuid.Nil || typ == "" {
			// server: Data/Event.cs rejects an empty id or type with ArgumentException.
			return status.Error(codes.Unknown, "Exception was thrown by handler. ArgumentException: empty eventId or eventType")
		}
		size += len(msg.GetData()) + len(msg.GetCustomMetadata()) + 2*len(typ) // Data/Event.cs SizeOnDisk
		if size > maxAppendSize {
			stream.SetTrailer(metadata.Pairs("exception", "maximum-append-size-exceeded", "maximum-append-size", fmt.Sprint(maxAppendSize)))
			return status.Errorf(codes.InvalidArgument, "Maximum Append Size of %d Exceeded.", maxAppendSize)
		}
		events = append(events, proposed{id: id, typ: typ, contentType: contentType, data: msg.GetData(), meta: msg.GetCustomMetadata()})
	}
	return stream.SendAndClose(svc.s.append(name, expected, opts, events))
}

// decision is the outcome of the commit check (server: Services/Storage/ReaderIndex/CommitDecision.cs).
type decision int

const (
	decideOK decision = iota
	decideWrongExpectedVersion
	decideIdempotent
)

// checkCommit decides an append exactly as IndexWriter.CheckCommit does (server:
// Services/Storage/ReaderIndex/IndexWriter.cs), returning the stream's current version and,
// for an idempotent re-append, the index of the last already-written event:
//
//   - stream absent: Any and NoStream may write, any other expectation is wrong
//     (CheckCommitForNewStream); StreamExists needs the stream (or its metadata stream).
//   - Any / StreamExists: the events are looked up by id among committed events; if the first
//     id is unknown (or belongs to another stream) the append writes; if every id is found in
//     this stream it is idempotent; a partial match is "corrupted idempotency", reported as a
//     wrong expected version (StorageWriterService.ActOnCommitCheckFailure). The server keeps
//     committed ids in a bounded cache, so for Any it is best effort; the double never forgets,
//     which only makes it stricter.
//   - NoStream / exact n below the current version: the events at n+1, n+2, … must carry the
//     same ids. A first mismatch is a wrong expected version, a later one (or running past the
//     stream's end) corrupted idempotency; a full match is idempotent. An empty append there is
//     a wrong expected version ("no data in transaction").
//   - exact n above the current version is wrong; equal to it may write.
//
// Callers hold s.mu.
func (s *Server) checkCommit(stream string, expected int64, events []proposed) (decision, int64, int) {
	cur := s.lastRevision(stream)
	if cur == -1 && expected != expectStreamExists {
		if expected == expectAny || expected == expectNoStream {
			return decideOK, cur, -1
		}
		return decideWrongExpectedVersion, cur, -1
	}
	if expected == expectStreamExists && cur < 0 && s.lastRevision("$$"+stream) < 0 {
		return decideWrongExpectedVersion, cur, -1
	}
	if expected == expectAny || expected == expectStreamExists {
		last := -1
		for i, e := range events {
			idx, ok := s.ids[e.id]
			if !ok || s.records[idx].stream != stream {
				if i == 0 {
					return decideOK, cur, -1
				}
				return decideWrongExpectedVersion, cur, -1
			}
			last = idx
		}
		if last < 0 { // no data in the transaction
			return decideOK, cur, -1
		}
		return decideIdempotent, cur, last
	}
	if expected < cur {
		idx := s.streams[stream]
		last := -1
		for i, e := range events {
			rev := expected + 1 + int64(i)
			if rev <= cur && s.records[idx[rev]].id == e.id {
				last = idx[rev]
				continue
			}
			if i == 0 {
				return decideWrongExpectedVersion, cur, -1
			}
			return decideWrongExpectedVersion, cur, -1 // corrupted idempotency
		}
		if last < 0 {
			return decideWrongExpectedVersion, cur, -1
		}
		return decideIdempotent, cur, last
	}
	if expected > cur {
		return decideWrongExpectedVersion, cur, -1
	}
	return decideOK, cur, -1
}

// append decides and, if allowed, writes one append, and builds the reply as
// Streams.Append.cs HandleWriteEventsCompleted does.
func (s *Server) append(stream string, expected int64, opts *streams.AppendReq_Options, events []proposed) *streams.AppendResp {
	s.mu.Lock()
	defer s.mu.Unlock()
	verdict, cur, last := s.checkCommit(stream, expected, events)
	switch verdict {
	case decideWrongExpectedVersion:
		return wrongExpectedVersion(opts, expected, cur)
	case decideIdempotent:
		// StorageMessage.AlreadyCommitted → RequestManagerBase.ReturnCommitAt: success with the
		// last event's revision and log position, nothing written.
		r := s.records[last]
		return success(r.rev, r.pos)
	}
	if len(events) == 0 {
		// An empty append still writes one empty, committed prepare record and answers with
		// the current revision and that record's position (server:
		// Services/Storage/StorageWriterService.cs WritePrepares; StorageChaser.cs CommitAck
		// reports lastEventNumber = ExpectedVersion for a record without data).
		pos := s.next
		s.records = append(s.records, &record{pos: pos, size: 64})
		s.next += 64
		s.notify()
		return success(cur, pos)
	}
	now := time.Now()
	var r *record
	for i, e := range events {
		r = s.writeEvent(stream, cur+1+int64(i), e.id, e.typ, e.contentType, e.data, e.meta, now)
	}
	s.notify()
	// The reply carries the last event's log position as both commit and prepare position:
	// StorageChaser.cs acknowledges the commit at the TransactionEnd prepare, the last event,
	// and WriteEvents.cs reports CommitPosition twice ("matches current behavior").
	return success(r.rev, r.pos)
}

func success(rev, pos int64) *streams.AppendResp {
	ok := &streams.AppendResp_Success{
		PositionOption: &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{
			CommitPosition: uint64(pos), PreparePosition: uint64(pos),
		}},
	}
	if rev < 0 {
		ok.CurrentRevisionOption = &streams.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
	} else {
		ok.CurrentRevisionOption = &streams.AppendResp_Success_CurrentRevision{CurrentRevision: uint64(rev)}
	}
	return &streams.AppendResp{Result: &streams.AppendResp_Success_{Success: ok}}
}

// wrongExpectedVersion fills both the current fields and the 20.6.0 compatibility fields, as
// Streams.Append.cs does, including its quirk of sending ulong.MaxValue as the 20.6.0
// expected revision of a NoStream expectation.
func wrongExpectedVersion(opts *streams.AppendReq_Options, expected, cur int64) *streams.AppendResp {
	w := &streams.AppendResp_WrongExpectedVersion{}
	switch opts.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Any:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: &shared.Empty{}}
	case *streams.AppendReq_Options_StreamExists:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: &shared.Empty{}}
	case *streams.AppendReq_Options_NoStream:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: math.MaxUint64}
	default:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: uint64(expected)}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: uint64(expected)}
	}
	if cur < 0 {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	} else {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(cur)}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: uint64(cur)}
	}
	return &streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}
}

// fromProtoUUID decodes an id in either wire form. The structured form is the UUID's 16 bytes
// as two big-endian halves, as the Go client writes it (client: esdb/protobuf_utils.go
// UUIDAsInt64); the string form is the canonical text.
func fromProtoUUID(u *shared.UUID) (uuid.UUID, error) {
	if st := u.GetStructured(); st != nil {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], uint64(st.GetMostSignificantBits()))
		binary.BigEndian.PutUint64(b[8:], uint64(st.GetLeastSignificantBits()))
		return uuid.UUID(b), nil
	}
	return uuid.Parse(u.GetString_())
}

// protoUUID encodes an id in the form the read request asked for (server:
// Services/Transport/Grpc/Streams.Read.cs ConvertToRecordedEvent, UUIDOption).
func protoUUID(id uuid.UUID, structured bool) *shared.UUID {
	if !structured {
		return &shared.UUID{Value: &shared.UUID_String_{String_: id.String()}}
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits:  int64(binary.BigEndian.Uint64(id[:8])),
		LeastSignificantBits: int64(binary.BigEndian.Uint64(id[8:])),
	}}}
}
