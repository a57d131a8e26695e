package auth

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Fetching a JWKS from its URL.
const (
	// DefaultJWKSRefresh is how old fetched keys may get before the next token refetches them.
	DefaultJWKSRefresh = 10 * time.Minute
	// DefaultJWKSMinRefetch is the shortest gap between two fetches, however many tokens with
	// unknown kids arrive: a stream of forged kids cannot make us hammer the issuer.
	DefaultJWKSMinRefetch = 30 * time.Second
	maxJWKSBytes          = 1 << 20
	fetchTimeout          = 10 * time.Second
)

// remoteKeys is a JWKS fetched from a URL, refetched when stale or when a token names an
// unknown kid. A failed refetch keeps the keys it had.
type remoteKeys struct {
	url         string
	name        string // url without any password, for errors
	client      *http.Client
	maxAge, gap time.Duration
	keys        atomic.Pointer[keySet]
	fetched     atomic.Int64 // unix nanoseconds of the last fetch attempt
	mu          sync.Mutex   // one fetch at a time
}

// checkJWKSURL accepts https, or http to a loopback host (a sidecar, or tests).
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("JWKS URL: %s", "cannot be parsed")
	}
	if u.Scheme == "https" {
		return nil
	}
	if ip := net.ParseIP(u.Hostname()); u.Scheme == "http" && (u.Hostname() == "localhost" || ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("JWKS URL %q: must be https (http only to a loopback host)", u.Redacted())
}

// RedactURL returns raw with any password replaced, fit for logs and errors.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

func newRemoteKeys(cfg JWTConfig) (*remoteKeys, error) {
	if err := checkJWKSURL(cfg.JWKSURL); err != nil {
		return nil, err
	}
	r := &remoteKeys{url: cfg.JWKSURL, name: RedactURL(cfg.JWKSURL), client: cfg.HTTPClient, maxAge: cfg.JWKSRefresh, gap: cfg.JWKSMinRefetch}
	if r.client == nil {
		r.client = &http.Client{Timeout: fetchTimeout}
	}
	if r.maxAge <= 0 {
		r.maxAge = DefaultJWKSRefresh
	}
	if r.gap <= 0 {
		r.gap = DefaultJWKSMinRefetch
	}
	if err := r.refresh(time.Now()); err != nil {
		return nil, err
	}
	return r, nil
}

// current returns the keys, refetching first when they are older than maxAge.
func (r *remoteKeys) current(now time.Time) keySet {
	if now.Sub(time.Unix(0, r.fetched.Load())) > r.maxAge {
		_ = r.refresh(now) // on failure keep serving the keys we have
	}
	return *r.keys.Load()
}

// refresh fetches the set unless another fetch happened within the minimum gap.
func (r *remoteKeys) refresh(now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if last := r.fetched.Load(); last != 0 && now.Sub(time.Unix(0, last)) < r.gap {
		return nil
	}
	r.fetched.Store(now.UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return fmt.Errorf("JWKS %s: %w", r.name, err)
	}
	res, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch JWKS: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch JWKS %s: status %d", r.name, res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSBytes+1))
	if err != nil {
		return fmt.Errorf("fetch JWKS %s: %w", r.name, err)
	}
	if len(body) > maxJWKSBytes {
		return fmt.Errorf("JWKS %s is over %d bytes", r.name, maxJWKSBytes)
	}
	ks, err := parseJWKS(body)
	if err != nil {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	r.keys.Store(&ks)
	return nil
}
