package projections

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/eventnotify/notify/app/eventstore"
)

// Parked is an event a projection left out: its position, its stream, why.
type Parked struct {
	Position eventstore.Position `json:"position"`
	Stream   string              `json:"stream,omitempty"`
	Reason   string              `json:"reason"`
	At       time.Time           `json:"at"`
}

// Parking holds the events parked since the process started (the log's own check lists its
// corrupt records at any time): all their positions, the first maxParkedKept in full.
type Parking struct {
	mu        sync.Mutex
	positions map[eventstore.Position]bool
	kept      []Parked
}

const maxParkedKept = 100

// NewParking returns an empty parking.
func NewParking() *Parking { return &Parking{positions: map[eventstore.Position]bool{}} }

// add parks p; it reports false when that position was parked already.
func (pk *Parking) add(p Parked) bool {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	if pk.positions[p.Position] {
		return false
	}
	pk.positions[p.Position] = true
	if len(pk.kept) < maxParkedKept {
		pk.kept = append(pk.kept, p)
	}
	return true
}

func (pk *Parking) has(pos eventstore.Position) bool {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	return pk.positions[pos]
}

// Count is how many events are parked.
func (pk *Parking) Count() int {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	return len(pk.positions)
}

// List returns the first parked events in full, by position.
func (pk *Parking) List() []Parked {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	out := slices.Clone(pk.kept)
	slices.SortFunc(out, func(a, b Parked) int { return cmp.Compare(a.Position, b.Position) })
	return out
}
