package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/app/live"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/platform/tracing"
	"github.com/eventnotify/notify/projections/inbox"
)

// streamRoute is the Server-Sent Events route; guard exempts it from the request timeout.
const streamRoute = "/v1/recipients/:recipientId/stream"

// Stream tunes the Server-Sent Events route; zero fields take the defaults.
type Stream struct {
	// Heartbeat is how often an idle stream sends a comment so proxies keep it open (15 s).
	Heartbeat time.Duration
	// WriteTimeout bounds each frame's write; a client that does not read for this long is
	// dropped (30 s).
	WriteTimeout time.Duration
	// Retry is the reconnection delay suggested to clients in the retry field (2 s).
	Retry time.Duration
}

func (s Stream) withDefaults() Stream {
	if s.Heartbeat <= 0 {
		s.Heartbeat = 15 * time.Second
	}
	if s.WriteTimeout <= 0 {
		s.WriteTimeout = 30 * time.Second
	}
	if s.Retry <= 0 {
		s.Retry = 2 * time.Second
	}
	return s
}

// streamer serves the stream route; its counts are shared by the streams of a recipient.
type streamer struct {
	deps
	counts *countsCache
	tracer trace.Tracer // nil: tracing off
}

func newStreamer(d deps) streamer {
	s := streamer{deps: d, counts: &countsCache{m: map[string]*countsEntry{}}}
	if d.Tracer != nil {
		s.tracer = d.Tracer.Tracer(tracing.Name)
	}
	return s
}

// countsCache shares one read of a recipient's counts between its streams: a thousand
// streams of one recipient cost one read model query per change, not a thousand.
type countsCache struct {
	mu sync.Mutex
	m  map[string]*countsEntry
}

// countsEntry is the latest counts of a recipient known to reflect at least pos; while done
// is open, a read for pos is under way.
type countsEntry struct {
	pos    eventstore.Position
	counts inbox.Counts
	err    error
	done   chan struct{}
}

// maxCountsEntries bounds the cache; past it, it starts again empty.
const maxCountsEntries = 10000

// get returns counts reflecting at least position p, reading them with read unless a read for
// p or later has completed or is under way.
func (cc *countsCache) get(ctx context.Context, recipient string, p eventstore.Position, read func() (inbox.Counts, error)) (inbox.Counts, error) {
	for {
		cc.mu.Lock()
		e := cc.m[recipient]
		if e == nil || e.pos < p || (!isOpen(e.done) && e.err != nil) { // e.err is set once done closes
			if len(cc.m) >= maxCountsEntries {
				clear(cc.m)
			}
			e = &countsEntry{pos: p, done: make(chan struct{})}
			cc.m[recipient] = e
			cc.mu.Unlock()
			e.counts, e.err = read()
			close(e.done)
			return e.counts, e.err
		}
		cc.mu.Unlock()
		select {
		case <-e.done:
			if !errors.Is(e.err, context.Canceled) {
				return e.counts, e.err
			}
			// the reader's client left before it finished: read again with our context
		case <-ctx.Done():
			return inbox.Counts{}, ctx.Err()
		}
	}
}

func isOpen(c chan struct{}) bool {
	select {
	case <-c:
		return false
	default:
		return true
	}
}

// HeaderLastEventID is the SSE resume header; ?lastEventId= is its twin for clients that
// cannot set headers.
const HeaderLastEventID = "Last-Event-ID"

// lastEventID reads where the client resumes: live.Now() when it does not say.
func lastEventID(c echo.Context) (live.Start, error) {
	raw := c.Request().Header.Get(HeaderLastEventID)
	field := HeaderLastEventID
	if raw == "" {
		raw, field = c.QueryParam("lastEventId"), "lastEventId"
	}
	if raw == "" {
		return live.Now(), nil
	}
	p, err := strconv.ParseUint(strings.TrimSpace(raw), 10, 64)
	if err != nil {
		return live.Start{}, &notification.ValidationError{Field: field,
			Rule: fmt.Sprintf("must be the id of an event this stream sent (a log position: a non-negative integer below 2^64), got %q", truncate(raw, 40))}
	}
	return live.After(eventstore.Position(p)), nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// stream serves GET /v1/recipients/:recipientId/stream: the recipient's inbox changes as
// Server-Sent Events. Each change is an event named for it (notification.sent, …) whose id is
// its log position; after each run of changes an event counts carries {total, unread, unseen} read
// once the read model has reached them. Resuming with Last-Event-ID: N sends every change
// after N, then live ones.
func (v streamer) stream(c echo.Context) error {
	if v.Live == nil {
		return echo.NewHTTPError(http.StatusNotFound, "the live stream is not available")
	}
	recipient := param(c, "recipientId")
	if err := notification.ValidateRecipient(recipient); err != nil {
		return err
	}
	start, err := lastEventID(c)
	if err != nil {
		return err
	}
	if after, resume := start.Resume(); resume {
		field := HeaderLastEventID
		if c.Request().Header.Get(HeaderLastEventID) == "" {
			field = "lastEventId"
		}
		if err := v.notAhead(c, field, after); err != nil {
			return err
		}
	}
	sub, err := v.Live.Subscribe(recipient, start)
	if err != nil {
		return err
	}
	defer sub.Close()
	opts := v.Stream.withDefaults()

	res := c.Response()
	rc := http.NewResponseController(res)
	// The server's read and write timeouts bound ordinary requests; a stream lives until the
	// client leaves, so it clears them and bounds each frame's write instead. (A read deadline
	// left in place would cancel the request's context when it passes.)
	if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("clear read deadline: %w", err)
	}
	h := res.Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set(echo.HeaderCacheControl, "no-cache")
	h.Set("X-Accel-Buffering", "no")
	res.WriteHeader(http.StatusOK)

	ctx := c.Request().Context()
	w := frameWriter{rc: rc, res: res, timeout: opts.WriteTimeout}
	// The headers and the retry hint go at once: the opening counts may wait for the read model.
	if w.write(fmt.Appendf(nil, "retry: %d\n\n", opts.Retry.Milliseconds())) != nil {
		return nil
	}
	// The opening counts frame carries the position the stream is complete to, so a client
	// that reconnects before any change resumes exactly there. A resume with a backlog still to
	// come carries no id: its events follow with theirs.
	at, withID := sub.From(), true
	if after, resume := start.Resume(); resume {
		if after >= at {
			at = after
		} else {
			withID = false
		}
	}
	buf, _ := v.appendCounts(ctx, nil, recipient, at, withID)
	if w.write(buf) != nil {
		return nil
	}

	beat := time.NewTicker(opts.Heartbeat)
	defer beat.Stop()
	var sent []*live.Event // the events of a write, for their delivery spans
	for {
		select {
		case ev := <-sub.C():
			buf = appendEvent(buf[:0], ev)
			last, sent, began := ev.Position, append(sent[:0], ev), time.Now()
		more: // send what is already waiting in one write
			for len(buf) < 32<<10 {
				select {
				case ev := <-sub.C():
					buf = appendEvent(buf, ev)
					last, sent = ev.Position, append(sent, ev)
				default:
					break more
				}
			}
			// The counts usually follow within a millisecond (the projection reads the same
			// commit): wait that long to send both in one write, else send the changes now and
			// the counts when the read model has them.
			quick, cancel := context.WithTimeout(ctx, countsGrace)
			var counted bool
			buf, counted = v.appendCounts(quick, buf, recipient, last, true)
			cancel()
			if w.write(buf) != nil {
				return nil
			}
			for _, ev := range sent {
				deliverySpan(v.tracer, ev.Trace, began, recipient, uint64(ev.Position))
			}
			if !counted {
				if b, ok := v.appendCounts(ctx, buf[:0], recipient, last, true); ok && w.write(b) != nil {
					return nil
				}
			}
			beat.Reset(opts.Heartbeat)
		case <-beat.C:
			if w.write([]byte(": ping\n\n")) != nil {
				return nil
			}
		case <-sub.Done():
			reason := "the server is shutting down"
			switch err := sub.Err(); {
			case errors.Is(err, live.ErrSlow):
				reason = "this client fell behind"
			case err != nil && !errors.Is(err, live.ErrClosed):
				reason = "the stream failed"
				v.Logger.Warn("stream failed", "recipient", recipient, "err", err)
			}
			_ = w.write([]byte(": stream closed: " + reason + "; reconnect with Last-Event-ID\n\n"))
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// countsGrace is how long a run of changes waits for its counts to go out in the same write.
const countsGrace = 25 * time.Millisecond

// appendCounts appends a counts frame reflecting at least position p, or nothing (false) when
// the read model cannot reach p before ctx ends or WaitFor gives up: a stale count would
// contradict the changes just sent.
func (v streamer) appendCounts(ctx context.Context, buf []byte, recipient string, p eventstore.Position, withID bool) ([]byte, bool) {
	counts, err := v.counts.get(ctx, recipient, p, func() (inbox.Counts, error) {
		if v.Status != nil {
			if err := v.Status.WaitFor(ctx, p); err != nil {
				return inbox.Counts{}, err
			}
		}
		return v.Inbox.Count(ctx, recipient)
	})
	if err != nil {
		if ctx.Err() == nil {
			v.Logger.Debug("stream: counts skipped", "recipient", recipient, "position", p, "err", err)
		}
		return buf, false
	}
	if withID {
		buf = strconv.AppendUint(append(buf, "id: "...), uint64(p), 10)
		buf = append(buf, '\n')
	}
	return fmt.Appendf(buf, "event: counts\ndata: {\"total\":%d,\"unread\":%d,\"unseen\":%d,\"position\":%d}\n\n", counts.Total, counts.Unread, counts.Unseen, uint64(p)), true
}

func appendEvent(buf []byte, ev *live.Event) []byte {
	buf = strconv.AppendUint(append(buf, "id: "...), uint64(ev.Position), 10)
	buf = append(append(append(buf, "\nevent: "...), ev.Name...), "\ndata: "...)
	return append(append(buf, ev.Data...), "\n\n"...)
}

// frameWriter writes and flushes one frame at a time, each within its own write deadline.
type frameWriter struct {
	rc      *http.ResponseController
	res     *echo.Response
	timeout time.Duration
}

func (w frameWriter) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if err := w.rc.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := w.res.Write(b); err != nil {
		return err
	}
	return w.rc.Flush()
}
