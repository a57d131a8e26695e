// Package auth authenticates callers of the HTTP API: trusted services by API key (kept as
// SHA-256 hashes, compared in constant time, each with scopes) and end users by a signed JWT
// whose subject is their recipient id. It decides who the caller is, not what they may do:
// infra/transport/httpapi holds the per-route policy. It imports no package of ours.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Scope is a permission an API key carries.
type Scope string

// The scopes of API keys.
const (
	// ScopeSend lets a service send notifications and change any of them.
	ScopeSend Scope = "send"
	// ScopeAdmin lets an operator read any inbox and run administrative routes.
	ScopeAdmin Scope = "admin"
)

// Kind tells what sort of caller a Principal is.
type Kind int

// The kinds of caller.
const (
	// Anonymous presented no credentials.
	Anonymous Kind = iota
	// Service presented a valid API key.
	Service
	// Recipient presented a valid end-user token.
	Recipient
)

// Principal is an authenticated caller.
type Principal struct {
	Kind Kind
	// Subject is the recipient id of a Recipient, or "key:" and the first 12 hex digits of
	// the key's hash for a Service (safe to log; it identifies the key, not its secret).
	Subject string
	Scopes  []Scope
}

// Has reports whether the principal carries scope.
func (p Principal) Has(s Scope) bool {
	for _, have := range p.Scopes {
		if have == s {
			return true
		}
	}
	return false
}

// ErrInvalidCredentials means credentials were presented and rejected: an unknown API key, or
// a token that is malformed, badly signed, expired, not yet valid, or for another issuer or
// audience. The wrapped text says which, never echoing the credential.
var ErrInvalidCredentials = errors.New("invalid credentials")

// HeaderAPIKey carries a service's API key.
const HeaderAPIKey = "X-Api-Key"

// APIKey is one configured key: the SHA-256 of the secret and its scopes.
type APIKey struct {
	Hash   [sha256.Size]byte
	Scopes []Scope
}

// ParseAPIKeys reads entries "sha256hex:scope1+scope2" separated by commas or newlines;
// blank lines and lines starting with # are skipped. The hash is printf %s "$KEY" | sha256sum.
func ParseAPIKeys(spec string) ([]APIKey, error) {
	var keys []APIKey
	for _, line := range strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == '\n' }) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		hashHex, scopes, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("API key entry %d: want sha256hex:scope[+scope], e.g. …:send+admin", len(keys)+1)
		}
		var k APIKey
		if b, err := hex.DecodeString(strings.ToLower(hashHex)); err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("API key entry %d: the hash must be 64 hex digits (printf %%s \"$KEY\" | sha256sum), not the key itself", len(keys)+1)
		} else {
			copy(k.Hash[:], b)
		}
		for _, s := range strings.Split(scopes, "+") {
			switch sc := Scope(strings.TrimSpace(s)); sc {
			case ScopeSend, ScopeAdmin:
				k.Scopes = append(k.Scopes, sc)
			default:
				return nil, fmt.Errorf("API key entry %d: unknown scope %q (want send or admin)", len(keys)+1, s)
			}
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// HashKey returns the hex SHA-256 of an API key, the form the configuration holds.
func HashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// JWTConfig verifies end-user tokens. Either Secret (HS256) or JWKS / JWKSURL (RS256/ES256
// public keys) or both; Issuer and Audience are required whenever tokens are accepted.
//
// A key set, from a file or fetched, is parsed by github.com/MicahParks/jwkset and taken only
// whole: keys not meant for signatures ("use" other than sig), of other types, or whose "alg"
// is neither RS256 nor ES256 are skipped; an RSA key under 2048 bits, an EC key off P-256, a
// kid naming two keys, or a set left with no key refuses the set.
type JWTConfig struct {
	Secret []byte
	// JWKS is a JSON Web Key Set document (a file's contents).
	JWKS []byte
	// JWKSURL is where Start fetches a JWKS (https, or http to a loopback host; redirects are
	// held to the same rule). It is fetched before Start returns, and a failure fails Start;
	// then again every JWKSRefresh in the background until Start's context ends; and when a
	// token names a kid the keys lack, at most once per JWKSMinRefetch (the fetch at start
	// counts, the background ones do not) and one fetch at a time: the token that finds a
	// refetch due, and those arriving while it runs, wait for that fetch (at most 10s); any
	// other such token is refused at once, fetching nothing. A failed or refused refetch
	// keeps the keys fetched before and is reported to Logger and OnRefreshError. Zero
	// durations take the defaults. New refuses a JWKSURL; Validate checks it, fetching nothing.
	JWKSURL        string
	JWKSRefresh    time.Duration
	JWKSMinRefetch time.Duration
	// HTTPClient fetches JWKSURL; nil means a client with a 10s timeout. Either way a response
	// over 1 MiB is refused.
	HTTPClient *http.Client
	// Logger receives each failed refetch of JWKSURL, with the URL (password redacted); nil
	// means slog.Default().
	Logger *slog.Logger
	// OnRefreshError, if set, is also called with each failed refetch (to count them). It may
	// be called from several goroutines at once and must not block.
	OnRefreshError func(error)
	Issuer         string
	Audience       string
	// Leeway tolerates clock skew on exp and nbf.
	Leeway time.Duration
}

// MinSecretBytes is the shortest accepted HS256 secret (RFC 7518 §3.2: at least the hash size).
const MinSecretBytes = 32

// Config is everything the Authenticator checks against.
type Config struct {
	APIKeys []APIKey
	JWT     JWTConfig
}

// Authenticator turns request headers into a Principal.
type Authenticator struct {
	keys    []APIKey
	secret  []byte
	jwks    *tokenKeys // nil: no RS256/ES256 keys configured
	parser  *jwt.Parser
	jwtOn   bool
	anyAuth bool
}

// Validate checks cfg as Start does, the JWKS file's keys included, without any network: a
// JWKSURL is checked but not fetched.
func Validate(cfg Config) error {
	_, err := build(cfg)
	return err
}

// New checks the configuration and builds the Authenticator, fetching nothing: a JWKSURL
// is refused (use Start). With no keys and no token verification configured, it is
// disabled: every caller is Anonymous.
func New(cfg Config) (*Authenticator, error) {
	if cfg.JWT.JWKSURL != "" {
		return nil, errors.New("a JWKS URL is fetched and kept fresh by auth.Start, not auth.New")
	}
	return build(cfg)
}

// Start is New for any configuration: with a JWKSURL it fetches the set before it returns
// (failing if that fails) and keeps it fresh in the background until ctx ends; after that the
// Authenticator keeps verifying with the keys it last fetched.
func Start(ctx context.Context, cfg Config) (*Authenticator, error) {
	a, err := build(cfg)
	if err != nil || cfg.JWT.JWKSURL == "" {
		return a, err
	}
	if err := a.jwks.fetch(ctx, cfg.JWT); err != nil {
		return nil, err
	}
	return a, nil
}

// build is the configuration's checks and the Authenticator they leave, with any JWKSURL
// checked and not fetched yet.
func build(cfg Config) (*Authenticator, error) {
	a := &Authenticator{keys: cfg.APIKeys, secret: cfg.JWT.Secret}
	var methods []string
	if len(cfg.JWT.Secret) > 0 {
		if len(cfg.JWT.Secret) < MinSecretBytes {
			return nil, fmt.Errorf("the HS256 secret has %d bytes; use at least %d random bytes", len(cfg.JWT.Secret), MinSecretBytes)
		}
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	if len(cfg.JWT.JWKS) > 0 || cfg.JWT.JWKSURL != "" {
		a.jwks = &tokenKeys{ctx: context.Background()}
		methods = append(methods, jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg())
	}
	if len(cfg.JWT.JWKS) > 0 {
		file, err := parseJWKS(cfg.JWT.JWKS)
		if err != nil {
			return nil, err
		}
		a.jwks.file = file
		if a.jwks.cached, err = newKeyfunc(context.Background(), file); err != nil {
			return nil, err
		}
	}
	if cfg.JWT.JWKSURL != "" {
		if err := checkJWKSURL(cfg.JWT.JWKSURL); err != nil {
			return nil, err
		}
	}
	if len(methods) > 0 {
		if cfg.JWT.Issuer == "" || cfg.JWT.Audience == "" {
			return nil, errors.New("token verification needs both an issuer and an audience")
		}
		a.jwtOn = true
		a.parser = jwt.NewParser(
			jwt.WithValidMethods(methods),
			jwt.WithIssuer(cfg.JWT.Issuer),
			jwt.WithAudience(cfg.JWT.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(cfg.JWT.Leeway),
		)
	}
	a.anyAuth = a.jwtOn || len(a.keys) > 0
	return a, nil
}

// Enabled reports whether any authentication is configured.
func (a *Authenticator) Enabled() bool { return a != nil && a.anyAuth }

// Authenticate identifies the caller from the X-Api-Key header (a service) or an
// Authorization: Bearer token (an end user). No credentials is Anonymous with no error;
// credentials that do not verify are ErrInvalidCredentials. A disabled Authenticator ignores
// credentials.
func (a *Authenticator) Authenticate(h http.Header) (Principal, error) {
	if !a.Enabled() {
		return Principal{Kind: Anonymous}, nil
	}
	key, authz := h.Get(HeaderAPIKey), h.Get("Authorization")
	if key != "" && authz != "" {
		// Presented credentials are always checked: a valid key must not carry a bad token
		// past (or a valid token a guessed key), and a caller is one principal.
		return Principal{}, fmt.Errorf("%w: send an API key or a bearer token, not both", ErrInvalidCredentials)
	}
	if key != "" {
		return a.apiKey(key)
	}
	if authz == "" {
		return Principal{Kind: Anonymous}, nil
	}
	scheme, token, _ := strings.Cut(authz, " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return Principal{}, fmt.Errorf("%w: the Authorization header must be \"Bearer <token>\"", ErrInvalidCredentials)
	}
	return a.token(strings.TrimSpace(token))
}

// AuthenticateToken identifies an end user from a bearer token passed outside the headers
// (the live stream's access_token, RFC 6750 §2.3, which a browser's EventSource needs); a
// disabled Authenticator ignores it.
func (a *Authenticator) AuthenticateToken(raw string) (Principal, error) {
	if !a.Enabled() {
		return Principal{Kind: Anonymous}, nil
	}
	return a.token(strings.TrimSpace(raw))
}

func (a *Authenticator) apiKey(key string) (Principal, error) {
	sum := sha256.Sum256([]byte(key))
	found := -1
	for i := range a.keys { // no early exit: every request costs the same whatever matches
		if subtle.ConstantTimeCompare(sum[:], a.keys[i].Hash[:]) == 1 && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return Principal{}, fmt.Errorf("%w: unknown API key", ErrInvalidCredentials)
	}
	return Principal{Kind: Service, Subject: "key:" + hex.EncodeToString(sum[:6]), Scopes: a.keys[found].Scopes}, nil
}

func (a *Authenticator) token(raw string) (Principal, error) {
	if !a.jwtOn {
		return Principal{}, fmt.Errorf("%w: bearer tokens are not accepted here (no token verification is configured)", ErrInvalidCredentials)
	}
	var claims jwt.RegisteredClaims
	if _, err := a.parser.ParseWithClaims(raw, &claims, a.verificationKey); err != nil {
		return Principal{}, fmt.Errorf("%w: %s", ErrInvalidCredentials, reason(err))
	}
	if claims.Subject == "" {
		return Principal{}, fmt.Errorf("%w: the token has no subject", ErrInvalidCredentials)
	}
	return Principal{Kind: Recipient, Subject: claims.Subject}, nil
}

// verificationKey picks the key for the token's algorithm; the parser has already refused
// algorithms not configured, and each signing method refuses a key of the wrong type, so an
// RS256 token can never be checked against the HMAC secret.
func (a *Authenticator) verificationKey(t *jwt.Token) (any, error) {
	switch t.Method.Alg() {
	case jwt.SigningMethodHS256.Alg():
		if len(a.secret) == 0 {
			return nil, errors.New("HS256 is not accepted")
		}
		return a.secret, nil
	case jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg():
		if a.jwks == nil {
			return nil, fmt.Errorf("%s is not accepted", t.Method.Alg())
		}
		return a.jwks.find(t)
	}
	return nil, fmt.Errorf("algorithm %s is not accepted", t.Method.Alg())
}

// reason says why a token failed, in words fit for the caller.
func reason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "the token is not valid yet"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "the token lacks a required claim (exp)"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "the token is for another audience"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "the token is from another issuer"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "the token's signature does not verify"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "the token cannot be verified (unknown key or algorithm)"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the token is malformed"
	}
	return "the token is not valid"
}
