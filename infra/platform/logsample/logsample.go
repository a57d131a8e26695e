// Package logsample keeps a failing dependency from burying the log: the first line of each
// kind is written, then at most one per interval, saying how many like it were held back.
// A store that is down fails every request, and a line each buried the log once (83,097
// lines in 40 s); the EventStoreDB client retries its discovery every 100 ms and logs each.
package logsample

import (
	"sync"
	"time"
)

// Sampler decides which lines of each kind are written. It is safe for concurrent use.
type Sampler struct {
	mu    sync.Mutex
	every time.Duration
	now   func() time.Time
	kinds map[string]*kind
}

type kind struct {
	last time.Time
	more int
}

// New returns a sampler that writes a kind at most once per every.
func New(every time.Duration) *Sampler {
	return &Sampler{every: every, now: time.Now, kinds: map[string]*kind{}}
}

// Log calls write, with the count of lines of this kind held back since the last one
// written, unless a line of this kind was written within the interval.
func (s *Sampler) Log(k string, write func(more int)) {
	s.mu.Lock()
	st := s.kinds[k]
	if st == nil {
		st = &kind{}
		s.kinds[k] = st
	}
	now := s.now()
	if !st.last.IsZero() && now.Sub(st.last) < s.every {
		st.more++
		s.mu.Unlock()
		return
	}
	more := st.more
	st.last, st.more = now, 0
	s.mu.Unlock()
	write(more)
}
