package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// JWK Sets are parsed by github.com/MicahParks/jwkset and tokens' keys looked up through
// github.com/MicahParks/keyfunc/v3; what this file adds is which keys we trust.

// minRSABits refuses keys too short to trust.
const minRSABits = 2048

// jwkValidation is how jwkset checks each key of a set, from a file or fetched. An unknown
// "use" is not an error there: usableKeys skips any key not meant for signatures.
var jwkValidation = jwkset.JWKValidateOptions{SkipUse: true}

// useSig is the keyfunc whitelist: keys for signatures, or of no stated use.
var useSig = []jwkset.USE{jwkset.UseSig, ""}

// keyStore is where a set lands, a file's or each fetch: a jwkset.Storage whose KeyReplaceAll
// (which jwkset calls with every set it fetches) takes the set only if usableKeys accepts it
// whole, and otherwise keeps the keys it had and returns the error, so that jwkset reports a
// failed refresh.
type keyStore struct{ *jwkset.MemoryJWKSet }

func newKeyStore() keyStore { return keyStore{jwkset.NewMemoryStorage()} }

func (s keyStore) KeyReplaceAll(ctx context.Context, given []jwkset.JWK) error {
	keys, err := usableKeys(given)
	if err != nil {
		return err
	}
	return s.MemoryJWKSet.KeyReplaceAll(ctx, keys)
}

// KeyWrite refuses: keys come in only as a whole set, through the checks of KeyReplaceAll.
func (s keyStore) KeyWrite(context.Context, jwkset.JWK) error {
	return errors.New("JWKS: keys are replaced as a whole set, not written one by one")
}

// usableKeys keeps the keys of a set that verify RS256 or ES256 tokens. Keys meant for
// anything but signatures ("use" other than sig, e.g. enc), of other types (oct, OKP), or whose
// "alg" names another algorithm are skipped. An RSA key under 2048 bits, an EC key off P-256,
// a kid naming two keys, or a set left with no key refuses the whole set.
func usableKeys(set []jwkset.JWK) ([]jwkset.JWK, error) {
	var keep []jwkset.JWK
	kids := make(map[string]bool)
	for _, k := range set {
		m := k.Marshal()
		if m.USE != "" && m.USE != jwkset.UseSig {
			continue
		}
		alg, err := keyAlg(k.Key())
		if err != nil {
			return nil, fmt.Errorf("JWKS key (kid %q): %w", m.KID, err)
		}
		if alg == "" || m.ALG != "" && m.ALG.String() != alg {
			continue
		}
		if m.KID != "" {
			if kids[m.KID] {
				return nil, fmt.Errorf("JWKS: kid %q names more than one signing key", m.KID)
			}
			kids[m.KID] = true
		}
		keep = append(keep, k)
	}
	if len(keep) == 0 {
		return nil, errors.New("JWKS: no RS256 or ES256 (P-256) signing key in the set")
	}
	return keep, nil
}

// keyAlg is the algorithm a key verifies, RS256 or ES256, "" for a type we do not use, or an
// error for an RSA or EC key we refuse.
func keyAlg(key any) (string, error) {
	switch pub := public(key).(type) {
	case *rsa.PublicKey:
		if bits := pub.N.BitLen(); bits < minRSABits {
			return "", fmt.Errorf("RSA key of %d bits; at least %d are required", bits, minRSABits)
		}
		if pub.E < 3 || pub.E > 1<<31-1 {
			return "", errors.New("RSA exponent e is out of range")
		}
		return jwt.SigningMethodRS256.Alg(), nil
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return "", fmt.Errorf("curve %s: only P-256 (ES256) is supported", pub.Curve.Params().Name)
		}
		if _, err := pub.ECDH(); err != nil {
			return "", fmt.Errorf("not a point on P-256: %w", err)
		}
		return jwt.SigningMethodES256.Alg(), nil
	}
	return "", nil
}

// public is the public half of a key jwkset parsed (a set may carry private members).
func public(key any) any {
	if k, ok := key.(interface{ Public() crypto.PublicKey }); ok {
		return k.Public()
	}
	return key
}

// parseJWKS reads a JWKS document (a file's contents) as jwkset reads a fetched one: keys of a
// type jwkset does not support are skipped, a key it cannot parse fails the set. usableKeys
// then applies, through keyStore.
func parseJWKS(doc []byte) (keyStore, error) {
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(doc, &set); err != nil {
		return keyStore{}, fmt.Errorf("JWKS: %w", err)
	}
	var keys []jwkset.JWK
	for i, m := range set.Keys {
		k, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{Private: true}, jwkValidation)
		if errors.Is(err, jwkset.ErrUnsupportedKey) {
			continue
		}
		if err != nil {
			return keyStore{}, fmt.Errorf("JWKS key %d (kid %q): %w", i, m.KID, err)
		}
		keys = append(keys, k)
	}
	s := newKeyStore()
	return s, s.KeyReplaceAll(context.Background(), keys)
}

// tokenKeys finds the key of an RS256 or ES256 token among the file's set and the fetched one.
type tokenKeys struct {
	ctx    context.Context
	file   jwkset.Storage  // nil: no JWKS file
	cached keyfunc.Keyfunc // the sets as they are, never fetching
	remote *remote         // nil: no JWKS URL
}

func newKeyfunc(ctx context.Context, s jwkset.Storage) (keyfunc.Keyfunc, error) {
	return keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: s, UseWhitelist: useSig})
}

// find returns the key of t. A token naming a kid gets that key, or, when the sets lack it and
// a URL is configured, whatever a rate-limited refetch brings (see remote.refetch). A token
// without kid is accepted only when the sets hold exactly one key of its algorithm, and never
// causes a fetch.
func (k *tokenKeys) find(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	kid, named := t.Header["kid"]
	if !named || kid == "" {
		return k.only(alg)
	}
	key, err := k.cached.Keyfunc(t)
	if errors.Is(err, jwkset.ErrKeyNotFound) && k.remote != nil {
		k.remote.refetch(t)
		key, err = k.cached.Keyfunc(t)
	}
	if err != nil {
		return nil, err
	}
	if !verifies(key, alg) {
		return nil, fmt.Errorf("the key of kid %v is not an %s key", kid, alg)
	}
	return key, nil
}

func (k *tokenKeys) only(alg string) (any, error) {
	set, err := k.cached.VerificationKeySet(k.ctx)
	if err != nil {
		return nil, err
	}
	var match []any
	for _, key := range set.Keys {
		if verifies(key, alg) {
			match = append(match, key)
		}
	}
	if len(match) != 1 {
		return nil, fmt.Errorf("a token without kid needs exactly one %s key; the set has %d", alg, len(match))
	}
	return match[0], nil
}

// verifies reports whether key is of the type alg needs (usableKeys has checked its size).
func verifies(key any, alg string) bool {
	switch key.(type) {
	case *rsa.PublicKey:
		return alg == jwt.SigningMethodRS256.Alg()
	case *ecdsa.PublicKey:
		return alg == jwt.SigningMethodES256.Alg()
	}
	return false
}
