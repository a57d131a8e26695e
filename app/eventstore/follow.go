package eventstore

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Retry says how Follow waits between attempts. The zero value waits 100 ms after the first
// failure, doubling up to 5 s.
type Retry struct {
	// First and Max bound the nominal delay after a failure: First after the first failure (or
	// the first since the follower made progress), doubling with each failure up to Max. Each
	// wait is drawn between half the nominal delay and all of it, so that followers that lost
	// the same server do not come back in step, and Max stays the longest wait.
	First, Max time.Duration
	// OnRetry, if set, is called with each failure and the wait before the next attempt (a
	// follower logs there).
	OnRetry func(err error, wait time.Duration)

	sleep func(ctx context.Context, d time.Duration) bool // tests record the waits
}

// Defaults of Retry.
const (
	DefaultRetryFirst = 100 * time.Millisecond
	DefaultRetryMax   = 5 * time.Second
)

// Stop marks an attempt's error that retrying cannot cure: Follow ends with err.
func Stop(err error) error { return &markedError{err: err, stop: true} }

// RetryNow marks an attempt's error the attempt has dealt with (the follower moved to where
// it must resume): Follow starts the next attempt at once, without a wait.
func RetryNow(err error) error { return &markedError{err: err} }

type markedError struct {
	err  error
	stop bool
}

func (e *markedError) Error() string { return e.err.Error() }
func (e *markedError) Unwrap() error { return e.err }

// Follow is the subscribe-and-back-off loop of every follower of the log (the projections,
// the live hub, the Kafka relay, the EventStoreDB subscription). It runs attempt until ctx
// ends, then returns ctx.Err(); attempt follows the log from where the follower is and
// returns when it stops:
//
//   - an error marked by Stop ends Follow with that error;
//   - one marked by RetryNow starts the next attempt at once;
//   - anything else (nil too: a subscription is not meant to end) is a failure, and the next
//     attempt starts after a wait (see Retry).
//
// attempt reports whether it made progress; a failure after progress waits First again.
func Follow(ctx context.Context, r Retry, attempt func(ctx context.Context) (progressed bool, err error)) error {
	if r.First <= 0 {
		r.First = DefaultRetryFirst
	}
	if r.Max < r.First {
		r.Max = max(DefaultRetryMax, r.First)
	}
	if r.sleep == nil {
		r.sleep = sleep
	}
	// The policy is cenkalti/backoff's exponential one (in the module graph already, through
	// Watermill's retry middleware): around a centre of 3/4 of the nominal delay, ±1/3 of it,
	// is [1/2, 1] of the nominal delay. The loop is ours: backoff.Retry ends on a nil error,
	// gives up after 15 minutes by default, and knows nothing of progress.
	policy := &backoff.ExponentialBackOff{
		InitialInterval:     r.First * 3 / 4,
		MaxInterval:         r.Max * 3 / 4,
		Multiplier:          2,
		RandomizationFactor: 1.0 / 3,
	}
	policy.Reset()
	for {
		progressed, err := attempt(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		marked, isMarked := errors.AsType[*markedError](err)
		if isMarked && marked.stop {
			return marked.err
		}
		if progressed {
			policy.Reset()
		}
		if isMarked {
			continue
		}
		wait := policy.NextBackOff()
		if r.OnRetry != nil {
			r.OnRetry(err, wait)
		}
		if !r.sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

// sleep waits d, or less if ctx ends first (then it returns false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
