package pushservice

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// aes128gcmHeader is the parsed RFC 8188 header of a Web Push body.
type aes128gcmHeader struct {
	salt, keyID, ct []byte // keyID is as_public; ct is the one record with its tag
}

// headerLen is salt(16) | rs(4) | idlen(1) | keyid(65), fixed by RFC 8291 §4.
const headerLen = 16 + 4 + 1 + 65

// parseHeader splits an aes128gcm body and enforces the RFC 8291 §4
// restrictions that need no keys, so unsampled requests are checked too.
func parseHeader(body []byte) (aes128gcmHeader, error) {
	if len(body) < headerLen+17 {
		return aes128gcmHeader{}, fmt.Errorf("body of %d bytes cannot hold the header, a tag and a delimiter", len(body))
	}
	h := aes128gcmHeader{salt: body[:16], keyID: body[21:headerLen], ct: body[headerLen:]}
	switch rs := binary.BigEndian.Uint32(body[16:20]); {
	case body[20] != 65 || h.keyID[0] != 4:
		return h, errors.New("keyid is not a 65-byte uncompressed P-256 point")
	case rs < 18: // RFC 8188 §2: too small for a delimiter and the tag
		return h, fmt.Errorf("record size %d < 18", rs)
	case uint64(len(h.ct)) > uint64(rs): // Web Push allows a single record
		return h, fmt.Errorf("%d bytes of ciphertext exceed record size %d", len(h.ct), rs)
	}
	return h, nil
}

// hmacSHA256 is HMAC-SHA-256 over the concatenation of parts; RFC 8291 is
// written in terms of it, so the derivation below reads like the RFC.
func hmacSHA256(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// Decrypt implements the receiving side of RFC 8291: it parses the RFC 8188
// header salt(16)|rs(4)|idlen(1)|keyid(65 = as_public) of a single-record
// aes128gcm body, derives PRK_key, IKM, PRK, CEK and NONCE, opens the record
// with AES-128-GCM and strips the padding (trailing zeros, then a 0x02
// delimiter, which must be present because the only record is the last).
func Decrypt(uaPrivate *ecdh.PrivateKey, authSecret []byte, body []byte) ([]byte, error) {
	if len(authSecret) != 16 {
		return nil, fmt.Errorf("aes128gcm: auth secret is %d bytes, want 16", len(authSecret))
	}
	h, err := parseHeader(body)
	if err != nil {
		return nil, fmt.Errorf("aes128gcm: %w", err)
	}
	asPublic, err := ecdh.P256().NewPublicKey(h.keyID)
	if err != nil {
		return nil, fmt.Errorf("aes128gcm: keyid: %w", err)
	}
	ecdhSecret, err := uaPrivate.ECDH(asPublic)
	if err != nil {
		return nil, fmt.Errorf("aes128gcm: ecdh: %w", err)
	}
	prkKey := hmacSHA256(authSecret, ecdhSecret)
	keyInfo := []byte("WebPush: info\x00")
	ikm := hmacSHA256(prkKey, keyInfo, uaPrivate.PublicKey().Bytes(), h.keyID, []byte{1})
	prk := hmacSHA256(h.salt, ikm)
	cek := hmacSHA256(prk, []byte("Content-Encoding: aes128gcm\x00\x01"))[:16]
	nonce := hmacSHA256(prk, []byte("Content-Encoding: nonce\x00\x01"))[:12]

	// Neither call can fail: the key is 16 bytes and GCM uses standard sizes.
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	// Record sequence number 0, so the nonce is used unmodified.
	plain, err := gcm.Open(nil, nonce, h.ct, nil)
	if err != nil {
		return nil, fmt.Errorf("aes128gcm: %w", err)
	}
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 || plain[i] != 2 {
		return nil, errors.New("aes128gcm: padding delimiter is not 0x02 (last record)")
	}
	return plain[:i], nil
}

// VerifyVAPID checks an RFC 8292 Authorization header value of the form
// "vapid t=<jwt>, k=<key>" for a request to a push resource whose origin is
// aud: the scheme is exactly "vapid"; k decodes (base64url, raw or padded) to
// a 65-byte point on P-256; the JWT header has alg ES256 and the signature
// verifies with k; aud matches; exp is present, after now and at most 24h
// after now; sub is present, starts with "mailto:" or "https:" and not with
// "mailto:mailto:". It returns the claims and the k string as sent. Claims
// are returned even on failure when the token could be parsed.
func VerifyVAPID(authorization string, aud string, now time.Time) (claims map[string]any, key string, err error) {
	return verifyVAPID(authorization, aud, now, true)
}

// verifyVAPID is VerifyVAPID with the ECDSA verification optional, so that
// unsampled benchmark requests skip the only expensive step.
func verifyVAPID(authorization, aud string, now time.Time, checkSig bool) (map[string]any, string, error) {
	if authorization == "" {
		return nil, "", errors.New("missing Authorization header")
	}
	scheme, params, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || scheme != "vapid" {
		return nil, "", fmt.Errorf("auth scheme %q, want \"vapid\"", scheme)
	}
	token, key, err := vapidParams(params)
	if err != nil {
		return nil, key, err
	}
	// strings.Cut above split k at its first '=', so padding is still on val.
	// ParseUncompressedPublicKey insists on 65 bytes, 0x04 and a curve point.
	rawKey, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(key, "="))
	pub, err2 := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), rawKey)
	if err = errors.Join(err, err2); err != nil {
		return nil, key, fmt.Errorf("k= is not a base64url uncompressed P-256 key: %w", err)
	}

	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, key, fmt.Errorf("JWT has %d parts, want 3", len(parts))
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if err := decodeJSONPart(parts[0], &hdr); err != nil {
		return nil, key, fmt.Errorf("JWT header: %w", err)
	}
	if hdr.Alg != "ES256" {
		return nil, key, fmt.Errorf("JWT alg %q, want ES256", hdr.Alg)
	}
	var claims map[string]any
	if err := decodeJSONPart(parts[1], &claims); err != nil {
		return nil, key, fmt.Errorf("JWT claims: %w", err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return claims, key, errors.New("JWT signature is not 64 base64url-encoded bytes (r||s)")
	}
	if checkSig {
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(pub, digest[:], r, s) {
			return claims, key, errors.New("JWT signature does not verify with k=")
		}
	}

	if got, _ := claims["aud"].(string); got != aud {
		return claims, key, fmt.Errorf("aud %q, want %q", claims["aud"], aud)
	}
	exp, ok := claims["exp"].(float64)
	if expT := time.Unix(int64(exp), 0); !ok || !expT.After(now) || expT.After(now.Add(24*time.Hour)) {
		return claims, key, fmt.Errorf("exp %v (%v) must be present, in the future and at most 24h ahead", claims["exp"], expT)
	}
	sub, _ := claims["sub"].(string)
	switch {
	case strings.HasPrefix(sub, "mailto:mailto:"):
		return claims, key, fmt.Errorf("sub %q has a doubled mailto: prefix", sub)
	case !strings.HasPrefix(sub, "mailto:") && !strings.HasPrefix(sub, "https:"):
		return claims, key, fmt.Errorf("sub %q must be a mailto: or https: URI", sub)
	}
	return claims, key, nil
}

// vapidParams reads the t= (JWT) and k= (public key) parameters of a
// "vapid" Authorization header (RFC 8292 section 3).
func vapidParams(params string) (token, key string, err error) {
	for _, p := range strings.Split(params, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		var dst *string
		switch name {
		case "t":
			dst = &token
		case "k":
			dst = &key
		default:
			continue // unknown parameters are ignored, as HTTP auth allows
		}
		if *dst != "" {
			return "", "", fmt.Errorf("duplicate %s= parameter", name)
		}
		*dst = strings.TrimSpace(val)
	}
	if token == "" || key == "" {
		return token, key, errors.New("t= and k= are both required")
	}
	return token, key, nil
}

func decodeJSONPart(part string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
