package pushservice

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

// RFC 8291 Appendix A test vector.
const (
	vecUAPrivate = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
	vecUAPublic  = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
	vecASPrivate = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
	vecAuth      = "BTBZMqHH6r4Tts7J_aSIgg"
	vecSalt      = "DGv6ra1nlYgDCS1FRnbzlw"
	vecBody      = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
	vecPlain     = "When I grow up, I want to be a watermelon"
)

func b64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	require.NoError(t, err)
	return b
}

func vectorDevice(t testing.TB) (*ecdh.PrivateKey, []byte) {
	t.Helper()
	priv, err := ecdh.P256().NewPrivateKey(b64(t, vecUAPrivate))
	require.NoError(t, err)
	return priv, b64(t, vecAuth)
}

// encrypt is an independent RFC 8291 sender: it uses crypto/hkdf where the
// server uses raw HMAC, so a shared mistake is unlikely. The plaintext is
// followed by delim and zero padding up to a body of total bytes (0 = no
// padding). asPriv and salt may be nil for fresh random ones.
func encrypt(t testing.TB, uaPublic, auth []byte, plain []byte, asPriv *ecdh.PrivateKey, salt []byte, rs uint32, total int, delim byte) []byte {
	t.Helper()
	var err error
	if asPriv == nil {
		asPriv, err = ecdh.P256().GenerateKey(rand.Reader)
		require.NoError(t, err)
	}
	if salt == nil {
		salt = make([]byte, 16)
		rand.Read(salt)
	}
	uaPub, err := ecdh.P256().NewPublicKey(uaPublic)
	require.NoError(t, err)
	secret, err := asPriv.ECDH(uaPub)
	require.NoError(t, err)
	asPublic := asPriv.PublicKey().Bytes()
	ikm, err := hkdf.Key(sha256.New, secret, auth, "WebPush: info\x00"+string(uaPublic)+string(asPublic), 32)
	require.NoError(t, err)
	cek, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	require.NoError(t, err)
	nonce, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	require.NoError(t, err)

	header := binary.BigEndian.AppendUint32(bytes.Clone(salt), rs)
	header = append(append(header, 65), asPublic...)
	record := append(append(bytes.Clone(plain), delim), make([]byte, max(0, total-len(header)-len(plain)-1-16))...)
	block, err := aes.NewCipher(cek)
	require.NoError(t, err)
	gcm, err := cipher.NewGCM(block)
	require.NoError(t, err)
	return gcm.Seal(header, nonce, record, nil)
}

func TestDecryptRFC8291AppendixA(t *testing.T) {
	t.Parallel()
	priv, auth := vectorDevice(t)
	require.Equal(t, vecUAPublic, base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()))

	plain, err := Decrypt(priv, auth, b64(t, vecBody))
	require.NoError(t, err)
	require.Equal(t, vecPlain, string(plain))

	// The test sender must reproduce the RFC body too, or the end-to-end
	// tests below would prove nothing.
	asPriv, err := ecdh.P256().NewPrivateKey(b64(t, vecASPrivate))
	require.NoError(t, err)
	body := encrypt(t, priv.PublicKey().Bytes(), auth, []byte(vecPlain), asPriv, b64(t, vecSalt), 4096, 0, 2)
	require.Equal(t, vecBody, base64.RawURLEncoding.EncodeToString(body))
}

func TestDecryptRejectsBadBodies(t *testing.T) {
	t.Parallel()
	priv, auth := vectorDevice(t)

	tampered := b64(t, vecBody)
	tampered[headerLen+3] ^= 0x01
	_, err := Decrypt(priv, auth, tampered)
	require.Error(t, err)

	wrongAuth := bytes.Clone(auth)
	wrongAuth[0] ^= 0x01
	_, err = Decrypt(priv, wrongAuth, b64(t, vecBody))
	require.Error(t, err)

	_, err = Decrypt(priv, auth, b64(t, vecBody)[:headerLen+10])
	require.Error(t, err)

	// 0x01 is the delimiter of a non-final record; a single record must be final.
	body := encrypt(t, priv.PublicKey().Bytes(), auth, []byte("hi"), nil, nil, 4096, 200, 1)
	_, err = Decrypt(priv, auth, body)
	require.ErrorContains(t, err, "delimiter")

	// Padding to a chosen size is stripped.
	body = encrypt(t, priv.PublicKey().Bytes(), auth, []byte("hi"), nil, nil, 4096, 4096, 2)
	require.Len(t, body, 4096)
	plain, err := Decrypt(priv, auth, body)
	require.NoError(t, err)
	require.Equal(t, "hi", string(plain))
}

// vapidSigner signs VAPID JWTs the way an application server does.
type vapidSigner struct {
	key *ecdsa.PrivateKey
	k   string
}

func newSigner(t testing.TB) vapidSigner {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	pub, err := key.PublicKey.Bytes()
	require.NoError(t, err)
	return vapidSigner{key, base64.RawURLEncoding.EncodeToString(pub)}
}

func (v vapidSigner) header(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(v.key)
	require.NoError(t, err)
	return "vapid t=" + tok + ", k=" + v.k
}

func TestVerifyVAPID(t *testing.T) {
	t.Parallel()
	const aud = "https://push.example.net"
	now := time.Now()
	v, other := newSigner(t), newSigner(t)
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"aud": aud, "exp": now.Add(12 * time.Hour).Unix(), "sub": "mailto:ops@example.com"}
	}

	claims, k, err := VerifyVAPID(v.header(t, good()), aud, now)
	require.NoError(t, err)
	require.Equal(t, v.k, k)
	require.Equal(t, "mailto:ops@example.com", claims["sub"])

	// Padded k= and an https: subject are fine too.
	c := good()
	c["sub"] = "https://example.com/contact"
	_, _, err = VerifyVAPID(v.header(t, c)+"=", aud, now)
	require.NoError(t, err)

	hs256, err := jwt.NewWithClaims(jwt.SigningMethodHS256, good()).SignedString([]byte("hs256-key-of-at-least-32-bytes!!"))
	require.NoError(t, err)

	with := func(key string, val any) string {
		c := good()
		if val == nil {
			delete(c, key)
		} else {
			c[key] = val
		}
		return v.header(t, c)
	}
	signedByOther := strings.Replace(other.header(t, good()), other.k, v.k, 1)
	bad := map[string]string{
		"exp beyond 24h":     with("exp", now.Add(25*time.Hour).Unix()),
		"expired":            with("exp", now.Add(-time.Minute).Unix()),
		"missing exp":        with("exp", nil),
		"wrong aud":          with("aud", "https://other.example.net"),
		"mailto:mailto: sub": with("sub", "mailto:mailto:ops@example.com"),
		"missing sub":        with("sub", nil),
		"wrong signing key":  signedByOther,
		"alg HS256":          "vapid t=" + hs256 + ", k=" + v.k,
		"scheme WebPush":     strings.Replace(v.header(t, good()), "vapid", "WebPush", 1),
		"short k":            v.header(t, good())[:len(v.header(t, good()))-2],
		"empty":              "",
	}
	for name, h := range bad {
		_, _, err := VerifyVAPID(h, aud, now)
		require.Error(t, err, name)
	}
}

// sender posts encrypted Web Push requests to devices of one server.
type sender struct {
	t   testing.TB
	s   *Server
	v   vapidSigner
	sub string
}

func (x sender) request(d *Device, plain string, header map[string]string) *http.Request {
	body := encrypt(x.t, b64(x.t, d.P256dh), b64(x.t, d.Auth), []byte(plain), nil, nil, 4096, 1024, 2)
	req, err := http.NewRequest(http.MethodPost, d.Endpoint, bytes.NewReader(body))
	require.NoError(x.t, err)
	u, err := url.Parse(d.Endpoint)
	require.NoError(x.t, err)
	req.Header.Set("Content-Encoding", "aes128gcm")
	req.Header.Set("TTL", "60")
	req.Header.Set("Authorization", x.v.header(x.t, jwt.MapClaims{
		"aud": u.Scheme + "://" + u.Host, "exp": time.Now().Add(time.Hour).Unix(), "sub": x.sub,
	}))
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	return req
}

func (x sender) send(d *Device, plain string, header map[string]string) int {
	resp, err := http.DefaultClient.Do(x.request(d, plain, header))
	require.NoError(x.t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	v := newSigner(t)
	s := New(t, WithVAPIDPublicKey(v.k))
	x := sender{t, s, v, "mailto:ops@example.com"}
	d := s.NewDevice()
	require.Equal(t, s.URL+"/push/"+d.ID, d.Endpoint)

	require.Equal(t, http.StatusCreated, x.send(d, "hello", map[string]string{"Urgency": "high", "Topic": "news"}))
	msgs := s.WaitFor(t, d, 1, 20*time.Second)
	require.Equal(t, "hello", string(msgs[0].Payload))
	require.Equal(t, "60", msgs[0].TTL)
	require.Equal(t, "high", msgs[0].Urgency)
	require.Equal(t, "news", msgs[0].Topic)
	require.Equal(t, http.StatusCreated, msgs[0].Status)
	require.Equal(t, "mailto:ops@example.com", msgs[0].Claims["sub"])
	require.Empty(t, msgs[0].Err)

	s.Respond(d, Response{Status: http.StatusTooManyRequests, Header: map[string]string{"Retry-After": "1"}}, Response{Status: http.StatusGone})
	resp, err := http.DefaultClient.Do(x.request(d, "a", nil))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	require.Equal(t, http.StatusGone, x.send(d, "b", nil))
	require.Equal(t, http.StatusGone, x.send(d, "c", nil), "last response repeats")

	ghost := &Device{ID: "nope", Endpoint: s.URL + "/push/nope", P256dh: d.P256dh, Auth: d.Auth}
	require.Equal(t, http.StatusNotFound, x.send(ghost, "x", nil))

	require.Equal(t, http.StatusBadRequest, x.send(d, "x", map[string]string{"TTL": ""}))
	require.Equal(t, http.StatusBadRequest, x.send(d, "x", map[string]string{"TTL": "-1"}))
	require.Equal(t, http.StatusBadRequest, x.send(d, "x", map[string]string{"Content-Encoding": "aesgcm"}))
	require.Equal(t, http.StatusBadRequest, x.send(d, "x", map[string]string{"Topic": "not/a+topic"}))
	require.Equal(t, http.StatusForbidden, sender{t, s, newSigner(t), x.sub}.send(d, "x", nil), "k= differs from the subscription key")
	require.Equal(t, http.StatusForbidden, sender{t, s, v, "mailto:mailto:ops@example.com"}.send(d, "x", nil))

	// A body encrypted for another device decrypts to garbage: 400.
	other := s.NewDevice()
	req := x.request(other, "x", nil)
	req.URL, _ = url.Parse(d.Endpoint)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	msgs = s.Messages(d)
	require.Len(t, msgs, 11)
	require.Len(t, s.Errors(), 7)
	require.Len(t, s.All(), 11)
	require.Equal(t, 12, s.Count(), "the 404 counts as a request")
	require.Equal(t, []int{201, 429, 410, 410, 400, 400, 400, 400, 403, 403, 400}, Statuses(msgs))
}

// TestDeviceAtAnotherHost: a device on a host of its own is served there,
// and its VAPID audience is that host's origin, not the main server's.
func TestDeviceAtAnotherHost(t *testing.T) {
	t.Parallel()
	v := newSigner(t)
	s := New(t, WithVAPIDPublicKey(v.k))
	x := sender{t, s, v, "mailto:ops@example.com"}
	d, err := s.NewDeviceAt("127.0.0.2")
	require.NoError(t, err)
	u, err := url.Parse(d.Endpoint)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.2", u.Hostname())
	same, err := s.NewDeviceAt("127.0.0.2")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(same.Endpoint, u.Scheme+"://"+u.Host+"/"), "one listener per host")

	require.Equal(t, http.StatusCreated, x.send(d, "hello", nil))
	require.Equal(t, "hello", string(s.WaitFor(t, d, 1, 20*time.Second)[0].Payload))

	req := x.request(d, "x", nil)
	req.Header.Set("Authorization", v.header(t, jwt.MapClaims{
		"aud": s.URL, "exp": time.Now().Add(time.Hour).Unix(), "sub": x.sub,
	}))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "the main server's audience is not this host's")
}

func TestDelayHonoursContext(t *testing.T) {
	t.Parallel()
	s := New(t)
	x := sender{t, s, newSigner(t), "https://example.com"}
	d := s.NewDevice()
	s.Respond(d, Response{Status: http.StatusCreated, Delay: time.Hour})

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := http.DefaultClient.Do(x.request(d, "slow", nil).WithContext(ctx))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	msgs := s.WaitFor(t, d, 1, 20*time.Second)
	require.Equal(t, 0, msgs[0].Status)
	require.Equal(t, "slow", string(msgs[0].Payload))
}

func TestConcurrentSampled(t *testing.T) {
	t.Parallel()
	s := New(t, WithDecryptSample(4))
	x := sender{t, s, newSigner(t), "mailto:ops@example.com"}
	devs := []*Device{s.NewDevice(), s.NewDevice(), s.NewDevice()}

	const perDevice = 20
	reqs := make([]*http.Request, 0, perDevice*len(devs))
	for i := range perDevice {
		for _, d := range devs {
			reqs = append(reqs, x.request(d, strings.Repeat("p", i), nil))
		}
	}
	var wg sync.WaitGroup
	for _, req := range reqs {
		wg.Go(func() {
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
		})
	}
	wg.Wait()

	require.Equal(t, len(reqs), s.Count())
	require.Empty(t, s.Errors())
	decrypted := 0
	for _, m := range s.All() {
		require.Equal(t, http.StatusCreated, m.Status)
		if m.Payload != nil {
			decrypted++
		}
	}
	require.Equal(t, len(reqs)/4, decrypted)
	for _, d := range devs {
		require.Len(t, s.WaitFor(t, d, perDevice, 20*time.Second), perDevice)
	}
}

// BenchmarkServer measures the server alone: one pre-encrypted request is
// replayed, so the numbers are the cost a benchmark of a sender pays.
func BenchmarkServer(b *testing.B) {
	for _, sample := range []int{1, 100} {
		b.Run("sample="+strconv.Itoa(sample), func(b *testing.B) {
			s := New(b, WithDecryptSample(sample))
			d := s.NewDevice()
			req := sender{b, s, newSigner(b), "mailto:ops@example.com"}.request(d, "benchmark payload", nil)
			body, _ := io.ReadAll(req.Body)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := req.Clone(context.Background())
					r.Body = io.NopCloser(bytes.NewReader(body))
					resp, err := client.Do(r)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
			if errs := s.Errors(); len(errs) > 0 {
				b.Fatal(errs[0])
			}
		})
	}
}

// TestDeviceBoundToKey: a device made WithKey accepts pushes signed with
// that key only, whatever the server expects of its other devices, and
// answers any other key 403, as FCM does for a subscription made with
// another applicationServerKey.
func TestDeviceBoundToKey(t *testing.T) {
	t.Parallel()
	a, b := newSigner(t), newSigner(t)
	s := New(t, WithVAPIDPublicKey(a.k))
	onA := s.NewDevice()
	onB := s.NewDevice(WithKey(b.k + "="))
	require.Equal(t, b.k, onB.Key, "stored raw")
	atHost, err := s.NewDeviceAt("127.0.0.3", WithKey(b.k))
	require.NoError(t, err)

	signedA, signedB := sender{t, s, a, "mailto:ops@example.com"}, sender{t, s, b, "mailto:ops@example.com"}
	require.Equal(t, http.StatusCreated, signedA.send(onA, "a", nil))
	require.Equal(t, http.StatusForbidden, signedB.send(onA, "b", nil))
	require.Equal(t, http.StatusCreated, signedB.send(onB, "b", nil))
	require.Equal(t, http.StatusForbidden, signedA.send(onB, "a", nil), "the server's key is not this device's")
	require.Equal(t, http.StatusCreated, signedB.send(atHost, "b", nil))
	require.Equal(t, http.StatusForbidden, signedA.send(atHost, "a", nil))

	msgs := s.Messages(onB)
	require.Equal(t, []int{201, 403}, Statuses(msgs))
	require.Equal(t, []string{b.k, a.k}, []string{msgs[0].Key, msgs[1].Key}, "the key each was signed with")
	require.Equal(t, "b", string(msgs[0].Payload))
	require.Contains(t, msgs[1].Err, "is not the subscription's application server key")
}
