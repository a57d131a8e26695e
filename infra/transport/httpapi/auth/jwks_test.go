package auth_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/eventnotify/notify/infra/transport/httpapi/auth"
)

// jwk is one key of a test set.
type jwk map[string]string

func ecJWK(t *testing.T, kid string, pub *ecdsa.PublicKey) jwk {
	t.Helper()
	b, err := pub.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	n := (len(b) - 1) / 2
	k := jwk{"kty": "EC", "crv": pub.Curve.Params().Name, "x": b64(b[1 : 1+n]), "y": b64(b[1+n:])}
	if kid != "" {
		k["kid"] = kid
	}
	return k
}

func rsaJWK(kid string, pub *rsa.PublicKey) jwk {
	return jwk{"kty": "RSA", "kid": kid, "n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())}
}

func (k jwk) with(field, v string) jwk {
	c := jwk{field: v}
	for f, x := range k {
		if f != field {
			c[f] = x
		}
	}
	return c
}

func set(keys ...jwk) []byte {
	doc, _ := json.Marshal(map[string]any{"keys": keys})
	return doc
}

func newEC(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// weakRSA is one 1024-bit key for all tests (generating is slow).
var weakRSA = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		panic(err)
	}
	return k
})

func es256(t *testing.T, key *ecdsa.PrivateKey, kid string) http.Header {
	t.Helper()
	return bearer(sign(t, jwt.SigningMethodES256, key, kid, claims("alice", time.Minute)))
}

func mustVerify(t *testing.T, a *auth.Authenticator, h http.Header, what string) {
	t.Helper()
	if p, err := a.Authenticate(h); err != nil || p.Subject != "alice" {
		t.Fatalf("%s: %+v, %v; want verified as alice", what, p, err)
	}
}

func mustRefuse(t *testing.T, a *auth.Authenticator, h http.Header, what, why string) {
	t.Helper()
	if _, err := a.Authenticate(h); !errors.Is(err, auth.ErrInvalidCredentials) || !strings.Contains(err.Error(), why) {
		t.Fatalf("%s: %v; want ErrInvalidCredentials mentioning %q", what, err, why)
	}
}

// eventually polls cond until it holds, failing after a generous deadline: background
// refreshes are waited for this way, never with a fixed sleep.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not so after 20s: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// issuer serves a JWKS, or a failure, and counts the requests.
type issuer struct {
	mu     sync.Mutex
	doc    []byte
	status int // 0: serve doc
	hits   atomic.Int32
	srv    *httptest.Server
}

func newIssuer(t *testing.T, doc []byte) *issuer {
	is := &issuer{doc: doc}
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		is.hits.Add(1)
		is.mu.Lock()
		doc, status := is.doc, is.status
		is.mu.Unlock()
		if status != 0 {
			http.Error(w, "failing", status)
			return
		}
		w.Write(doc)
	}))
	t.Cleanup(is.srv.Close) // after t.Context() ends, which stops the refreshes
	return is
}

func (is *issuer) serve(doc []byte, status int) {
	is.mu.Lock()
	is.doc, is.status = doc, status
	is.mu.Unlock()
}

// logBuffer is a log destination safe to read while the refresh goroutine writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func urlConfig(u string, refresh, gap time.Duration) auth.Config {
	return auth.Config{JWT: auth.JWTConfig{JWKSURL: u, JWKSRefresh: refresh, JWKSMinRefetch: gap, Issuer: iss, Audience: aud}}
}

func TestJWKS_WhichKeysAreUsed(t *testing.T) {
	t.Parallel()
	k1, k2 := newEC(t), newEC(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	type token struct {
		h    http.Header
		want string // "" = verified
	}
	tests := []struct {
		name    string
		doc     []byte
		refused string // New refuses the set, saying this
		tokens  []token
	}{
		{"use enc is ignored", set(ecJWK(t, "e1", &k1.PublicKey).with("use", "enc"), ecJWK(t, "e2", &k2.PublicKey).with("use", "sig")), "",
			[]token{{es256(t, k1, "e1"), "cannot be verified"}, {es256(t, k2, "e2"), ""}, {es256(t, k2, ""), ""}}},
		{"an unknown use is ignored", set(ecJWK(t, "e1", &k1.PublicKey).with("use", "wrap"), ecJWK(t, "e2", &k2.PublicKey)), "",
			[]token{{es256(t, k1, "e1"), "cannot be verified"}, {es256(t, k2, "e2"), ""}}},
		{"a key for another alg is ignored", set(ecJWK(t, "e1", &k1.PublicKey).with("alg", "ES384"), ecJWK(t, "e2", &k2.PublicKey).with("alg", "ES256")), "",
			[]token{{es256(t, k1, "e1"), "cannot be verified"}, {es256(t, k2, "e2"), ""}}},
		{"a symmetric key is ignored", set(jwk{"kty": "oct", "kid": "h1", "k": b64(secret)}, ecJWK(t, "e1", &k1.PublicKey)), "",
			[]token{{bearer(sign(t, jwt.SigningMethodHS256, secret, "h1", claims("alice", time.Minute))), "signature"}, {es256(t, k1, "e1"), ""}}},
		{"no kid with two EC keys", set(ecJWK(t, "e1", &k1.PublicKey), ecJWK(t, "e2", &k2.PublicKey)), "",
			[]token{{es256(t, k1, ""), "cannot be verified"}, {es256(t, k1, "e1"), ""}}},
		{"no kid with one EC and one RSA key", set(rsaJWK("r1", &rsaKey.PublicKey), ecJWK(t, "", &k1.PublicKey)), "",
			[]token{{es256(t, k1, ""), ""}, {bearer(sign(t, jwt.SigningMethodRS256, rsaKey, "", claims("alice", time.Minute))), ""}}},
		{"only keys for encryption", set(ecJWK(t, "e1", &k1.PublicKey).with("use", "enc")), "no RS256 or ES256", nil},
		{"an RSA key under 2048 bits", set(rsaJWK("r1", &weakRSA().PublicKey), ecJWK(t, "e1", &k1.PublicKey)), "1024 bits", nil},
		{"an EC key off P-256", set(ecJWK(t, "p1", &p384.PublicKey), ecJWK(t, "e1", &k1.PublicKey)), "only P-256", nil},
		{"a point off the curve", set(ecJWK(t, "e1", &k1.PublicKey).with("y", b64(make([]byte, 32)))), "not on", nil},
		{"one kid for two keys", set(ecJWK(t, "e1", &k1.PublicKey), ecJWK(t, "e1", &k2.PublicKey)), "more than one", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			is := newIssuer(t, tt.doc)
			for _, via := range []struct {
				name string
				cfg  auth.Config
			}{
				{"file", auth.Config{JWT: auth.JWTConfig{JWKS: tt.doc, Issuer: iss, Audience: aud}}},
				{"URL", urlConfig(is.srv.URL, 0, 0)},
			} {
				a, err := auth.Start(t.Context(), via.cfg)
				if tt.refused != "" {
					if err == nil || !strings.Contains(err.Error(), tt.refused) {
						t.Fatalf("%s: Start = %v, want refused mentioning %q", via.name, err, tt.refused)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", via.name, err)
				}
				for i, tok := range tt.tokens {
					what := fmt.Sprintf("%s, token %d", via.name, i)
					if tok.want == "" {
						mustVerify(t, a, tok.h, what)
					} else {
						mustRefuse(t, a, tok.h, what, tok.want)
					}
				}
			}
		})
	}
}

func TestJWKSURL_RotationIsPickedUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		refresh, gap time.Duration
	}{
		// A token naming the new kid refetches (the gap is short), no background refresh.
		{"on an unknown kid", time.Hour, time.Millisecond},
		// Refetching on unknown kids is held off; the background refresh brings the new key.
		{"by the background refresh", 5 * time.Millisecond, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k1, k2 := newEC(t), newEC(t)
			is := newIssuer(t, set(ecJWK(t, "e1", &k1.PublicKey)))
			a, err := auth.Start(t.Context(), urlConfig(is.srv.URL, tt.refresh, tt.gap))
			if err != nil {
				t.Fatal(err)
			}
			mustVerify(t, a, es256(t, k1, "e1"), "a token of the fetched key")
			// The issuer rotates: e1 goes, e2 comes.
			is.serve(set(ecJWK(t, "e2", &k2.PublicKey)), 0)
			eventually(t, "a token of the rotated-in key verifies", func() bool {
				_, err := a.Authenticate(es256(t, k2, "e2"))
				return err == nil
			})
			mustRefuse(t, a, es256(t, k1, "e1"), "a token of the rotated-out key", "cannot be verified")
		})
	}
}

func TestJWKSURL_UnknownKidsAreRateLimited(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		concurrent bool
		gap        time.Duration
	}{
		{"one after another", false, 0}, // the default minimum gap, 30s
		{"all at once", true, 0},
		// jwkset's RefreshUnknownKID would wait up to 10s on its limiter for a token, then
		// fetch: a gap within that would hold a forged token until it can fetch.
		{"a gap jwkset would wait out", false, 9 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key := newEC(t)
			is := newIssuer(t, set(ecJWK(t, "e1", &key.PublicKey)))
			a, err := auth.Start(t.Context(), urlConfig(is.srv.URL, time.Hour, tt.gap))
			if err != nil {
				t.Fatal(err)
			}
			forged := make([]http.Header, 100)
			for i := range forged {
				forged[i] = es256(t, key, fmt.Sprintf("forged-%d", i))
			}
			var wg sync.WaitGroup
			for _, h := range forged {
				if !tt.concurrent {
					mustRefuse(t, a, h, "a forged kid", "cannot be verified")
					if n := is.hits.Load(); n != 1 {
						t.Fatalf("a forged kid caused a fetch within the minimum gap (%d fetches, want 1, the start)", n)
					}
					continue
				}
				wg.Go(func() {
					if _, err := a.Authenticate(h); !errors.Is(err, auth.ErrInvalidCredentials) {
						t.Errorf("a forged kid = %v, want refused", err)
					}
				})
			}
			wg.Wait()
			if n := is.hits.Load(); n != 1 {
				t.Fatalf("100 unknown kids caused %d fetches, want 1 (the start) within the minimum gap", n)
			}
			mustVerify(t, a, es256(t, key, "e1"), "a token of the known key")
		})
	}
	t.Run("after the gap, one refetch", func(t *testing.T) {
		t.Parallel()
		key := newEC(t)
		is := newIssuer(t, set(ecJWK(t, "e1", &key.PublicKey)))
		a, err := auth.Start(t.Context(), urlConfig(is.srv.URL, time.Hour, time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "an unknown kid refetches once the gap has passed", func() bool {
			mustRefuse(t, a, es256(t, key, "forged"), "a forged kid", "cannot be verified")
			return is.hits.Load() >= 2
		})
	})
}

func TestJWKSURL_StartFailsWithoutItsKeys(t *testing.T) {
	t.Parallel()
	key := newEC(t)
	good := set(ecJWK(t, "e1", &key.PublicKey))
	tests := []struct {
		name    string
		status  int
		doc     []byte
		handler http.HandlerFunc // instead of status and doc
		want    string
	}{
		{name: "unreachable", want: "connect"},
		{name: "an error status", status: http.StatusServiceUnavailable, want: "503"},
		{name: "not a JWKS", doc: []byte("<html>"), want: "decode"},
		{name: "an RSA key under 2048 bits", doc: set(rsaJWK("r1", &weakRSA().PublicKey)), want: "1024 bits"},
		{name: "no usable key", doc: set(ecJWK(t, "e1", &key.PublicKey).with("use", "enc")), want: "no RS256 or ES256"},
		{name: "over 1 MiB", doc: append(append(good[:len(good)-1:len(good)-1], []byte(`,"pad":"`+strings.Repeat("x", 1<<20)+`"`)...), '}'), want: "over"},
		// A redirect is held to the URL's rule (https, or http to loopback). The target reaches
		// nothing even were the rule gone: without it the error would name the scheme instead.
		{name: "redirected off https", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "ftp://127.0.0.1/jwks", http.StatusFound)
		}, want: "must be https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.handler
			if h == nil {
				h = func(w http.ResponseWriter, r *http.Request) {
					if tt.status != 0 {
						http.Error(w, "failing", tt.status)
						return
					}
					w.Write(tt.doc)
				}
			}
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			if tt.name == "unreachable" {
				srv.Close()
			}
			// A password in the URL must not reach the error.
			u := strings.Replace(srv.URL, "http://", "http://svc:hunter2@", 1)
			a, err := auth.Start(t.Context(), urlConfig(u, 0, 0))
			if err == nil {
				t.Fatalf("Start = %v, nil; want refused", a)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, auth.RedactURL(u)) || strings.Contains(msg, "hunter2") {
				t.Fatalf("Start = %q; want it to mention %q and the URL %s, without the password", msg, tt.want, auth.RedactURL(u))
			}
		})
	}
}

func TestJWKSURL_LaterFailuresKeepTheKeysAndAreReported(t *testing.T) {
	t.Parallel()
	failures := []struct {
		name   string
		status int
		doc    func(t *testing.T, key *ecdsa.PrivateKey) []byte
	}{
		{"an error status", http.StatusInternalServerError, nil},
		{"not a JWKS", 0, func(*testing.T, *ecdsa.PrivateKey) []byte { return []byte("{") }},
		{"no usable key", 0, func(t *testing.T, key *ecdsa.PrivateKey) []byte {
			return set(ecJWK(t, "e1", &key.PublicKey).with("use", "enc"))
		}},
		// The weak key comes with the old one, which must go on working, and the weak one not.
		{"an RSA key under 2048 bits", 0, func(t *testing.T, key *ecdsa.PrivateKey) []byte {
			return set(ecJWK(t, "e1", &key.PublicKey), rsaJWK("weak", &weakRSA().PublicKey))
		}},
	}
	triggers := []struct {
		name         string
		refresh, gap time.Duration
		poke         func(t *testing.T, a *auth.Authenticator) // makes a refetch happen
	}{
		{"background refresh", 5 * time.Millisecond, time.Hour, func(*testing.T, *auth.Authenticator) {}},
		{"unknown kid", time.Hour, time.Millisecond, func(t *testing.T, a *auth.Authenticator) {
			a.Authenticate(bearer(sign(t, jwt.SigningMethodRS256, weakRSA(), "weak", claims("alice", time.Minute))))
		}},
	}
	for _, f := range failures {
		for _, tr := range triggers {
			t.Run(f.name+", "+tr.name, func(t *testing.T) {
				t.Parallel()
				key := newEC(t)
				is := newIssuer(t, set(ecJWK(t, "e1", &key.PublicKey)))
				var logs logBuffer
				var reported atomic.Int32
				cfg := urlConfig(is.srv.URL, tr.refresh, tr.gap)
				cfg.JWT.Logger = slog.New(slog.NewTextHandler(&logs, nil))
				cfg.JWT.OnRefreshError = func(error) { reported.Add(1) }
				a, err := auth.Start(t.Context(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				if n := reported.Load(); n != 0 {
					t.Fatalf("%d errors reported before any failure", n)
				}
				var doc []byte
				if f.doc != nil {
					doc = f.doc(t, key)
				}
				is.serve(doc, f.status)
				eventually(t, "the failed refresh is reported to OnRefreshError", func() bool {
					tr.poke(t, a)
					return reported.Load() > 0
				})
				if out := logs.String(); !strings.Contains(out, "JWKS refresh failed") || !strings.Contains(out, is.srv.URL) {
					t.Fatalf("the log = %q; want the failed refresh with the URL", out)
				}
				mustVerify(t, a, es256(t, key, "e1"), "with the refresh failing, a token of the key fetched before")
				weak := bearer(sign(t, jwt.SigningMethodRS256, weakRSA(), "weak", claims("alice", time.Minute)))
				mustRefuse(t, a, weak, "a token of the weak key", "cannot be verified")
			})
		}
	}
}

// Not parallel: it counts the refresh goroutines of the whole test binary, and parallel tests
// wait until the sequential ones are done.
func TestStart_ContextEndStopsTheRefresh(t *testing.T) {
	refreshers := func() int {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		return strings.Count(string(buf), "created by github.com/MicahParks/jwkset.NewStorageFromHTTP")
	}
	key := newEC(t)
	is := newIssuer(t, set(ecJWK(t, "e1", &key.PublicKey)))
	ctx, cancel := context.WithCancel(t.Context())
	a, err := auth.Start(ctx, urlConfig(is.srv.URL, time.Millisecond, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the set is refreshed in the background", func() bool { return is.hits.Load() >= 3 })
	if n := refreshers(); n != 1 {
		t.Fatalf("%d refresh goroutines, want 1", n)
	}
	cancel()
	eventually(t, "the refresh goroutine ends with the context", func() bool { return refreshers() == 0 })
	mustVerify(t, a, es256(t, key, "e1"), "after the context ended, a token of the key last fetched")

	// A Start that fails leaves no refresh running.
	is.serve(nil, http.StatusServiceUnavailable)
	if _, err := auth.Start(t.Context(), urlConfig(is.srv.URL, time.Millisecond, 0)); err == nil {
		t.Fatal("Start with the issuer failing succeeded")
	}
	eventually(t, "a failed Start's refresh goroutine ends", func() bool { return refreshers() == 0 })
}
