package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/eventnotify/notify/infra/transport/httpapi/auth"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

const (
	iss = "https://id.example.com"
	aud = "notify"
)

func sign(t *testing.T, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims(sub string, exp time.Duration) jwt.MapClaims {
	return jwt.MapClaims{"sub": sub, "iss": iss, "aud": aud, "exp": time.Now().Add(exp).Unix()}
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jwks(t *testing.T, rsaPub *rsa.PublicKey, ecPub *ecdsa.PublicKey) []byte {
	t.Helper()
	ecBytes, err := ecPub.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "r1", "use": "sig", "n": b64(rsaPub.N.Bytes()), "e": b64(big.NewInt(int64(rsaPub.E)).Bytes())},
		{"kty": "EC", "kid": "e1", "crv": "P-256", "x": b64(ecBytes[1:33]), "y": b64(ecBytes[33:])},
	}})
	return doc
}

func TestAPIKeys_HashedScopedAndConstantTime(t *testing.T) {
	t.Parallel()
	keys, err := auth.ParseAPIKeys(auth.HashKey("svc-secret") + ":send, " + strings.ToUpper(auth.HashKey("ops-secret")) + ":send+admin\n# comment\n")
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{APIKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Authenticate(http.Header{auth.HeaderAPIKey: {"svc-secret"}})
	if err != nil || p.Kind != auth.Service || !p.Has(auth.ScopeSend) || p.Has(auth.ScopeAdmin) {
		t.Fatalf("send key = %+v, %v", p, err)
	}
	if strings.Contains(p.Subject, "svc-secret") || !strings.HasPrefix(p.Subject, "key:") {
		t.Fatalf("the subject %q must name the key without revealing it", p.Subject)
	}
	if p, err := a.Authenticate(http.Header{auth.HeaderAPIKey: {"ops-secret"}}); err != nil || !p.Has(auth.ScopeAdmin) {
		t.Fatalf("admin key = %+v, %v", p, err)
	}
	if _, err := a.Authenticate(http.Header{auth.HeaderAPIKey: {"svc-secreT"}}); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("a wrong key = %v, want ErrInvalidCredentials", err)
	}
	if _, err := a.Authenticate(http.Header{auth.HeaderAPIKey: {auth.HashKey("svc-secret")}}); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("presenting the stored hash as the key = %v, want ErrInvalidCredentials", err)
	}
	if p, err := a.Authenticate(http.Header{}); err != nil || p.Kind != auth.Anonymous {
		t.Fatalf("no credentials = %+v, %v, want Anonymous", p, err)
	}
	if _, err := a.Authenticate(bearer("x.y.z")); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("a bearer token with no token verification configured = %v", err)
	}
	// Presented credentials are always checked: a valid key does not carry a token past.
	both := bearer("not-a-token")
	both.Set(auth.HeaderAPIKey, "ops-secret")
	if _, err := a.Authenticate(both); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("a valid key with an invalid bearer token = %v, want ErrInvalidCredentials", err)
	}
	for _, bad := range []string{"svc-secret:send", auth.HashKey("k"), auth.HashKey("k") + ":root", auth.HashKey("k") + ":"} {
		if _, err := auth.ParseAPIKeys(bad); err == nil {
			t.Errorf("ParseAPIKeys(%q) accepted a bad entry", bad)
		} else if strings.Contains(err.Error(), "svc-secret") {
			t.Errorf("the error %q echoes the entry", err)
		}
	}
}

func TestJWT_VerifiesSignatureTimesIssuerAudience(t *testing.T) {
	t.Parallel()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	a, err := auth.New(auth.Config{JWT: auth.JWTConfig{Secret: secret, JWKS: jwks(t, &rsaKey.PublicKey, &ecKey.PublicKey), Issuer: iss, Audience: aud, Leeway: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	with := func(k string, v any) jwt.MapClaims { c := claims("alice", time.Minute); c[k] = v; return c }
	noExp := claims("alice", time.Minute)
	delete(noExp, "exp")
	tests := []struct {
		name, token string
		want        string // "" = accepted as alice
	}{
		{"HS256", sign(t, jwt.SigningMethodHS256, secret, "", claims("alice", time.Minute)), ""},
		{"RS256 by kid", sign(t, jwt.SigningMethodRS256, rsaKey, "r1", claims("alice", time.Minute)), ""},
		{"ES256 without kid, one EC key", sign(t, jwt.SigningMethodES256, ecKey, "", claims("alice", time.Minute)), ""},
		{"expired", sign(t, jwt.SigningMethodHS256, secret, "", claims("alice", -time.Minute)), "expired"},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, secret, "", with("nbf", time.Now().Add(time.Hour).Unix())), "not valid yet"},
		{"no exp", sign(t, jwt.SigningMethodHS256, secret, "", noExp), "required claim"},
		{"wrong audience", sign(t, jwt.SigningMethodHS256, secret, "", with("aud", "other")), "audience"},
		{"wrong issuer", sign(t, jwt.SigningMethodHS256, secret, "", with("iss", "https://evil")), "issuer"},
		{"no subject", sign(t, jwt.SigningMethodHS256, secret, "", with("sub", "")), "subject"},
		{"HS256 with another secret", sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), "", claims("alice", time.Minute)), "signature"},
		{"ES256 by an unknown key", sign(t, jwt.SigningMethodES256, otherEC, "e1", claims("alice", time.Minute)), "signature"},
		{"unknown kid", sign(t, jwt.SigningMethodRS256, rsaKey, "nope", claims("alice", time.Minute)), "cannot be verified"},
		{"ES256 naming the RSA key's kid", sign(t, jwt.SigningMethodES256, ecKey, "r1", claims("alice", time.Minute)), "cannot be verified"},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", claims("alice", time.Minute)), "signature"},
		{"HS384 not configured", sign(t, jwt.SigningMethodHS384, secret, "", claims("alice", time.Minute)), "signature"},
		{"garbage", "not-a-token", "malformed"},
	}
	// Algorithm confusion: an HS256 token whose HMAC key is the RSA public key's bytes.
	conf := sign(t, jwt.SigningMethodHS256, rsaKey.PublicKey.N.Bytes(), "r1", claims("alice", time.Minute))
	tests = append(tests, struct{ name, token, want string }{"HS256 keyed with the RSA public key", conf, "signature"})
	// A kid must be a string (RFC 7515 §4.1.4); another type is not read as "no kid".
	numKid := jwt.NewWithClaims(jwt.SigningMethodES256, claims("alice", time.Minute))
	numKid.Header["kid"] = 7
	numKidTok, err := numKid.SignedString(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	tests = append(tests, struct{ name, token, want string }{"kid not a string", numKidTok, "cannot be verified"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := a.Authenticate(bearer(tt.token))
			if tt.want == "" {
				if err != nil || p.Kind != auth.Recipient || p.Subject != "alice" {
					t.Fatalf("= %+v, %v; want recipient alice", p, err)
				}
				return
			}
			if !errors.Is(err, auth.ErrInvalidCredentials) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("= %+v, %v; want ErrInvalidCredentials mentioning %q", p, err, tt.want)
			}
		})
	}
}

func TestNew_RefusesWeakOrIncompleteConfiguration(t *testing.T) {
	t.Parallel()
	rsaSmall, _ := rsa.GenerateKey(rand.Reader, 1024)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	for name, cfg := range map[string]auth.JWTConfig{
		"short secret":            {Secret: []byte("short"), Issuer: iss, Audience: aud},
		"no issuer":               {Secret: secret, Audience: aud},
		"no audience":             {Secret: secret, Issuer: iss},
		"small RSA key":           {JWKS: jwks(t, &rsaSmall.PublicKey, &ecKey.PublicKey), Issuer: iss, Audience: aud},
		"empty JWKS":              {JWKS: []byte(`{"keys":[]}`), Issuer: iss, Audience: aud},
		"broken JWKS":             {JWKS: []byte(`{`), Issuer: iss, Audience: aud},
		"JWKS URL, no audience":   {JWKSURL: srv.URL, Issuer: iss},
		"JWKS URL to remote http": {JWKSURL: "http://id.example.com/jwks", Issuer: iss, Audience: aud},
	} {
		if _, err := auth.New(auth.Config{JWT: cfg}); err == nil {
			t.Errorf("%s: New accepted", name)
		}
		if err := auth.Validate(auth.Config{JWT: cfg}); err == nil {
			t.Errorf("%s: Validate accepted", name)
		}
		if _, err := auth.Start(t.Context(), auth.Config{JWT: cfg}); err == nil {
			t.Errorf("%s: Start accepted", name)
		}
	}
	// Validate checks a URL without fetching it (it runs while the configuration is read);
	// New, which fetches nothing, refuses it rather than build an Authenticator without its keys.
	withURL := auth.Config{JWT: auth.JWTConfig{JWKSURL: srv.URL, Issuer: iss, Audience: aud}}
	if err := auth.Validate(withURL); err != nil {
		t.Fatalf("Validate of a JWKS URL = %v", err)
	}
	if _, err := auth.New(withURL); err == nil || !strings.Contains(err.Error(), "auth.Start") {
		t.Fatalf("New with a JWKS URL = %v, want refused naming auth.Start", err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("Validate and New fetched the JWKS %d times, want 0", n)
	}
	a, err := auth.New(auth.Config{})
	if err != nil || a.Enabled() {
		t.Fatalf("empty config = %v enabled=%v, want disabled", err, a.Enabled())
	}
	if p, err := a.Authenticate(http.Header{auth.HeaderAPIKey: {"anything"}}); err != nil || p.Kind != auth.Anonymous {
		t.Fatalf("disabled authenticator = %+v %v, want Anonymous", p, err)
	}
}
