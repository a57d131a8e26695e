// Package live fans the notification events of the global log out to per-recipient
// subscribers: one Hub per process follows the log with a single subscription, keeps a bounded
// ring of recent events for resuming subscribers, and hands each subscriber its recipient's
// events, catch-up first and then live, with no gap and no duplicate.
//
// It imports the event-store port and the domain, never an HTTP framework; the HTTP edge turns
// a Subscription into Server-Sent Events.
package live

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
)

// Log is the global event log the hub follows and resuming subscribers catch up from.
type Log interface {
	Subscribe(ctx context.Context, from eventstore.Position, filter eventstore.Filter, handle func(context.Context, eventstore.Batch) error) error
}

// Defaults of Options.
const (
	DefaultRing            = 10000
	DefaultBuffer          = 512
	DefaultMaxPerRecipient = 5
	DefaultMaxClients      = 10000
)

// Options tune a Hub; zero fields take the defaults.
type Options struct {
	// Ring is how many recent events (of every recipient) the hub keeps for resuming
	// subscribers; older resumes read the gap from the log.
	Ring int
	// Buffer is how many events a subscriber may have undelivered before it is cut off.
	Buffer int
	// MaxPerRecipient and MaxClients bound concurrent subscriptions.
	MaxPerRecipient int
	MaxClients      int
	Logger          *slog.Logger
}

// Event is one change of a recipient's inbox, ready to send: Data is the event's stored JSON
// with its log position added, built once. Subscribers share it: it must not be modified.
type Event struct {
	Position  eventstore.Position
	Recipient string
	// Name is notification.sent, notification.read, notification.unread,
	// notification.canceled, notification.seen, notification.archived or
	// notification.unarchived (names).
	Name string
	Data []byte
	// Trace is the span context of the command that caused the event, when it was traced:
	// a stream's delivery of the event continues that trace.
	Trace trace.SpanContext
}

// Errors of the hub.
var (
	// ErrClosed ends subscriptions when the hub stops, and refuses new ones after.
	ErrClosed = errors.New("live: the hub has stopped")
	// ErrSlow ends a subscription whose consumer fell Buffer events behind; it may resume.
	ErrSlow = errors.New("live: subscriber fell behind and was cut off; resume from the last event it received")
	// ErrTooMany is matched by a LimitError.
	ErrTooMany = errors.New("live: too many subscriptions")
)

// LimitError refuses a subscription over a limit; it matches ErrTooMany.
type LimitError struct {
	// PerRecipient is true when the recipient's limit was hit, false for the global one.
	PerRecipient bool
	Limit        int
}

func (e *LimitError) Error() string {
	if e.PerRecipient {
		return fmt.Sprintf("this recipient already has %d live streams open, the most allowed; close one or retry later", e.Limit)
	}
	return fmt.Sprintf("the server already serves %d live streams, the most allowed; retry later", e.Limit)
}

// Is makes errors.Is(err, ErrTooMany) true.
func (e *LimitError) Is(target error) bool { return target == ErrTooMany }

// Start says where a subscription begins.
type Start struct {
	after  eventstore.Position
	resume bool
}

// Now starts with the events the hub has not yet delivered (live from its position).
func Now() Start { return Start{} }

// After resumes after position p: every event of the recipient past p, then live ones.
func After(p eventstore.Position) Start { return Start{after: p, resume: true} }

// Resume returns the position a start resumes after, and false for Now.
func (s Start) Resume() (eventstore.Position, bool) { return s.after, s.resume }

// Hub follows the log once and fans events out to subscribers. Run it in its own goroutine.
type Hub struct {
	log    Log
	opts   Options
	logger *slog.Logger

	mu     sync.Mutex
	pos    eventstore.Position // how far the log has been read
	floor  eventstore.Position // the ring holds every event in (floor, pos]
	ring   []*Event            // circular, oldest at head
	head   int
	size   int
	subs   map[string]map[*Subscription]struct{}
	total  int
	closed bool
}

// NewHub builds a hub that will follow the log after position from (usually its head).
func NewHub(log Log, from eventstore.Position, opts Options) *Hub {
	if log == nil {
		panic("live: hub needs a log")
	}
	if opts.Ring <= 0 {
		opts.Ring = DefaultRing
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.MaxPerRecipient <= 0 {
		opts.MaxPerRecipient = DefaultMaxPerRecipient
	}
	if opts.MaxClients <= 0 {
		opts.MaxClients = DefaultMaxClients
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Hub{log: log, opts: opts, logger: opts.Logger.With("component", "live"), pos: from, floor: from,
		ring: make([]*Event, opts.Ring), subs: map[string]map[*Subscription]struct{}{}}
}

var filter = eventstore.Filter{StreamPrefix: notification.StreamPrefix}

// Run follows the log until ctx ends, then ends every subscription with ErrClosed. A failing
// subscription to the log is resumed from the hub's position with backoff.
func (h *Hub) Run(ctx context.Context) error {
	defer h.close()
	retry := eventstore.Retry{OnRetry: func(err error, wait time.Duration) {
		h.logger.Error("live hub lost the log; resuming", "err", err, "position", h.Position(), "retry_in", wait)
	}}
	_ = eventstore.Follow(ctx, retry, func(ctx context.Context) (bool, error) {
		from := h.Position()
		err := h.log.Subscribe(ctx, from, filter, h.apply)
		return h.Position() > from, err
	})
	return nil // Follow ends only with ctx: the hub never gives up on the log
}

// Position returns how far the hub has read the log.
func (h *Hub) Position() eventstore.Position {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pos
}

// Subscribers returns how many subscriptions are open.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total
}

func (h *Hub) apply(_ context.Context, b eventstore.Batch) error {
	for _, c := range b.Corrupt {
		h.logger.Error("live hub skips a record the log cannot read", "err", c)
	}
	evs := make([]*Event, 0, len(b.Events))
	for _, rec := range b.Events {
		if ev, ok := h.decode(rec); ok {
			evs = append(evs, ev)
		}
	}
	var slow []*Subscription
	h.mu.Lock()
	for _, ev := range evs {
		h.push(ev)
		for s := range h.subs[ev.Recipient] {
			if !s.deliver(ev) {
				slow = append(slow, s)
			}
		}
	}
	if b.Position > h.pos {
		h.pos = b.Position
	}
	for _, s := range slow {
		h.removeLocked(s)
	}
	h.mu.Unlock()
	for _, s := range slow {
		s.end(ErrSlow)
	}
	return nil
}

// push appends to the ring, evicting the oldest event when it is full.
func (h *Hub) push(ev *Event) {
	n := len(h.ring)
	if h.size == n {
		h.floor = h.ring[h.head].Position
		h.ring[h.head] = ev
		h.head = (h.head + 1) % n
		return
	}
	h.ring[(h.head+h.size)%n] = ev
	h.size++
}

// decode turns a stored event into a live one. Its Data is the stored JSON itself with the
// log position added as a last field: the command side stored what notification.AppendJSON
// writes (encoding/json's bytes), so decoding and encoding it again would give the same bytes
// at a cost; decoding only finds the recipient and proves the event readable. Events of
// unknown types are skipped as notification.ErrUnknownEvent says; undecodable ones too, logged.
func (h *Hub) decode(rec eventstore.RecordedEvent) (*Event, bool) {
	e, err := notification.DecodeStored(rec.Type, eventstore.SchemaVersionOf(rec.Metadata), rec.Data)
	switch {
	case errors.Is(err, notification.ErrUnknownEvent):
		return nil, false // a newer version's event: live streams show what this one knows
	case err != nil:
		h.logger.Error("live hub skips an undecodable event", "position", rec.Position, "stream", rec.Stream, "err", err)
		return nil, false
	}
	data, ok := withPosition(rec.Data, rec.Position)
	if !ok {
		h.logger.Error("live hub skips an event whose data is not a JSON object", "position", rec.Position, "stream", rec.Stream)
		return nil, false
	}
	return &Event{Position: rec.Position, Recipient: e.Recipient(), Name: names[rec.Type], Data: data, Trace: eventstore.TraceOfRecent(rec, time.Now())}, true
}

// withPosition returns a copy of the JSON object obj with "position":p added as its last
// field, and false when obj is not an object. A field of that name already in obj (no event
// of ours has one) would appear twice; JSON readers take the last.
func withPosition(obj []byte, p eventstore.Position) ([]byte, bool) {
	obj = bytes.Trim(obj, " \t\r\n")
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return nil, false
	}
	body := obj[:len(obj)-1]
	out := make([]byte, 0, len(obj)+len(`,"position":}`)+20)
	out = append(out, body...)
	if len(bytes.TrimRight(body, " \t\r\n")) > 1 { // not {}
		out = append(out, ',')
	}
	out = append(out, `"position":`...)
	return append(strconv.AppendUint(out, uint64(p), 10), '}'), true
}

var names = map[string]string{
	notification.TypeSent:     "notification.sent",
	notification.TypeRead:     "notification.read",
	notification.TypeUnread:   "notification.unread",
	notification.TypeCanceled: "notification.canceled",
	// Issue #13.
	notification.TypeSeen:       "notification.seen",
	notification.TypeArchived:   "notification.archived",
	notification.TypeUnarchived: "notification.unarchived",
}

// Subscribe opens a subscription to the recipient's events from start. It fails with a
// LimitError over the limits and with ErrClosed once the hub has stopped. Close it when done.
func (h *Hub) Subscribe(recipient string, start Start) (*Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return nil, ErrClosed
	case h.total >= h.opts.MaxClients:
		return nil, &LimitError{Limit: h.opts.MaxClients}
	case len(h.subs[recipient]) >= h.opts.MaxPerRecipient:
		return nil, &LimitError{PerRecipient: true, Limit: h.opts.MaxPerRecipient}
	}
	s := &Subscription{hub: h, recipient: recipient, from: h.pos, after: h.pos, out: make(chan *Event, h.opts.Buffer), done: make(chan struct{}), live: true}
	if start.resume {
		s.after = start.after
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	switch {
	case s.after >= h.pos: // nothing missed: live at once
	case s.after >= h.floor: // the gap is in the ring
		s.live = false
		go s.catchUp(ctx, h.backlog(recipient, s.after), false)
	default: // the gap is older than the ring: read it from the log
		s.live = false
		go s.catchUp(ctx, nil, true)
	}
	if h.subs[recipient] == nil {
		h.subs[recipient] = map[*Subscription]struct{}{}
	}
	h.subs[recipient][s] = struct{}{}
	h.total++
	return s, nil
}

// backlog returns the ring's events of recipient after position p, oldest first.
func (h *Hub) backlog(recipient string, p eventstore.Position) []*Event {
	n := len(h.ring)
	at := func(i int) *Event { return h.ring[(h.head+i)%n] }
	first := sort.Search(h.size, func(i int) bool { return at(i).Position > p })
	var out []*Event
	for i := first; i < h.size; i++ {
		if ev := at(i); ev.Recipient == recipient {
			out = append(out, ev)
		}
	}
	return out
}

func (h *Hub) removeLocked(s *Subscription) {
	set, ok := h.subs[s.recipient]
	if _, in := set[s]; !ok || !in {
		return
	}
	delete(set, s)
	if len(set) == 0 {
		delete(h.subs, s.recipient)
	}
	h.total--
}

func (h *Hub) close() {
	h.mu.Lock()
	h.closed = true
	var all []*Subscription
	for _, set := range h.subs {
		for s := range set {
			all = append(all, s)
		}
	}
	h.subs = map[string]map[*Subscription]struct{}{}
	h.total = 0
	h.mu.Unlock()
	for _, s := range all {
		s.end(ErrClosed)
	}
}

// Subscription is one consumer's view of a recipient's events: read C until Done.
type Subscription struct {
	hub       *Hub
	recipient string
	// from is the hub's position when the subscription opened; after is where it resumes.
	from, after eventstore.Position
	out         chan *Event
	done        chan struct{}
	cancel      context.CancelFunc
	once        sync.Once
	err         error

	// mu guards the hand-over from catch-up to live: until live, the hub parks events in
	// pending and the catch-up goroutine owns out.
	mu      sync.Mutex
	live    bool
	pending []*Event
}

// C delivers the recipient's events in log order.
func (s *Subscription) C() <-chan *Event { return s.out }

// Done is closed when the subscription ends; Err then says why.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err is why the subscription ended: ErrSlow, ErrClosed, a catch-up failure, or nil after
// Close.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// From is the hub's position when the subscription opened: every event after
// max(From, the resume position) reaches C.
func (s *Subscription) From() eventstore.Position { return s.from }

// Close ends the subscription and frees its place under the limits.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	s.hub.removeLocked(s)
	s.hub.mu.Unlock()
	s.end(nil)
}

func (s *Subscription) end(err error) {
	s.once.Do(func() {
		s.err = err
		s.cancel()
		close(s.done)
	})
}

// deliver hands a live event over without blocking the hub (called under the hub's lock);
// false means the subscriber is too far behind.
func (s *Subscription) deliver(ev *Event) bool {
	if ev.Position <= s.after {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.live {
		if len(s.pending) >= cap(s.out) {
			return false
		}
		s.pending = append(s.pending, ev)
		return true
	}
	select {
	case s.out <- ev:
		return true
	default:
		return false
	}
}

// errCaughtUp stops the catch-up read of the log once it reaches the hand-over position.
var errCaughtUp = errors.New("caught up")

// catchUp sends the events missed before the subscription opened (the ring's backlog, or the
// log read from after up to from), then the events the hub parked meanwhile, then turns live.
func (s *Subscription) catchUp(ctx context.Context, backlog []*Event, fromLog bool) {
	send := func(ev *Event) bool {
		select {
		case s.out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for _, ev := range backlog {
		if !send(ev) {
			return
		}
	}
	if fromLog {
		err := s.hub.log.Subscribe(ctx, s.after, filter, func(ctx context.Context, b eventstore.Batch) error {
			for _, rec := range b.Events {
				if rec.Position > s.from {
					return errCaughtUp
				}
				if ev, ok := s.hub.decode(rec); ok && ev.Recipient == s.recipient && !send(ev) {
					return ctx.Err()
				}
			}
			if b.Position >= s.from {
				return errCaughtUp
			}
			return nil
		})
		if !errors.Is(err, errCaughtUp) {
			if ctx.Err() == nil {
				s.end(fmt.Errorf("live: catch up from %d: %w", s.after, err))
			}
			return
		}
	}
	for {
		s.mu.Lock()
		parked := s.pending
		s.pending = nil
		if len(parked) == 0 {
			s.live = true
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		for _, ev := range parked {
			if !send(ev) {
				return
			}
		}
	}
}
