package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// Fetching a JWKS from its URL.
const (
	// DefaultJWKSRefresh is how often a fetched set is fetched again in the background.
	DefaultJWKSRefresh = 10 * time.Minute
	// DefaultJWKSMinRefetch is the shortest gap between two fetches caused by tokens naming
	// unknown kids, however many arrive: a stream of forged kids cannot make us hammer the
	// issuer. The fetch at start counts; the background refreshes do not.
	DefaultJWKSMinRefetch = 30 * time.Second
	maxJWKSBytes          = 1 << 20
	fetchTimeout          = 10 * time.Second
)

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

// remote is the set fetched from JWKSURL: jwkset fetches it into a keyStore at start and every
// JWKSRefresh in a goroutine that ends with Start's context, and refetches it for a token
// naming an unknown kid (its RefreshUnknownKID), which refetch rations.
type remote struct {
	// fetching reads through jwkset's client with RefreshUnknownKID: a kid it lacks makes it
	// wait on limit (up to its RateLimitWaitMax, fetchTimeout), then fetch on the caller's
	// goroutine. refetch calls it only when limit has a token, so it never waits there.
	fetching keyfunc.Keyfunc
	limit    *rate.Limiter
	flight   singleflight.Group
}

// fetch starts the fetched set: it is fetched once before fetch returns (a failure is the
// error, and stops the background refresh it would have run), then kept fresh until ctx ends.
func (k *tokenKeys) fetch(ctx context.Context, cfg JWTConfig) (err error) {
	name := RedactURL(cfg.JWKSURL)
	refresh, gap := cfg.JWKSRefresh, cfg.JWKSMinRefetch
	if refresh <= 0 {
		refresh = DefaultJWKSRefresh
	}
	if gap <= 0 {
		gap = DefaultJWKSMinRefetch
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	report := func(ctx context.Context, err error) {
		logger.WarnContext(ctx, "JWKS refresh failed; tokens are verified with the keys fetched before", "url", name, "err", err)
		if cfg.OnRefreshError != nil {
			cfg.OnRefreshError(err)
		}
	}

	// jwkset starts its refresh goroutine before the first fetch: a failure here stops it.
	ctx, stop := context.WithCancel(ctx)
	defer func() {
		if err != nil {
			stop()
		}
	}()
	store := newKeyStore()
	fetched, err := jwkset.NewStorageFromHTTP(cfg.JWKSURL, jwkset.HTTPClientStorageOptions{
		Client:              jwksClient(cfg.HTTPClient),
		Ctx:                 ctx,
		HTTPTimeout:         fetchTimeout,
		RefreshErrorHandler: report,
		RefreshInterval:     refresh,
		Storage:             store,
		ValidateOptions:     jwkValidation,
	})
	if err != nil {
		return fmt.Errorf("fetch JWKS %s at start: %w", name, err)
	}

	// The fetch at start took the limiter's one token: the first refetch comes a gap after it.
	limit := rate.NewLimiter(rate.Every(gap), 1)
	limit.Allow()
	given := k.file
	if given == nil {
		given = jwkset.NewMemoryStorage()
	}
	cached, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{Given: given, HTTPURLs: map[string]jwkset.Storage{name: store}})
	if err == nil {
		k.cached, err = newKeyfunc(ctx, cached)
	}
	var refreshing jwkset.Storage
	if err == nil {
		refreshing, err = jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
			Given:             given,
			HTTPURLs:          map[string]jwkset.Storage{name: fetched},
			RateLimitWaitMax:  fetchTimeout,
			RefreshUnknownKID: limit,
		})
	}
	r := &remote{limit: limit}
	if err == nil {
		r.fetching, err = newKeyfunc(ctx, refreshing)
	}
	if err != nil {
		return fmt.Errorf("JWKS %s: %w", name, err)
	}
	k.remote = r
	return nil
}

// refetch is what a token naming a kid the sets lack costs: at most one fetch per
// JWKSMinRefetch, one at a time. The token that finds the limiter's token waits for that
// fetch (bounded by fetchTimeout), and so do those arriving while it runs; every other one
// returns at once, fetching nothing. A failed fetch is reported by jwkset to the
// RefreshErrorHandler.
func (r *remote) refetch(t *jwt.Token) {
	_, _, _ = r.flight.Do("", func() (any, error) {
		if r.limit.Tokens() < 1 {
			return nil, nil
		}
		_, _ = r.fetching.Keyfunc(t) // the caller reads the refreshed set itself
		return nil, nil
	})
}

// jwksClient is the client that fetches the set: cfg's (or one with fetchTimeout), reading at
// most maxJWKSBytes of a response and following only redirects that checkJWKSURL accepts.
func jwksClient(c *http.Client) *http.Client {
	cl := http.Client{Timeout: fetchTimeout}
	if c != nil {
		cl = *c
	}
	base := cl.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cl.Transport = cappedTransport{base}
	next := cl.CheckRedirect
	cl.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := checkJWKSURL(req.URL.String()); err != nil {
			return fmt.Errorf("redirected: %w", err)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cl
}

type cappedTransport struct{ base http.RoundTripper }

func (t cappedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(req)
	if err == nil {
		res.Body = &cappedBody{ReadCloser: res.Body, left: maxJWKSBytes}
	}
	return res, err
}

// cappedBody fails a read past maxJWKSBytes, where io.LimitReader would end the body quietly.
type cappedBody struct {
	io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, fmt.Errorf("the JWKS is over %d bytes", maxJWKSBytes)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
