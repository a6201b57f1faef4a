package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"
)

// ---- A CBOR encoder, for the tests' authenticator and round trips ----

// cborPairs is a map in the order its pairs are written.
type cborPairs []struct{ k, v any }

// cborEncode writes v: ints, byte strings, text, booleans, nil, arrays,
// cborPairs and cborMap (in no particular order), with the shortest heads.
func cborEncode(v any) []byte { return cborAppend(nil, v) }

func cborAppend(b []byte, v any) []byte {
	head := func(major byte, n uint64) []byte {
		switch {
		case n < 24:
			return append(b, major<<5|byte(n))
		case n <= 0xff:
			return append(b, major<<5|24, byte(n))
		case n <= 0xffff:
			return binary.BigEndian.AppendUint16(append(b, major<<5|25), uint16(n))
		case n <= 0xffffffff:
			return binary.BigEndian.AppendUint32(append(b, major<<5|26), uint32(n))
		}
		return binary.BigEndian.AppendUint64(append(b, major<<5|27), n)
	}
	switch v := v.(type) {
	case int:
		return cborAppend(b, int64(v))
	case int64:
		if v < 0 {
			return head(cborNegInt, uint64(-1-v))
		}
		return head(cborUint, uint64(v))
	case []byte:
		return append(head(cborBytes, uint64(len(v))), v...)
	case string:
		return append(head(cborText, uint64(len(v))), v...)
	case bool:
		if v {
			return append(b, 0xf5)
		}
		return append(b, 0xf4)
	case nil:
		return append(b, 0xf6)
	case []any:
		b = head(cborArray, uint64(len(v)))
		for _, e := range v {
			b = cborAppend(b, e)
		}
		return b
	case cborPairs:
		b = head(cborMapTyp, uint64(len(v)))
		for _, p := range v {
			b = cborAppend(cborAppend(b, p.k), p.v)
		}
		return b
	case cborMap:
		var pairs cborPairs
		for k, e := range v {
			pairs = append(pairs, struct{ k, v any }{k, e})
		}
		return cborAppend(b, pairs)
	}
	panic("cborEncode: unsupported type")
}

// ---- The decoder ----

// TestDecodeCBORVectors: RFC 8949 Appendix A's examples of the types
// WebAuthn uses decode to their values.
func TestDecodeCBORVectors(t *testing.T) {
	t.Parallel()
	for hexIn, want := range map[string]any{
		"00":                 int64(0),
		"17":                 int64(23),
		"1818":               int64(24),
		"1903e8":             int64(1000),
		"1a000f4240":         int64(1000000),
		"1b000000e8d4a51000": int64(1000000000000),
		"1b7fffffffffffffff": int64(1<<63 - 1),
		"20":                 int64(-1),
		"3863":               int64(-100),
		"3903e7":             int64(-1000),
		"40":                 []byte{},
		"4401020304":         []byte{1, 2, 3, 4},
		"60":                 "",
		"6161":               "a",
		"6449455446":         "IETF",
		"62c3bc":             "\u00fc",
		"80":                 []any{},
		"83010203":           []any{int64(1), int64(2), int64(3)},
		"8301820203820405":   []any{int64(1), []any{int64(2), int64(3)}, []any{int64(4), int64(5)}},
		"a0":                 cborMap{},
		"a201020304":         cborMap{int64(1): int64(2), int64(3): int64(4)},
		"a26161016162820203": cborMap{"a": int64(1), "b": []any{int64(2), int64(3)}},
		"826161a161626163":   []any{"a", cborMap{"b": "c"}},
		"f4":                 false,
		"f5":                 true,
		"f6":                 nil,
	} {
		in, _ := hex.DecodeString(hexIn)
		got, err := decodeCBOR(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("decode %s: %#v, %v; want %#v", hexIn, got, err, want)
		}
	}
}

// TestDecodeCBORRefusals: what CTAP2 never writes, and what is broken,
// is an error (errCBOR), never a panic or a huge allocation.
func TestDecodeCBORRefusals(t *testing.T) {
	t.Parallel()
	for name, hexIn := range map[string]string{
		"empty":                  "",
		"uint past int64":        "1bffffffffffffffff",
		"negative past int64":    "3bffffffffffffffff",
		"undefined":              "f7",
		"half float":             "f93c00",
		"double":                 "fb3ff199999999999a",
		"tag":                    "c11a514b67b0",
		"indefinite bytes":       "5f42010243030405ff",
		"indefinite text":        "7f657374726561646d696e67ff",
		"indefinite array":       "9f018202039f0405ffff",
		"indefinite map":         "bf61610161629f0203ffff",
		"reserved info":          "1c",
		"cut head":               "1903",
		"bytes past the end":     "440102",
		"text past the end":      "64494554",
		"array past the end":     "830102",
		"map past the end":       "a20102",
		"huge array":             "9bffffffffffffffff",
		"huge map":               "bb7fffffffffffffff",
		"huge bytes":             "5b7fffffffffffffff00",
		"duplicate key":          "a201020103",
		"bytes key":              "a14101f6",
		"array key":              "a18001",
		"trailing bytes":         "0000",
		"too deep":               strings.Repeat("81", cborMaxDepth+1) + "00",
		"break outside":          "ff",
		"map of too many":        "b9ffff",
		"text map value cut":     "a1616161",
		"nested indefinite item": "a161615f4101ff",
	} {
		in, err := hex.DecodeString(hexIn)
		if err != nil {
			t.Fatalf("%s: bad hex", name)
		}
		if v, err := decodeCBOR(in); !errors.Is(err, errCBOR) {
			t.Errorf("%s (%s): %#v, %v; want errCBOR", name, hexIn, v, err)
		}
	}
	deep := strings.Repeat("81", cborMaxDepth) + "00"
	in, _ := hex.DecodeString(deep)
	if _, err := decodeCBOR(in); err != nil {
		t.Errorf("nesting of %d: %v", cborMaxDepth, err)
	}
}

// checkCBORRoundTrip is FuzzDecodeCBOR's property: what decodes, encoded
// again, decodes to the same value, and no decoded byte string aliases
// the input.
func checkCBORRoundTrip(t *testing.T, data []byte) {
	v, err := decodeCBOR(data)
	if err != nil {
		if !errors.Is(err, errCBOR) {
			t.Fatalf("error %v is not errCBOR", err)
		}
		return
	}
	again, err := decodeCBOR(cborEncode(v))
	if err != nil || !reflect.DeepEqual(again, v) {
		t.Fatalf("round trip of %x: %#v, %v; want %#v", data, again, err, v)
	}
}

// ---- COSE keys ----

// TestCOSEKeyVectors: the EC2 key of WebAuthn's own example (§6.5.1.1)
// and keys of each accepted algorithm parse; each mismatch of type,
// algorithm, curve or size, and each invalid key, is refused.
func TestCOSEKeyVectors(t *testing.T) {
	t.Parallel()
	spec, _ := hex.DecodeString("a5010203262001215820" +
		"65eda5a12577c2bae829437fe338701a10aaa375e1bb5b5de108de439c08551d" + "225820" +
		"1e52ed75701163f7f9e40ddf9f341b3dc9ba860af7e0ca7ca7e9eecd0084d19c")
	k, err := parseCOSEKey(spec)
	if err != nil || k.Alg != coseES256 {
		t.Fatalf("WebAuthn's example key: %+v, %v", k, err)
	}
	x, _ := hex.DecodeString("65eda5a12577c2bae829437fe338701a10aaa375e1bb5b5de108de439c08551d")
	if pub := k.Key.(*ecdsa.PublicKey); !bytes.Equal(pub.X.FillBytes(make([]byte, 32)), x) {
		t.Errorf("example key's x: %x", pub.X)
	}

	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecRaw, _ := ec.PublicKey.Bytes()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	weakRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	ecX, ecY := ecRaw[1:33], ecRaw[33:]
	offCurve := append([]byte(nil), ecY...)
	offCurve[31] ^= 1

	good := map[string]cborPairs{
		"ES256": {{1, 2}, {3, -7}, {-1, 1}, {-2, ecX}, {-3, ecY}},
		"RS256": {{1, 3}, {3, -257}, {-1, rsaKey.N.Bytes()}, {-2, []byte{1, 0, 1}}},
		"EdDSA": {{1, 1}, {3, -8}, {-1, 6}, {-2, []byte(edPub)}},
	}
	for name, key := range good {
		if _, err := parseCOSEKey(cborEncode(key)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := map[string]cborPairs{
		"ES256 as RSA type":      {{1, 3}, {3, -7}, {-1, 1}, {-2, ecX}, {-3, ecY}},
		"ES384":                  {{1, 2}, {3, -35}, {-1, 2}, {-2, ecX}, {-3, ecY}},
		"P-384 curve":            {{1, 2}, {3, -7}, {-1, 2}, {-2, ecX}, {-3, ecY}},
		"off the curve":          {{1, 2}, {3, -7}, {-1, 1}, {-2, ecX}, {-3, offCurve}},
		"short x":                {{1, 2}, {3, -7}, {-1, 1}, {-2, ecX[1:]}, {-3, ecY}},
		"no y":                   {{1, 2}, {3, -7}, {-1, 1}, {-2, ecX}},
		"text x":                 {{1, 2}, {3, -7}, {-1, 1}, {-2, "x"}, {-3, ecY}},
		"no alg":                 {{1, 2}, {-1, 1}, {-2, ecX}, {-3, ecY}},
		"RSA 1024":               {{1, 3}, {3, -257}, {-1, weakRSA.N.Bytes()}, {-2, []byte{1, 0, 1}}},
		"RSA even exponent":      {{1, 3}, {3, -257}, {-1, rsaKey.N.Bytes()}, {-2, []byte{1, 0, 0}}},
		"RSA exponent 1":         {{1, 3}, {3, -257}, {-1, rsaKey.N.Bytes()}, {-2, []byte{1}}},
		"RSA 5-byte exponent":    {{1, 3}, {3, -257}, {-1, rsaKey.N.Bytes()}, {-2, []byte{1, 0, 0, 0, 1}}},
		"RSA PSS (PS256)":        {{1, 3}, {3, -37}, {-1, rsaKey.N.Bytes()}, {-2, []byte{1, 0, 1}}},
		"Ed448 curve":            {{1, 1}, {3, -8}, {-1, 7}, {-2, []byte(edPub)}},
		"Ed25519 short key":      {{1, 1}, {3, -8}, {-1, 6}, {-2, []byte(edPub[1:])}},
		"EdDSA with an EC2 type": {{1, 2}, {3, -8}, {-1, 6}, {-2, []byte(edPub)}},
	}
	for name, key := range bad {
		if k, err := parseCOSEKey(cborEncode(key)); err == nil {
			t.Errorf("%s: accepted %+v", name, k)
		}
	}
	if _, err := parseCOSEKey([]byte{0x80}); err == nil {
		t.Error("an array accepted as a COSE key")
	}
	huge := new(big.Int).Lsh(big.NewInt(1), maxRSABits+8)
	if _, err := parseCOSEKey(cborEncode(cborPairs{{1, 3}, {3, -257}, {-1, huge.Bytes()}, {-2, []byte{1, 0, 1}}})); err == nil {
		t.Error("an RSA modulus over maxRSABits accepted")
	}
}

// coseKeyBytes encodes a parsed key back as a COSE_Key.
func coseKeyBytes(k coseKey) []byte {
	switch pub := k.Key.(type) {
	case *ecdsa.PublicKey:
		raw, _ := pub.Bytes()
		return cborEncode(cborPairs{{1, coseKtyEC2}, {3, coseES256}, {-1, coseCrvP256}, {-2, raw[1:33]}, {-3, raw[33:]}})
	case *rsa.PublicKey:
		e := new(big.Int).SetInt64(int64(pub.E)).Bytes()
		return cborEncode(cborPairs{{1, coseKtyRSA}, {3, coseRS256}, {-1, pub.N.Bytes()}, {-2, e}})
	case ed25519.PublicKey:
		return cborEncode(cborPairs{{1, coseKtyOKP}, {3, coseEdDSA}, {-1, coseCrvEd25519}, {-2, []byte(pub)}})
	}
	panic("unreachable")
}

// checkCOSERoundTrip is FuzzCOSEKey's property: a key that parses, written
// again, parses to the same key; a signature of nothing never verifies.
func checkCOSERoundTrip(t *testing.T, data []byte) {
	k, err := parseCOSEKey(data)
	if err != nil {
		return
	}
	again, err := parseCOSEKey(coseKeyBytes(k))
	type equaler interface{ Equal(x crypto.PublicKey) bool }
	if err != nil || again.Alg != k.Alg || !again.Key.(equaler).Equal(k.Key) {
		t.Fatalf("round trip of %x: %+v, %v; want %+v", data, again, err, k)
	}
	if k.verify([]byte("data"), nil) {
		t.Fatal("an empty signature verifies")
	}
}

// ---- Authenticator data ----

// TestAuthenticatorData: the fixed part, attested credential data and
// extensions are read; anything cut short, left over or out of bounds is
// refused.
func TestAuthenticatorData(t *testing.T) {
	t.Parallel()
	key := cborEncode(cborPairs{{1, 1}, {3, -8}, {-1, 6}, {-2, make([]byte, 32)}})
	fixed := func(flags byte, count uint32) []byte {
		return binary.BigEndian.AppendUint32(append(bytes.Repeat([]byte{7}, 32), flags), count)
	}
	attested := func(idLen int, id []byte) []byte {
		b := append(fixed(flagUserPresent|flagAttested, 5), make([]byte, 16)...)
		return append(binary.BigEndian.AppendUint16(b, uint16(idLen)), id...)
	}
	id := []byte("credential-id")
	ad, err := parseAuthenticatorData(append(attested(len(id), id), key...))
	if err != nil || ad.SignCount != 5 || !bytes.Equal(ad.CredentialID, id) || !bytes.Equal(ad.PublicKey, key) || ad.Flags != flagUserPresent|flagAttested {
		t.Fatalf("attested: %+v, %v", ad, err)
	}
	ext := cborEncode(cborPairs{{"credProtect", 2}})
	withExt := append(append(attested(len(id), id), key...), ext...)
	withExt[32] |= flagExtensions
	if ad, err := parseAuthenticatorData(withExt); err != nil || !bytes.Equal(ad.PublicKey, key) {
		t.Fatalf("attested with extensions: %+v, %v", ad, err)
	}
	if ad, err := parseAuthenticatorData(fixed(flagUserPresent, 0xfffffffe)); err != nil || ad.SignCount != 0xfffffffe || ad.CredentialID != nil {
		t.Fatalf("assertion: %+v, %v", ad, err)
	}
	for name, data := range map[string][]byte{
		"36 bytes":              fixed(flagUserPresent, 1)[:36],
		"left over":             append(fixed(flagUserPresent, 1), 0),
		"AT without data":       fixed(flagUserPresent|flagAttested, 1),
		"empty credential ID":   append(attested(0, nil), key...),
		"credential ID 1024":    append(attested(1024, make([]byte, 1024)), key...),
		"credential ID past":    attested(50, id),
		"no key":                attested(len(id), id),
		"broken key":            append(attested(len(id), id), key[:len(key)-1]...),
		"ED without extensions": fixed(flagUserPresent|flagExtensions, 1),
		"extensions not a map":  append(fixed(flagUserPresent|flagExtensions, 1), 0x01),
		"extensions left over":  append(append(fixed(flagUserPresent|flagExtensions, 1), ext...), 0),
	} {
		if ad, err := parseAuthenticatorData(data); err == nil {
			t.Errorf("%s: accepted %+v", name, ad)
		}
	}
}

// TestAttestationObject: a "none" attestation and one of another format
// (whose statement is ignored) are read; a missing or mistyped field is
// refused.
func TestAttestationObject(t *testing.T) {
	t.Parallel()
	authData := []byte("authenticator data")
	for _, att := range []cborPairs{
		{{"fmt", "none"}, {"attStmt", cborPairs{}}, {"authData", authData}},
		{{"fmt", "packed"}, {"attStmt", cborPairs{{"alg", -7}, {"sig", []byte{1}}}}, {"authData", authData}},
	} {
		a, err := parseAttestationObject(cborEncode(att))
		if err != nil || !bytes.Equal(a.AuthData, authData) {
			t.Errorf("%v: %+v, %v", att[0].v, a, err)
		}
	}
	for name, att := range map[string]any{
		"no fmt":            cborPairs{{"attStmt", cborPairs{}}, {"authData", authData}},
		"no attStmt":        cborPairs{{"fmt", "none"}, {"authData", authData}},
		"attStmt not a map": cborPairs{{"fmt", "none"}, {"attStmt", []any{}}, {"authData", authData}},
		"authData as text":  cborPairs{{"fmt", "none"}, {"attStmt", cborPairs{}}, {"authData", "x"}},
		"an array":          []any{"none"},
	} {
		if a, err := parseAttestationObject(cborEncode(att)); err == nil {
			t.Errorf("%s: accepted %+v", name, a)
		}
	}
}
