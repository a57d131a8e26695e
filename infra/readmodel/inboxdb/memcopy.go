package inboxdb

// The in-memory copy: fixed-size rows, a content arena and interned strings.

import (
	"fmt"
	"slices"
	"time"
	"unsafe"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/projections/inbox"
)

// memCopy is a copy being built in memory. Its bulk holds no pointers, so that the garbage
// collector does not walk a million views on every cycle: each notification is a fixed-size
// row found by its UUID, its content lives in one byte arena, and recipients and categories
// are interned. It holds notifications with canonical UUIDs only (all this service writes):
// a batch touching another id makes the copy go on in the file (errNotCanonical).
type memCopy struct {
	index map[uuid.UUID]uint32 // notification id → its row
	rows  []row
	arena []byte            // contents, back to back
	strs  []string          // interned recipients and categories
	ref   map[string]uint32 // string → index in strs
	// rich holds the optional fields of the rows that have any (few do), by row.
	rich map[uint32]*richFields
	// counts by recipient (an index in strs)
	counts      map[uint32]inbox.Counts
	checkpoints map[string]eventstore.Position
}

// row is one notification of a memCopy.
type row struct {
	id                  uuid.UUID
	seq                 eventstore.Position
	recipient, category uint32
	contentAt, contentN uint32
	created             stamp
	read, canceled      stamp
	seen, archived      stamp
	status              uint8 // an index in statuses
}

// richFields are a row's optional fields (issue #13), kept beside the rows: most
// notifications have none, and the rows stay free of pointers.
type richFields struct {
	title, actionURL string
	data             []byte
	actions          []notification.Action
	tags             []string
	extra            []byte
}

func richOf(v *inbox.View) *richFields {
	if v.Title == "" && len(v.Data) == 0 && v.ActionURL == "" && len(v.Actions) == 0 && len(v.Tags) == 0 && len(v.Extra) == 0 {
		return nil
	}
	return &richFields{title: v.Title, actionURL: v.ActionURL, data: v.Data, actions: v.Actions, tags: v.Tags, extra: v.Extra}
}

// standing is what the row counts as (inbox.StandingOf its view, without building it).
func (r *row) standing() inbox.Standing {
	return inbox.StandingOf(inbox.View{Status: statuses[r.status], SeenAt: r.seen.mark(), ArchivedAt: r.archived.mark()})
}

// statuses are the row status codes; the zero code is no row.
var statuses = [...]inbox.Status{"", inbox.StatusSent, inbox.StatusRead, inbox.StatusCanceled}

func statusCode(s inbox.Status) (uint8, error) {
	for i, c := range statuses[1:] {
		if s == c {
			return uint8(i + 1), nil
		}
	}
	return 0, fmt.Errorf("inboxdb: unknown status %q", s)
}

// stamp is a time with its UTC offset (what its JSON shows); set is false for no time.
type stamp struct {
	unixNano int64
	offset   int32
	set      bool
}

func stampOf(t *time.Time) stamp {
	if t == nil {
		return stamp{}
	}
	_, off := t.Zone()
	return stamp{unixNano: t.UnixNano(), offset: int32(off), set: true}
}

func (s stamp) time() time.Time {
	t := time.Unix(0, s.unixNano).UTC()
	if s.offset != 0 {
		t = t.In(time.FixedZone("", int(s.offset)))
	}
	return t
}

// someTime stands for a set time where only whether it is set matters.
var someTime = new(time.Time)

func (s stamp) mark() *time.Time {
	if !s.set {
		return nil
	}
	return someTime
}

func (s stamp) ptr() *time.Time {
	if !s.set {
		return nil
	}
	t := s.time()
	return &t
}

func newMemCopy() *memCopy {
	return &memCopy{index: map[uuid.UUID]uint32{}, ref: map[string]uint32{}, rich: map[uint32]*richFields{},
		counts: map[uint32]inbox.Counts{}, checkpoints: map[string]eventstore.Position{}}
}

func (m *memCopy) len() int { return len(m.rows) }

func (m *memCopy) intern(s string) uint32 {
	if i, ok := m.ref[s]; ok {
		return i
	}
	i := uint32(len(m.strs))
	m.strs = append(m.strs, s)
	m.ref[s] = i
	return i
}

// canonical parses id if it is a UUID in its canonical form (lower-case hex, four dashes).
func canonical(id string) (uuid.UUID, bool) {
	if len(id) != 36 {
		return uuid.UUID{}, false
	}
	for i := 0; i < 36; i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return uuid.UUID{}, false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return uuid.UUID{}, false
			}
		}
	}
	u, err := uuid.Parse(id)
	return u, err == nil
}

// view returns the view of row i.
func (m *memCopy) view(i uint32) inbox.View {
	r := &m.rows[i]
	v := inbox.View{
		ID: r.id.String(), RecipientID: m.strs[r.recipient], Category: m.strs[r.category],
		Status: statuses[r.status], ReadAt: r.read.ptr(), CanceledAt: r.canceled.ptr(), CreatedAt: r.created.time(), Seq: r.seq,
		SeenAt: r.seen.ptr(), ArchivedAt: r.archived.ptr(),
	}
	if len(m.rich) > 0 {
		if x := m.rich[i]; x != nil {
			v.Title, v.ActionURL, v.Data, v.Actions, v.Tags, v.Extra = x.title, x.actionURL, x.data, x.actions, x.tags, x.extra
		}
	}
	if r.contentN > 0 {
		// The arena's bytes never change once written (growing it copies them elsewhere and
		// leaves these in place), so the view may point at them instead of copying.
		v.Content = unsafe.String(&m.arena[r.contentAt], r.contentN)
	}
	return v
}

// put stores v, returning the standing it replaces (zero if new) and its recipient's index. e
// is what the transaction found for v's id.
func (m *memCopy) put(e *txEntry) (inbox.Standing, uint32, error) {
	v := e.view
	code, err := statusCode(v.Status)
	if err != nil {
		return inbox.Standing{}, 0, err
	}
	r := row{id: e.key, seq: v.Seq, recipient: m.intern(v.RecipientID), category: m.intern(v.Category),
		created: stampOf(&v.CreatedAt), read: stampOf(v.ReadAt), canceled: stampOf(v.CanceledAt),
		seen: stampOf(v.SeenAt), archived: stampOf(v.ArchivedAt), status: code}
	var old inbox.Standing
	if e.row >= 0 {
		prev := &m.rows[e.row]
		old = prev.standing()
		if string(m.arena[prev.contentAt:prev.contentAt+prev.contentN]) == v.Content {
			r.contentAt, r.contentN = prev.contentAt, prev.contentN
		}
	}
	if r.contentN == 0 && v.Content != "" {
		r.contentAt, r.contentN = uint32(len(m.arena)), uint32(len(v.Content))
		if len(m.arena)+len(v.Content) > cap(m.arena) {
			m.arena = slices.Grow(m.arena, len(m.arena)+len(v.Content)) // double, not append's 1.25
		}
		m.arena = append(m.arena, v.Content...)
	}
	at := uint32(e.row)
	if e.row >= 0 {
		m.rows[e.row] = r
	} else {
		at = uint32(len(m.rows))
		m.index[e.key] = at
		if len(m.rows) == cap(m.rows) {
			m.rows = slices.Grow(m.rows, max(len(m.rows), 1024))
		}
		m.rows = append(m.rows, r)
	}
	if x := richOf(&v); x != nil {
		m.rich[at] = x
	} else if len(m.rich) > 0 {
		delete(m.rich, at)
	}
	return old, r.recipient, nil
}
