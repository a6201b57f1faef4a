package main

// The CBOR (RFC 8949) that WebAuthn needs, and no more: an authenticator's
// attestation object, the COSE_Key inside its authenticator data, and
// nothing else. CTAP2 writes canonical CBOR with definite lengths, so this
// decoder refuses indefinite lengths, floats, tags and the simple values
// other than false, true and null. It is strict because its input comes
// from the network: every length is checked against what remains, nesting
// is bounded, and a malformed item is an error, never a panic.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"math/big"
)

// CBOR limits. An attestation object is a few hundred bytes, an RSA
// COSE_Key about 270; these leave room and bound the work.
const (
	cborMaxDepth = 8    // nesting of arrays and maps
	cborMaxItems = 1024 // elements of one array or pairs of one map
)

// errCBOR wraps every decoding failure.
var errCBOR = errors.New("malformed CBOR")

// cborMap is a decoded map. Keys are int64 or string (what COSE and
// WebAuthn use); a duplicate key is refused.
type cborMap map[any]any

// decodeCBOR decodes exactly one item that fills data.
func decodeCBOR(data []byte) (any, error) {
	v, rest, err := decodeCBORPrefix(data)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the item", errCBOR, len(rest))
	}
	return v, nil
}

// decodeCBORPrefix decodes the first item of data and returns the rest:
// authenticator data puts the COSE_Key before other data, unframed.
func decodeCBORPrefix(data []byte) (any, []byte, error) {
	d := cborDecoder{data: data}
	v, err := d.item(0)
	if err != nil {
		return nil, nil, err
	}
	return v, d.data[d.off:], nil
}

// cborDecoder reads items from data, at off.
type cborDecoder struct {
	data []byte
	off  int
}

// Major types.
const (
	cborUint   = 0
	cborNegInt = 1
	cborBytes  = 2
	cborText   = 3
	cborArray  = 4
	cborMapTyp = 5
	cborTag    = 6
	cborSimple = 7
)

// head reads an item's initial byte and argument.
func (d *cborDecoder) head() (major byte, arg uint64, err error) {
	if d.off >= len(d.data) {
		return 0, 0, fmt.Errorf("%w: unexpected end", errCBOR)
	}
	b := d.data[d.off]
	d.off++
	major, info := b>>5, b&0x1f
	switch {
	case info < 24:
		return major, uint64(info), nil
	case info <= 27:
		n := 1 << (info - 24) // 1, 2, 4 or 8 bytes
		if len(d.data)-d.off < n {
			return 0, 0, fmt.Errorf("%w: unexpected end", errCBOR)
		}
		for _, c := range d.data[d.off : d.off+n] {
			arg = arg<<8 | uint64(c)
		}
		d.off += n
		return major, arg, nil
	}
	return 0, 0, fmt.Errorf("%w: indefinite or reserved length (initial byte %#x)", errCBOR, b)
}

// item decodes one item at nesting depth.
func (d *cborDecoder) item(depth int) (any, error) {
	if depth > cborMaxDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", errCBOR, cborMaxDepth)
	}
	major, arg, err := d.head()
	if err != nil {
		return nil, err
	}
	switch major {
	case cborUint:
		if arg > math.MaxInt64 {
			return nil, fmt.Errorf("%w: integer out of range", errCBOR)
		}
		return int64(arg), nil
	case cborNegInt:
		if arg > math.MaxInt64 {
			return nil, fmt.Errorf("%w: integer out of range", errCBOR)
		}
		return -1 - int64(arg), nil
	case cborBytes:
		return d.bytes(arg)
	case cborText:
		b, err := d.bytes(arg)
		return string(b), err // UTF-8 is the caller's to check where it matters
	case cborArray:
		return d.array(arg, depth)
	case cborMapTyp:
		return d.mapItem(arg, depth)
	case cborSimple:
		switch arg {
		case 20:
			return false, nil
		case 21:
			return true, nil
		case 22:
			return nil, nil
		}
	}
	return nil, fmt.Errorf("%w: unsupported item (major type %d)", errCBOR, major)
}

// bytes takes n bytes, copied so the result does not alias the input.
func (d *cborDecoder) bytes(n uint64) ([]byte, error) {
	if n > uint64(len(d.data)-d.off) {
		return nil, fmt.Errorf("%w: length %d past the end", errCBOR, n)
	}
	b := make([]byte, n)
	copy(b, d.data[d.off:])
	d.off += int(n)
	return b, nil
}

// array decodes n elements.
func (d *cborDecoder) array(n uint64, depth int) ([]any, error) {
	if n > cborMaxItems || n > uint64(len(d.data)-d.off) { // each element takes a byte at least
		return nil, fmt.Errorf("%w: array of %d elements", errCBOR, n)
	}
	a := make([]any, 0, n)
	for range n {
		v, err := d.item(depth + 1)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
	}
	return a, nil
}

// mapItem decodes n pairs, whose keys must be integers or text.
func (d *cborDecoder) mapItem(n uint64, depth int) (cborMap, error) {
	if n > cborMaxItems || n > uint64(len(d.data)-d.off)/2 { // each pair takes two bytes at least
		return nil, fmt.Errorf("%w: map of %d pairs", errCBOR, n)
	}
	m := make(cborMap, n)
	for range n {
		k, err := d.item(depth + 1)
		if err != nil {
			return nil, err
		}
		switch k.(type) {
		case int64, string:
		default:
			return nil, fmt.Errorf("%w: map key of type %T", errCBOR, k)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("%w: duplicate map key %v", errCBOR, k)
		}
		v, err := d.item(depth + 1)
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, nil
}

// ---- Typed reads of a decoded map ----

// cborField returns m[key] as a T; present tells whether the key is there
// at all, so callers can tell a missing field from one of the wrong type.
func cborField[T any](m cborMap, key any) (v T, present bool, err error) {
	raw, present := m[key]
	if !present {
		return v, false, nil
	}
	v, ok := raw.(T)
	if !ok {
		return v, true, fmt.Errorf("field %v is a %T, want %T", key, raw, v)
	}
	return v, true, nil
}

// cborRequire is cborField for a field that must be there.
func cborRequire[T any](m cborMap, key any) (T, error) {
	v, present, err := cborField[T](m, key)
	if err == nil && !present {
		err = fmt.Errorf("field %v is missing", key)
	}
	return v, err
}

// ---- WebAuthn's structures ----

// attestationObject is what navigator.credentials.create returns to be
// registered: the attestation format and statement, which Dropp does not
// use (it asks for attestation "none"), and the authenticator data.
type attestationObject struct {
	Format   string
	AuthData []byte
}

// parseAttestationObject decodes an attestation object. Any format is
// read, its statement only checked to be a map: Dropp trusts no
// attestation, so a statement would add nothing (webauthn.go).
func parseAttestationObject(data []byte) (attestationObject, error) {
	v, err := decodeCBOR(data)
	if err != nil {
		return attestationObject{}, err
	}
	m, ok := v.(cborMap)
	if !ok {
		return attestationObject{}, fmt.Errorf("attestation object is a %T, want a map", v)
	}
	var a attestationObject
	if a.Format, err = cborRequire[string](m, "fmt"); err != nil {
		return attestationObject{}, fmt.Errorf("attestation object: %w", err)
	}
	if _, err = cborRequire[cborMap](m, "attStmt"); err != nil {
		return attestationObject{}, fmt.Errorf("attestation object: %w", err)
	}
	if a.AuthData, err = cborRequire[[]byte](m, "authData"); err != nil {
		return attestationObject{}, fmt.Errorf("attestation object: %w", err)
	}
	return a, nil
}

// Authenticator data flags (WebAuthn §6.1).
const (
	flagUserPresent  = 0x01 // UP
	flagUserVerified = 0x04 // UV
	flagAttested     = 0x40 // AT: attested credential data follows
	flagExtensions   = 0x80 // ED: extensions follow
)

// maxCredentialIDLen is WebAuthn's bound on a credential ID.
const maxCredentialIDLen = 1023

// authenticatorData is the authenticator's signed statement.
type authenticatorData struct {
	RPIDHash  []byte // SHA-256 of the RP ID
	Flags     byte
	SignCount uint32
	// With AT, at registration: the new credential.
	CredentialID []byte
	PublicKey    []byte // the COSE_Key, as its CBOR bytes
}

// parseAuthenticatorData decodes authenticator data: 37 fixed bytes, then
// the attested credential data if AT is set, then extensions if ED is set,
// then nothing.
func parseAuthenticatorData(data []byte) (authenticatorData, error) {
	if len(data) < 37 {
		return authenticatorData{}, fmt.Errorf("authenticator data is %d bytes, want 37 or more", len(data))
	}
	a := authenticatorData{RPIDHash: data[:32], Flags: data[32],
		SignCount: uint32(data[33])<<24 | uint32(data[34])<<16 | uint32(data[35])<<8 | uint32(data[36])}
	rest := data[37:]
	if a.Flags&flagAttested != 0 {
		if len(rest) < 18 {
			return authenticatorData{}, errors.New("attested credential data is cut short")
		}
		n := int(rest[16])<<8 | int(rest[17]) // after the 16-byte AAGUID
		rest = rest[18:]
		if n == 0 || n > maxCredentialIDLen || n > len(rest) {
			return authenticatorData{}, fmt.Errorf("credential ID length %d is out of bounds", n)
		}
		a.CredentialID, rest = rest[:n], rest[n:]
		_, after, err := decodeCBORPrefix(rest)
		if err != nil {
			return authenticatorData{}, fmt.Errorf("credential public key: %w", err)
		}
		a.PublicKey, rest = rest[:len(rest)-len(after)], after
	}
	if a.Flags&flagExtensions != 0 {
		ext, after, err := decodeCBORPrefix(rest)
		if err != nil {
			return authenticatorData{}, fmt.Errorf("extensions: %w", err)
		}
		if _, ok := ext.(cborMap); !ok {
			return authenticatorData{}, errors.New("extensions are not a map")
		}
		rest = after
	}
	if len(rest) != 0 {
		return authenticatorData{}, fmt.Errorf("%d bytes after the authenticator data", len(rest))
	}
	return a, nil
}

// COSE algorithms Dropp accepts (IANA COSE Algorithms).
const (
	coseES256 = -7   // ECDSA with SHA-256 on P-256
	coseEdDSA = -8   // Ed25519
	coseRS256 = -257 // RSASSA-PKCS1-v1_5 with SHA-256
)

// COSE key types and curves.
const (
	coseKtyOKP     = 1
	coseKtyEC2     = 2
	coseKtyRSA     = 3
	coseCrvP256    = 1
	coseCrvEd25519 = 6
)

// RSA key bounds: below 2048 bits is too weak; above 8192 is not a key an
// authenticator makes, and costs a verification more than it should.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// coseKey is a parsed credential public key: its algorithm and the key.
type coseKey struct {
	Alg int64
	Key crypto.PublicKey // *ecdsa.PublicKey, *rsa.PublicKey or ed25519.PublicKey
}

// parseCOSEKey decodes a COSE_Key (RFC 9053) of one of the accepted
// algorithms, checking that its type, curve and algorithm agree and that
// the key itself is valid (a point on the curve, a sane RSA modulus).
func parseCOSEKey(data []byte) (coseKey, error) {
	v, err := decodeCBOR(data)
	if err != nil {
		return coseKey{}, err
	}
	m, ok := v.(cborMap)
	if !ok {
		return coseKey{}, fmt.Errorf("COSE key is a %T, want a map", v)
	}
	kty, err := cborRequire[int64](m, int64(1))
	if err != nil {
		return coseKey{}, fmt.Errorf("COSE key type: %w", err)
	}
	alg, err := cborRequire[int64](m, int64(3))
	if err != nil {
		return coseKey{}, fmt.Errorf("COSE key algorithm: %w", err)
	}
	var key crypto.PublicKey
	switch {
	case alg == coseES256 && kty == coseKtyEC2:
		key, err = coseEC2Key(m)
	case alg == coseRS256 && kty == coseKtyRSA:
		key, err = coseRSAKey(m)
	case alg == coseEdDSA && kty == coseKtyOKP:
		key, err = coseOKPKey(m)
	default:
		return coseKey{}, fmt.Errorf("COSE key type %d with algorithm %d is not supported (ES256, RS256 and EdDSA are)", kty, alg)
	}
	if err != nil {
		return coseKey{}, err
	}
	return coseKey{Alg: alg, Key: key}, nil
}

// coseEC2Key reads a P-256 point (crv -1, x -2, y -3).
func coseEC2Key(m cborMap) (*ecdsa.PublicKey, error) {
	crv, err := cborRequire[int64](m, int64(-1))
	if err != nil || crv != coseCrvP256 {
		return nil, fmt.Errorf("EC2 key: curve must be P-256 (1): %v", cmpErr(err, crv))
	}
	x, err1 := cborRequire[[]byte](m, int64(-2))
	y, err2 := cborRequire[[]byte](m, int64(-3))
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("EC2 key: %w", err)
	}
	if len(x) != 32 || len(y) != 32 {
		return nil, fmt.Errorf("EC2 key: coordinates of %d and %d bytes, want 32", len(x), len(y))
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		return nil, fmt.Errorf("EC2 key: %w", err)
	}
	return pub, nil
}

// coseRSAKey reads an RSA key (n -1, e -2).
func coseRSAKey(m cborMap) (*rsa.PublicKey, error) {
	n, err1 := cborRequire[[]byte](m, int64(-1))
	e, err2 := cborRequire[[]byte](m, int64(-2))
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("RSA key: %w", err)
	}
	mod := new(big.Int).SetBytes(n)
	if bits := mod.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("RSA key: modulus of %d bits, want %d to %d", bits, minRSABits, maxRSABits)
	}
	if len(e) == 0 || len(e) > 4 {
		return nil, fmt.Errorf("RSA key: exponent of %d bytes", len(e))
	}
	var exp int
	for _, b := range e {
		exp = exp<<8 | int(b)
	}
	if exp < 3 || exp%2 == 0 || exp > math.MaxInt32 {
		return nil, fmt.Errorf("RSA key: exponent %d is not valid", exp)
	}
	return &rsa.PublicKey{N: mod, E: exp}, nil
}

// coseOKPKey reads an Ed25519 key (crv -1, x -2).
func coseOKPKey(m cborMap) (ed25519.PublicKey, error) {
	crv, err := cborRequire[int64](m, int64(-1))
	if err != nil || crv != coseCrvEd25519 {
		return nil, fmt.Errorf("OKP key: curve must be Ed25519 (6): %v", cmpErr(err, crv))
	}
	x, err := cborRequire[[]byte](m, int64(-2))
	if err != nil {
		return nil, fmt.Errorf("OKP key: %w", err)
	}
	if len(x) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("OKP key: %d bytes, want %d", len(x), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(x), nil
}

// cmpErr is what to report for a field read: its error, or the value found.
func cmpErr(err error, v int64) any {
	if err != nil {
		return err
	}
	return v
}

// verify checks sig over data with the key, as its algorithm says.
func (k coseKey) verify(data, sig []byte) bool {
	switch pub := k.Key.(type) {
	case *ecdsa.PublicKey:
		sum := sha256.Sum256(data)
		return ecdsa.VerifyASN1(pub, sum[:], sig)
	case *rsa.PublicKey:
		sum := sha256.Sum256(data)
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) == nil
	case ed25519.PublicKey:
		return ed25519.Verify(pub, data, sig)
	}
	return false
}
