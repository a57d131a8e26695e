package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// jwk is the subset of RFC 7517 / 7518 we read: RSA and P-256 EC public keys.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

type publicKey struct {
	kid string
	alg string // RS256 or ES256
	key any    // *rsa.PublicKey or *ecdsa.PublicKey
}

// keySet holds the verification keys of a JWKS document.
type keySet []publicKey

// minRSABits refuses keys too short to trust.
const minRSABits = 2048

// parseJWKS reads a JWKS document. Keys meant for encryption ("use":"enc") and key types we
// cannot use for RS256/ES256 are skipped; a set left with no key is an error.
func parseJWKS(doc []byte) (keySet, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	var ks keySet
	for i, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var (
			pk  publicKey
			err error
		)
		switch k.Kty {
		case "RSA":
			pk, err = rsaKey(k)
		case "EC":
			pk, err = ecKey(k)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("JWKS key %d (kid %q): %w", i, k.Kid, err)
		}
		if k.Alg != "" && k.Alg != pk.alg {
			continue
		}
		ks = append(ks, pk)
	}
	if len(ks) == 0 {
		return nil, errors.New("JWKS: no RS256 or ES256 (P-256) signing key in the set")
	}
	return ks, nil
}

func b64(field, s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%s must be non-empty base64url without padding", field)
	}
	return b, nil
}

func rsaKey(k jwk) (publicKey, error) {
	n, err := b64("n", k.N)
	if err != nil {
		return publicKey{}, err
	}
	e, err := b64("e", k.E)
	if err != nil {
		return publicKey{}, err
	}
	ev := new(big.Int).SetBytes(e)
	if !ev.IsInt64() || ev.Int64() < 3 || ev.Int64() > 1<<31-1 {
		return publicKey{}, errors.New("e is out of range")
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(ev.Int64())}
	if pub.N.BitLen() < minRSABits {
		return publicKey{}, fmt.Errorf("RSA key of %d bits; at least %d are required", pub.N.BitLen(), minRSABits)
	}
	return publicKey{kid: k.Kid, alg: "RS256", key: pub}, nil
}

func ecKey(k jwk) (publicKey, error) {
	if k.Crv != "P-256" {
		return publicKey{}, fmt.Errorf("curve %q: only P-256 (ES256) is supported", k.Crv)
	}
	x, err := b64("x", k.X)
	if err != nil {
		return publicKey{}, err
	}
	y, err := b64("y", k.Y)
	if err != nil {
		return publicKey{}, err
	}
	if len(x) != 32 || len(y) != 32 {
		return publicKey{}, errors.New("x and y must be 32 bytes each for P-256")
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		return publicKey{}, fmt.Errorf("not a point on P-256: %w", err)
	}
	return publicKey{kid: k.Kid, alg: "ES256", key: pub}, nil
}

// find returns the key a token names by kid. A token without kid is accepted only when the
// set holds exactly one key for its algorithm.
func (ks keySet) find(kid, alg string) (any, error) {
	var match []publicKey
	for _, k := range ks {
		if k.alg == alg && (kid == "" || k.kid == kid) {
			match = append(match, k)
		}
	}
	if len(match) != 1 {
		return nil, fmt.Errorf("no unique %s key for kid %q", alg, kid)
	}
	return match[0].key, nil
}
