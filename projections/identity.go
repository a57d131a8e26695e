package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/eventnotify/notify/app/eventstore"
)

// LogBinding ties a read model to the event log it was built from: every event log has an
// identity, written when it is created, and a read model records it.
type LogBinding interface {
	// LogID returns the identity of the log the read model was built from ("" before it was
	// first bound).
	LogID(ctx context.Context) (string, error)
	// BindLog records it.
	BindLog(ctx context.Context, id string) error
}

// ErrDamaged marks a read of a read model that found it damaged (a stored value that fails
// its checksum, a page that cannot be read): what it would have returned is not served, and
// the read model is rebuilt from the log.
var ErrDamaged = errors.New("the read model is damaged")

// ErrOtherLog and ErrAheadOfLog mean a read model does not belong to the log it would follow:
// built from another log, or further along than the log goes (the log was restored to an
// older copy, or lost its last commit). Served, it would show what the log does not hold and
// hide what it does.
var (
	ErrOtherLog   = errors.New("the read model was built from another event log")
	ErrAheadOfLog = errors.New("the read model is ahead of the event log")
)

// MismatchError details why a read model does not belong to its log.
type MismatchError struct {
	Err              error // ErrOtherLog or ErrAheadOfLog
	Recorded, Log    string
	Checkpoint, Head eventstore.Position
	Projection       string
}

func (e *MismatchError) Error() string {
	if errors.Is(e.Err, ErrOtherLog) {
		return fmt.Sprintf("%v: it records log %s, this log is %s", e.Err, e.Recorded, e.Log)
	}
	return fmt.Sprintf("%v: projection %s is at position %d, the log ends at %d", e.Err, e.Projection, e.Checkpoint, e.Head)
}

func (e *MismatchError) Unwrap() error { return e.Err }

// CheckLog checks that a read model belongs to the log logID whose head is head: it records
// that log (a read model that records none, new or from before identities, is bound to it
// now) and the projection's checkpoint is not past the head. Otherwise it returns a
// MismatchError and changes nothing.
func CheckLog(ctx context.Context, rm LogBinding, checkpoint func(context.Context) (eventstore.Position, error), projection, logID string, head eventstore.Position) error {
	recorded, err := rm.LogID(ctx)
	if err != nil {
		return err
	}
	if recorded != "" && recorded != logID {
		return &MismatchError{Err: ErrOtherLog, Recorded: recorded, Log: logID, Projection: projection}
	}
	cp, err := checkpoint(ctx)
	if err != nil {
		return err
	}
	if cp > head {
		return &MismatchError{Err: ErrAheadOfLog, Recorded: recorded, Log: logID, Checkpoint: cp, Head: head, Projection: projection}
	}
	if recorded == "" {
		return rm.BindLog(ctx, logID)
	}
	return nil
}
