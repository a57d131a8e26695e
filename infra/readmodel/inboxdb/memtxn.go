package inboxdb

// The batch transaction over an in-memory copy, merged whole or not at all.

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

// apply runs fn against an overlay of the copy and merges it only if fn succeeds.
func (m *memCopy) apply(name string, from, to eventstore.Position, fn func(inbox.Tx) error) error {
	if at := m.checkpoints[name]; at != from {
		return fmt.Errorf("inboxdb: %w: %s is at %d, not %d", projections.ErrMoved, name, at, from)
	}
	t := &memTxn{base: m, ids: map[string]int{}}
	if err := fn(t); err != nil {
		return err
	}
	for i := range t.entries {
		if e := &t.entries[i]; e.put {
			if _, err := statusCode(e.view.Status); err != nil {
				return err // before anything is merged: all or nothing
			}
		}
	}
	for i := range t.entries {
		e := &t.entries[i]
		if !e.put {
			continue
		}
		old, r, _ := m.put(e)
		c := m.counts[r]
		c.Change(old, inbox.StandingOf(e.view))
		m.counts[r] = c
	}
	m.checkpoints[name] = to
	return nil
}

// memTxn is the inbox projection's view of a memCopy: reads see the transaction's own puts.
// Each id the transaction touches is parsed and looked up once.
type memTxn struct {
	base    *memCopy
	ids     map[string]int // id → index in entries
	entries []txEntry
}

// txEntry is one notification a transaction touched: where the copy has it, and what the
// transaction put.
type txEntry struct {
	key       uuid.UUID
	canonical bool
	row       int // index in the copy's rows, -1 if it has none
	put       bool
	view      inbox.View // what was put
}

func (t *memTxn) entry(id string) *txEntry {
	if i, ok := t.ids[id]; ok {
		return &t.entries[i]
	}
	e := txEntry{row: -1}
	e.key, e.canonical = canonical(id)
	if e.canonical {
		if i, ok := t.base.index[e.key]; ok {
			e.row = int(i)
		}
	}
	t.ids[id] = len(t.entries)
	t.entries = append(t.entries, e)
	return &t.entries[len(t.entries)-1]
}

// Load looks up the notifications of ids; one that is not a canonical UUID sends the batch
// to the file (errNotCanonical).
func (t *memTxn) Load(ids []string) error {
	for _, id := range ids {
		if !t.entry(id).canonical {
			return errNotCanonical
		}
	}
	return nil
}

func (t *memTxn) Get(id string) (inbox.View, bool, error) {
	e := t.entry(id)
	switch {
	case e.put:
		return e.view, true, nil
	case e.row >= 0:
		return t.base.view(uint32(e.row)), true, nil
	case !e.canonical:
		return inbox.View{}, false, errNotCanonical
	}
	return inbox.View{}, false, nil
}

func (t *memTxn) Put(v inbox.View) error {
	e := t.entry(v.ID)
	moved := false
	switch {
	case e.put:
		moved = e.view.RecipientID != v.RecipientID || e.view.Seq != v.Seq
	case e.row >= 0:
		r := &t.base.rows[e.row]
		moved = t.base.strs[r.recipient] != v.RecipientID || r.seq != v.Seq
	case !e.canonical:
		return errNotCanonical
	}
	if moved {
		return fmt.Errorf("inboxdb: notification %s cannot move between recipients or positions", v.ID)
	}
	e.view, e.put = v, true
	return nil
}
