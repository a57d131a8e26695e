package query_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/app/query"
	"github.com/eventnotify/notify/projections"
)

func at(p eventstore.Position, err error) func(context.Context) (eventstore.Position, error) {
	return func(context.Context) (eventstore.Position, error) { return p, err }
}

type replays struct {
	st      *projections.ReplayStatus
	started string
}

func (r *replays) Start(_ context.Context, name string) (projections.ReplayStatus, error) {
	if name != "inbox" {
		return projections.ReplayStatus{}, projections.ErrUnknown
	}
	r.started = name
	r.st = &projections.ReplayStatus{StartedAt: time.Now()}
	return *r.st, nil
}

func (r *replays) Status(string) *projections.ReplayStatus { return r.st }

func TestStatus_Projections(t *testing.T) {
	t.Parallel()
	finished := time.Now()
	tests := []struct {
		name      string
		head, pos eventstore.Position
		replay    *projections.ReplayStatus
		state     string
		lag       uint64
	}{
		{"caught up", 7, 7, nil, "live", 0},
		{"behind", 9, 7, nil, "catching-up", 2},
		{"replaying", 7, 7, &projections.ReplayStatus{}, "replaying", 0},
		{"replay over", 7, 7, &projections.ReplayStatus{FinishedAt: &finished}, "live", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &query.Status{Head: at(tt.head, nil), Projection: query.Projection{Name: "inbox", Position: at(tt.pos, nil), Replays: &replays{st: tt.replay}}}
			got, err := s.Projections(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			p := got.Projections[0]
			if got.LogHead != tt.head || p.Name != "inbox" || p.Position != tt.pos || p.State != tt.state || p.Lag != tt.lag || p.Replay != tt.replay {
				t.Fatalf("status %+v, want head %d, inbox at %d, %s, lag %d", got, tt.head, tt.pos, tt.state, tt.lag)
			}
		})
	}
	down := errors.New("connection refused")
	for _, s := range []*query.Status{
		{Head: at(0, down), Projection: query.Projection{Name: "inbox", Position: at(1, nil)}},
		{Head: at(1, nil), Projection: query.Projection{Name: "inbox", Position: at(0, down)}},
	} {
		if _, err := s.Projections(context.Background()); !errors.Is(err, down) {
			t.Errorf("status with a store down: %v, want it wrapped", err)
		}
	}
}

func TestStatus_Replay(t *testing.T) {
	t.Parallel()
	r := &replays{}
	s := &query.Status{Head: at(3, nil), Projection: query.Projection{Name: "inbox", Position: at(3, nil), Replays: r}}
	st, err := s.Replay(context.Background(), "inbox")
	if err != nil || r.started != "inbox" || st.State != "replaying" || st.Replay == nil {
		t.Fatalf("replay = %+v, %v (started %q), want the inbox replaying", st, err, r.started)
	}
	if _, err := s.Replay(context.Background(), "inboxes"); !errors.Is(err, projections.ErrUnknown) {
		t.Fatalf("unknown projection: %v", err)
	}
	cannot := errors.New("the postgres read model cannot be replayed into a copy")
	s.Projection.Replays, s.Projection.NoReplay = nil, cannot
	if _, err := s.Replay(context.Background(), "inbox"); !errors.Is(err, cannot) {
		t.Fatalf("replay with no replays: %v, want %v", err, cannot)
	}
}

func TestStatus_WaitFor(t *testing.T) {
	t.Parallel()
	calls := 0
	rising := func(context.Context) (eventstore.Position, error) { calls++; return eventstore.Position(calls), nil }
	s := &query.Status{Projection: query.Projection{Position: rising}, ReadWait: time.Minute}
	if err := s.WaitFor(context.Background(), 3); err != nil || calls != 3 {
		t.Fatalf("wait for 3 = %v after %d reads, want nil after 3", err, calls)
	}
	s = &query.Status{Projection: query.Projection{Position: at(2, nil)}}
	if err := s.WaitFor(context.Background(), 3); !errors.Is(err, projections.ErrNotReached) {
		t.Fatalf("wait past ReadWait = %v, want ErrNotReached", err)
	}
	down := errors.New("down")
	s = &query.Status{Projection: query.Projection{Position: at(0, down)}, ReadWait: time.Minute}
	if err := s.WaitFor(context.Background(), 3); !errors.Is(err, down) {
		t.Fatalf("wait with the read model down = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s = &query.Status{Projection: query.Projection{Position: at(2, nil)}, ReadWait: time.Minute}
	if err := s.WaitFor(ctx, 3); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with the caller gone = %v", err)
	}
}

func TestStatus_Ready(t *testing.T) {
	t.Parallel()
	down := errors.New("connection refused")
	failing := func(_ context.Context, r *query.Readiness) {
		r.Details["kafka"] = "x"
		r.Fail("Kafka unreachable", down)
	}
	tests := []struct {
		name      string
		head, pos func(context.Context) (eventstore.Position, error)
		start     eventstore.Position
		checks    []query.Check
		reasons   []string
		errors    int
	}{
		{name: "ready", head: at(10, nil), pos: at(10, nil), start: 10},
		{name: "within the lag", head: at(15, nil), pos: at(10, nil), start: 10},
		{name: "catching up with the start", head: at(10, nil), pos: at(9, nil), start: 10, reasons: []string{"projection inbox catching up with the log as it was at start"}},
		{name: "too far behind", head: at(16, nil), pos: at(10, nil), start: 10, reasons: []string{"projection inbox more than 5 positions behind the log"}},
		{name: "read model down", head: at(10, nil), pos: at(0, down), reasons: []string{"read model unreachable"}, errors: 1},
		{name: "log down", head: at(0, down), pos: at(10, nil), reasons: []string{"event store unreachable"}, errors: 1},
		{name: "a check fails", head: at(10, nil), pos: at(10, nil), checks: []query.Check{failing}, reasons: []string{"Kafka unreachable"}, errors: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &query.Status{Head: tt.head, Projection: query.Projection{Name: "inbox", Position: tt.pos}, StartHead: tt.start, MaxLag: 5, Checks: tt.checks}
			r := s.Ready(context.Background())
			if r.Ready != (len(tt.reasons) == 0) || strings.Join(r.Reasons, "|") != strings.Join(tt.reasons, "|") {
				t.Fatalf("ready %v %q, want reasons %q", r.Ready, r.Reasons, tt.reasons)
			}
			errs, _ := r.Details["errors"].([]string)
			if len(errs) != tt.errors {
				t.Fatalf("errors %q, want %d", errs, tt.errors)
			}
			for _, e := range errs {
				if !strings.Contains(e, down.Error()) {
					t.Fatalf("error %q does not say what failed", e)
				}
			}
		})
	}
}
