package eventstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// step is what one attempt of a scripted follower does.
type step struct {
	progressed bool
	err        error
	cancel     bool // end the context during the attempt
}

var errDropped = errors.New("subscription dropped")

// nominal is the delay Retry{First: 100ms, Max: 1s} promises after failure n since progress.
func nominal(n int) time.Duration { return min(100*time.Millisecond<<n, time.Second) }

func TestFollow(t *testing.T) {
	t.Parallel()
	permanent := errors.New("access denied")
	tests := []struct {
		name  string
		steps []step
		// sleepFails ends the context during the wait after this many waits (0: never).
		sleepFails int
		// waits are the nominal delays Follow must wait, in order (each drawn in [d/2, d]).
		waits   []time.Duration
		wantErr error
	}{
		{
			name:    "retries after each failure, the delay doubling up to Max",
			steps:   []step{{err: errDropped}, {err: errDropped}, {err: errDropped}, {err: errDropped}, {err: errDropped}, {err: Stop(permanent)}},
			waits:   []time.Duration{nominal(0), nominal(1), nominal(2), nominal(3), nominal(4)},
			wantErr: permanent,
		},
		{
			name:    "a failure after progress waits First again",
			steps:   []step{{err: errDropped}, {err: errDropped}, {progressed: true, err: errDropped}, {err: errDropped}, {err: Stop(permanent)}},
			waits:   []time.Duration{nominal(0), nominal(1), nominal(0), nominal(1)},
			wantErr: permanent,
		},
		{
			name:    "RetryNow goes again at once, keeping the delay",
			steps:   []step{{err: errDropped}, {err: fmt.Errorf("moved: %w", RetryNow(errDropped))}, {err: errDropped}, {err: Stop(permanent)}},
			waits:   []time.Duration{nominal(0), nominal(1)},
			wantErr: permanent,
		},
		{
			name:    "nil is a failure too: a subscription is not meant to end",
			steps:   []step{{err: nil}, {err: nil}, {err: Stop(permanent)}},
			waits:   []time.Duration{nominal(0), nominal(1)},
			wantErr: permanent,
		},
		{
			name:    "Stop ends it at once, wrapped or not",
			steps:   []step{{err: fmt.Errorf("esdb: %w", Stop(permanent))}},
			wantErr: permanent,
		},
		{
			name:    "the context ending during an attempt ends it, whatever the attempt returned",
			steps:   []step{{err: errDropped}, {cancel: true, err: Stop(permanent)}},
			waits:   []time.Duration{nominal(0)},
			wantErr: context.Canceled,
		},
		{
			name:       "the context ending during a wait ends it",
			steps:      []step{{err: errDropped}, {err: errDropped}, {err: errDropped}},
			sleepFails: 2,
			waits:      []time.Duration{nominal(0), nominal(1)},
			wantErr:    context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var slept, told []time.Duration
			var toldErrs []error
			r := Retry{
				First: 100 * time.Millisecond, Max: time.Second,
				OnRetry: func(err error, wait time.Duration) { toldErrs, told = append(toldErrs, err), append(told, wait) },
				sleep: func(ctx context.Context, d time.Duration) bool {
					slept = append(slept, d)
					if len(slept) == tt.sleepFails {
						cancel()
						return false
					}
					return true
				},
			}
			attempts := 0
			var failures []error // what the attempts returned that was neither Stop nor RetryNow
			err := Follow(ctx, r, func(context.Context) (bool, error) {
				if attempts == len(tt.steps) {
					t.Fatalf("attempt %d: the script has only %d", attempts+1, len(tt.steps))
				}
				s := tt.steps[attempts]
				attempts++
				if s.cancel {
					cancel()
				}
				if _, marked := errors.AsType[*markedError](s.err); !marked {
					failures = append(failures, s.err)
				}
				return s.progressed, s.err
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Follow = %v, want %v", err, tt.wantErr)
			}
			if tt.sleepFails == 0 && attempts != len(tt.steps) {
				t.Fatalf("%d attempts, want %d", attempts, len(tt.steps))
			}
			if len(slept) != len(tt.waits) {
				t.Fatalf("waited %v, want %d waits around %v", slept, len(tt.waits), tt.waits)
			}
			for i, d := range slept {
				if d < tt.waits[i]/2 || d > tt.waits[i] {
					t.Errorf("wait %d is %v, want within [%v, %v]", i+1, d, tt.waits[i]/2, tt.waits[i])
				}
				if told[i] != d || toldErrs[i] != failures[i] {
					t.Errorf("OnRetry %d got (%v, %v), want the failure and the wait %v", i+1, toldErrs[i], told[i], d)
				}
			}
		})
	}
}

// The waits are jittered: many followers failing together do not all wait the same, and every
// wait stays within [d/2, d] of its nominal delay.
func TestFollow_JitterWithinBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		first, max time.Duration
		failures   int
	}{
		{"defaults", 0, 0, 10},
		{"short", time.Millisecond, 8 * time.Millisecond, 6},
		{"max equal to first", time.Second, time.Second, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			first, maxWait := tt.first, tt.max
			if first == 0 {
				first, maxWait = DefaultRetryFirst, DefaultRetryMax
			}
			distinct := map[time.Duration]bool{}
			for follower := 0; follower < 50; follower++ {
				ctx, cancel := context.WithCancel(context.Background())
				n := 0
				r := Retry{First: tt.first, Max: tt.max, sleep: func(_ context.Context, d time.Duration) bool {
					want := min(first<<n, maxWait)
					if d < want/2 || d > want {
						t.Errorf("follower %d, wait %d: %v, want within [%v, %v]", follower, n+1, d, want/2, want)
					}
					if n == 0 {
						distinct[d] = true
					}
					n++
					return true
				}}
				_ = Follow(ctx, r, func(context.Context) (bool, error) {
					if n == tt.failures {
						cancel()
					}
					return false, errDropped
				})
				cancel()
			}
			if len(distinct) < 10 {
				t.Fatalf("50 followers' first waits took %d distinct values: the waits are not jittered", len(distinct))
			}
		})
	}
}
