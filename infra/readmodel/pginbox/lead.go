package pginbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/projections/inbox"
)

// ErrNotLeader is returned by a Lease's Apply once the lease is lost or released.
var ErrNotLeader = errors.New("pginbox: this instance no longer leads the projection")

// Lease is the leadership of one projection across every instance sharing the database: a
// PostgreSQL session-level advisory lock held on a connection of its own. A Lease is also the
// projection's store: its Apply runs on that very connection, so a transaction can commit only
// while the session, and with it the lock, is alive. An instance whose connection dropped
// cannot commit anything after another instance has taken over.
type Lease struct {
	store *Store
	name  string

	mu     sync.Mutex // serialises use of conn
	conn   *pgx.Conn
	lastOK time.Time

	done      chan struct{}
	endOnce   sync.Once
	cause     error
	stopWatch chan struct{}
	stopOnce  sync.Once
	watchWG   sync.WaitGroup
}

// Lead blocks until this instance leads the named projection or ctx ends. While the returned
// lease is held no other Lease of that name exists on the database. Project through it (it is
// a projections.Store) until Done is closed, then Release it.
func (s *Store) Lead(ctx context.Context, name string) (*Lease, error) {
	conn, err := s.connectHolder(ctx)
	if err != nil {
		return nil, fmt.Errorf("pginbox: connect to lead %s: %w", name, err)
	}
	key := lockKey("lead", s.opts.Schema, name)
	tick := time.NewTicker(s.opts.LeadPoll)
	defer tick.Stop()
	for {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
			closeConn(conn)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("pginbox: take the lock of %s: %w", name, err)
		}
		if ok {
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			closeConn(conn)
			return nil, ctx.Err()
		}
	}
	l := &Lease{store: s, name: name, conn: conn, lastOK: time.Now(), done: make(chan struct{}), stopWatch: make(chan struct{})}
	l.watchWG.Add(1)
	go l.watch()
	return l, nil
}

// connectHolder opens a connection of its own, for a session that holds an advisory lock.
func (s *Store) connectHolder(ctx context.Context) (*pgx.Conn, error) {
	cfg := s.connCfg.Copy()
	// The server frees the lock when it notices the session is gone. A process that dies closes
	// its socket at once; a host that vanishes sends nothing, so ask the server to probe the
	// connection and drop it after about 10s of silence instead of the system's default hours.
	for k, v := range map[string]string{"tcp_keepalives_idle": "4", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "3"} {
		if _, set := cfg.RuntimeParams[k]; !set {
			cfg.RuntimeParams[k] = v
		}
	}
	return pgx.ConnectConfig(ctx, cfg)
}

func closeConn(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = c.Close(ctx) // the session, and its locks, end with the connection either way
}

// watch checks the lock connection every poll and ends the lease when it fails.
func (l *Lease) watch() {
	defer l.watchWG.Done()
	poll := l.store.opts.LeadPoll
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-l.stopWatch:
			return
		}
		l.mu.Lock()
		if l.conn == nil || time.Since(l.lastOK) < poll {
			l.mu.Unlock()
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(2*poll, time.Second))
		err := l.conn.Ping(ctx)
		cancel()
		if err == nil {
			l.lastOK = time.Now()
		}
		l.mu.Unlock()
		if err != nil {
			l.end(fmt.Errorf("%w: lock connection failed: %w", ErrNotLeader, err))
			return
		}
	}
}

// end closes the lock connection (the server then frees the lock) and Done; the first cause wins.
func (l *Lease) end(cause error) {
	l.endOnce.Do(func() {
		l.mu.Lock()
		if l.conn != nil {
			closeConn(l.conn)
			l.conn = nil
		}
		l.cause = cause
		l.mu.Unlock()
		close(l.done)
	})
}

// Done is closed when the lease ends: released, or lost because its connection failed.
func (l *Lease) Done() <-chan struct{} { return l.done }

// Err tells why the lease ended (nil while it is held). It matches ErrNotLeader.
func (l *Lease) Err() error {
	select {
	case <-l.done:
		return l.cause
	default:
		return nil
	}
}

// Release gives up the leadership; another instance may take it at its next poll.
func (l *Lease) Release() {
	l.end(fmt.Errorf("%w: released", ErrNotLeader))
	l.stopOnce.Do(func() { close(l.stopWatch) })
	l.watchWG.Wait()
}

// BackendPID is the server process holding the lock (pg_stat_activity.pid), 0 once ended.
func (l *Lease) BackendPID() uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return 0
	}
	return l.conn.PgConn().PID()
}

// Checkpoint returns the position the named projection has applied up to.
func (l *Lease) Checkpoint(ctx context.Context, name string) (eventstore.Position, error) {
	return l.store.Checkpoint(ctx, name)
}

// Apply is Store.Apply run on the lock connection, so it commits only while this instance
// leads. It refuses other projections' names, and fails with ErrNotLeader once the lease ended.
func (l *Lease) Apply(ctx context.Context, name string, from, to eventstore.Position, fn func(inbox.Tx) error) error {
	if name != l.name {
		return fmt.Errorf("pginbox: the lease of %s cannot apply %s", l.name, name)
	}
	l.mu.Lock()
	if l.conn == nil {
		l.mu.Unlock()
		return l.Err()
	}
	err := apply(ctx, l.conn, liveGen, false, name, from, to, fn)
	broken := l.conn.IsClosed()
	if err == nil {
		l.lastOK = time.Now()
	}
	l.mu.Unlock()
	if broken {
		l.end(fmt.Errorf("%w: lock connection closed: %w", ErrNotLeader, err))
		return l.Err()
	}
	return err
}

// RunLeading runs run while this instance leads the named projection, until ctx ends: it waits
// for the lease, calls run with a context that ends when the lease is lost, releases it, and
// waits to lead again. Errors from run and from the database are reported to onError (may be
// nil) and retried after a pause; they never end RunLeading.
func (s *Store) RunLeading(ctx context.Context, name string, run func(ctx context.Context, lease *Lease) error, onError func(error)) {
	select { // a database not reached yet has no schema to lead in
	case <-s.ready:
	case <-ctx.Done():
		return
	}
	for ctx.Err() == nil {
		lease, err := s.Lead(ctx, name)
		if err != nil {
			if ctx.Err() == nil {
				report(onError, err)
				pause(ctx, s.opts.LeadPoll)
			}
			continue
		}
		runCtx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-lease.Done():
			case <-runCtx.Done():
			}
			cancel()
		}()
		err = run(runCtx, lease)
		cancel()
		lease.Release()
		if err != nil && ctx.Err() == nil {
			report(onError, fmt.Errorf("pginbox: projecting %s: %w", name, err))
			pause(ctx, s.opts.LeadPoll)
		}
	}
}

func report(onError func(error), err error) {
	if onError != nil {
		onError(err)
	}
}

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}
