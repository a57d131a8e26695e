package query

import (
	"context"
	"fmt"
	"time"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/projections"
)

// ProjectionsStatus answers "how far are the projections": the log head and each projection.
type ProjectionsStatus struct {
	LogHead     eventstore.Position `json:"logHead"`
	Projections []ProjectionStatus  `json:"projections"`
}

// ProjectionStatus is one projection: how far its live copy is, how far behind the log, and
// its state: live (caught up and following), catching-up, or replaying (a fresh copy is being
// built beside the live one, which keeps serving).
type ProjectionStatus struct {
	Name     string              `json:"name"`
	Position eventstore.Position `json:"position"`
	Lag      uint64              `json:"lag"`
	State    string              `json:"state"`
	// Replay is the running replay, else the last one this instance ran (absent if none).
	Replay *projections.ReplayStatus `json:"replay,omitempty"`
	// Parked counts the events the projection left out since the process started; the
	// first of them are listed.
	Parked       int                  `json:"parked,omitempty"`
	ParkedEvents []projections.Parked `json:"parkedEvents,omitempty"`
}

// Readiness says whether the service can serve. Reasons say, without details, why not;
// Details (positions, errors, Kafka partitions) are for operators: a connection error
// names hosts and users.
type Readiness struct {
	Ready   bool
	Reasons []string
	Details map[string]any
}

// Fail marks r not ready for reason, recording err (may be nil) among the details' errors.
func (r *Readiness) Fail(reason string, err error) {
	r.Ready = false
	r.Reasons = append(r.Reasons, reason)
	if err != nil {
		if r.Details == nil {
			r.Details = map[string]any{}
		}
		errs, _ := r.Details["errors"].([]string)
		r.Details["errors"] = append(errs, reason+": "+err.Error())
	}
}

// Replayer rebuilds projections into fresh copies (projections.Replays).
type Replayer interface {
	Start(ctx context.Context, name string) (projections.ReplayStatus, error)
	Status(name string) *projections.ReplayStatus
}

// Projection is what Status needs to know of one projection.
type Projection struct {
	Name string
	// Position is how far the projection's live copy has folded the log.
	Position func(context.Context) (eventstore.Position, error)
	// Parking holds the events it left out (nil: none are kept).
	Parking *projections.Parking
	// Replays rebuilds it into a fresh copy (nil: its read model cannot, and NoReplay is
	// the error Replay answers).
	Replays  Replayer
	NoReplay error
}

// Check is a further readiness check (a transport, say): it may add details and fail r.
type Check func(ctx context.Context, r *Readiness)

// Status answers the operational questions about the log and the projection that serves the
// queries: positions and lag, replays, read-your-writes waits, and readiness.
type Status struct {
	// Head reads the log head.
	Head       func(context.Context) (eventstore.Position, error)
	Projection Projection
	// ReadWait bounds WaitFor.
	ReadWait time.Duration
	// StartHead is the log head when the service started: until the projection reaches it,
	// the service is not ready (it would answer with an old inbox).
	StartHead eventstore.Position
	// MaxLag is how far behind the current head the projection may be and still be ready.
	MaxLag uint64
	// Checks run after the log and projection checks.
	Checks []Check
}

// Projections reports the log head and the projection's position, lag and state.
func (s *Status) Projections(ctx context.Context) (ProjectionsStatus, error) {
	head, st, err := s.projection(ctx)
	return ProjectionsStatus{LogHead: head, Projections: []ProjectionStatus{st}}, err
}

func (s *Status) projection(ctx context.Context) (eventstore.Position, ProjectionStatus, error) {
	head, err := s.Head(ctx)
	if err != nil {
		return 0, ProjectionStatus{}, fmt.Errorf("event store head: %w", err)
	}
	pr := s.Projection
	p, err := pr.Position(ctx)
	if err != nil {
		return 0, ProjectionStatus{}, fmt.Errorf("read model position: %w", err)
	}
	st := ProjectionStatus{Name: pr.Name, Position: p, State: "live"}
	if pr.Parking != nil {
		st.Parked, st.ParkedEvents = pr.Parking.Count(), pr.Parking.List()
	}
	if pr.Replays != nil {
		st.Replay = pr.Replays.Status(pr.Name)
	}
	if p < head {
		st.Lag, st.State = uint64(head-p), "catching-up"
	}
	if st.Replay != nil && st.Replay.FinishedAt == nil {
		st.State = "replaying"
	}
	return head, st, nil
}

// Replay starts rebuilding the named projection into a fresh copy and returns its status;
// errors wrap projections.ErrUnknown or ErrReplayRunning.
func (s *Status) Replay(ctx context.Context, name string) (ProjectionStatus, error) {
	if s.Projection.Replays == nil {
		return ProjectionStatus{}, s.Projection.NoReplay
	}
	if _, err := s.Projection.Replays.Start(ctx, name); err != nil {
		return ProjectionStatus{}, err
	}
	_, st, err := s.projection(ctx)
	return st, err
}

// WaitFor blocks until the projection reflects log position want (read-your-writes), or
// fails with an error wrapping projections.ErrNotReached after ReadWait. It polls (every
// 2 ms), which serves every read model alike, including a PostgreSQL one projected by
// another instance.
func (s *Status) WaitFor(ctx context.Context, want eventstore.Position) error {
	deadline := time.Now().Add(s.ReadWait)
	for {
		p, err := s.Projection.Position(ctx)
		if err != nil {
			return fmt.Errorf("read model position: %w", err)
		}
		if p >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: at %d, want %d after %v", projections.ErrNotReached, p, want, s.ReadWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// Ready is not ready while a store is unreachable, while the projection catches up with the
// log as it was at start or lags the current head by more than MaxLag, or while a further
// check fails.
func (s *Status) Ready(ctx context.Context) Readiness {
	r := Readiness{Ready: true, Details: map[string]any{}}
	name := s.Projection.Name
	p, perr := s.Projection.Position(ctx)
	head, herr := s.Head(ctx)
	switch {
	case perr != nil:
		r.Fail("read model unreachable", perr)
	case p < s.StartHead:
		r.Fail(fmt.Sprintf("projection %s catching up with the log as it was at start", name), nil)
	case herr == nil && head > p && uint64(head-p) > s.MaxLag:
		r.Fail(fmt.Sprintf("projection %s more than %d positions behind the log", name, s.MaxLag), nil)
	}
	if herr != nil {
		r.Fail("event store unreachable", herr)
	} else {
		r.Details["logHead"] = head
	}
	if perr == nil {
		r.Details["projections"] = map[string]any{name: p}
	}
	for _, c := range s.Checks {
		c(ctx, &r)
	}
	return r
}
