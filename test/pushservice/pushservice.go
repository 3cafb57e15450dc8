// Package pushservice is a fake Web Push service (think FCM or Mozilla
// autopush) for tests and benchmarks. It runs on loopback through
// net/http/httptest and checks what a real push service checks: the RFC 8030
// request headers, the RFC 8292 VAPID Authorization header and, through its
// own RFC 8291 implementation, that the payload decrypts for the subscription.
//
// It uses the standard library only, so a bug in a sender's Web Push library
// cannot hide behind the same bug in the test double.
package pushservice

import (
	"bytes"
	"cmp"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// maxBody is the request body limit. RFC 8030 forbids a 413 for bodies of
// 4096 bytes or less; 8 KiB leaves room for senders with larger records.
const maxBody = 8 << 10

// Server is a loopback push service. Create one with New.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:port. It is also the VAPID
	// audience, since it is the origin of every endpoint (but those of
	// NewDeviceAt, each on its own listener and origin).
	URL string

	vapidKey string        // required k= (raw base64url), or "" for any
	sample   uint64        // decrypt every sample-th request
	seq      atomic.Uint64 // requests received, also the sampling clock

	// mu guards the fields below. One lock is enough because it is only held
	// for map lookups and slice appends, never across I/O or crypto.
	mu      sync.Mutex
	devices map[string]*device
	all     []Message
	hosts   map[string]*httptest.Server // NewDeviceAt's listeners, by host

	ts *httptest.Server
}

// device is the server-side state of one subscription.
type device struct {
	*Device
	msgs    []Message
	script  []Response
	next    int
	waiting int // requests held by a scripted Delay right now
}

// Option configures a Server in New.
type Option func(*Server)

// WithVAPIDPublicKey makes the server accept only requests whose k= parameter
// is k (base64url, raw or padded), like a subscription created with an
// applicationServerKey. Without it any valid key is accepted.
func WithVAPIDPublicKey(k string) Option {
	return func(s *Server) { s.vapidKey = strings.TrimRight(k, "=") }
}

// WithDecryptSample makes the server decrypt, and check the VAPID signature
// of, only every n-th request, starting with the first. The others still get
// every cheap check (headers, Authorization shape, key, JWT claims, body
// header), so benchmarks measure the sender rather than the server's ECDH and
// ECDSA work. n < 1 means 1: check everything.
func WithDecryptSample(n int) Option {
	return func(s *Server) { s.sample = uint64(max(n, 1)) }
}

// New starts a push service on loopback. tb.Cleanup closes it.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := Start(opts...)
	tb.Cleanup(s.Close)
	return s
}

// Start starts a push service on loopback, for programs (the benchmark
// harness) that have no testing.TB. Close stops it.
func Start(opts ...Option) *Server {
	s := &Server{sample: 1, devices: make(map[string]*device), hosts: make(map[string]*httptest.Server)}
	for _, o := range opts {
		o(s)
	}
	s.ts = httptest.NewUnstartedServer(nil)
	s.ts.Config.Handler = s.handler("http://" + s.ts.Listener.Addr().String())
	s.ts.Start()
	s.URL = s.ts.URL
	return s
}

// handler serves the push service at origin, the VAPID audience of the
// endpoints there: a real push service checks for its own.
func (s *Server) handler(origin string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /push/{id}", func(w http.ResponseWriter, r *http.Request) { s.handlePush(w, r, origin) })
	return mux
}

// Close stops the server and NewDeviceAt's listeners.
func (s *Server) Close() {
	s.ts.Close()
	s.mu.Lock()
	hosts := s.hosts
	s.hosts = map[string]*httptest.Server{}
	s.mu.Unlock()
	for _, ts := range hosts {
		ts.Close()
	}
}

// Device is one simulated browser subscription: what a browser's
// PushSubscription.toJSON() hands to an application server.
type Device struct {
	ID       string // path segment of the endpoint
	Endpoint string // s.URL + "/push/" + ID (NewDeviceAt: its host's URL)
	P256dh   string // raw base64url 65-byte uncompressed P-256 public key
	Auth     string // raw base64url 16-byte authentication secret
	// Key is the application server key the subscription was made with
	// (WithKey; raw base64url), or "" for the server's (WithVAPIDPublicKey).
	Key string

	priv *ecdh.PrivateKey
	auth []byte
}

// DeviceOption configures a device made by NewDevice or NewDeviceAt.
type DeviceOption func(*Device)

// WithKey binds the device to an application server key (base64url, raw or
// padded), as pushManager.subscribe({applicationServerKey}) binds a
// browser's subscription: a push signed with any other VAPID key is
// answered 403, as FCM does, whatever WithVAPIDPublicKey says.
func WithKey(publicKey string) DeviceOption {
	return func(d *Device) { d.Key = strings.TrimRight(publicKey, "=") }
}

// NewDevice creates a subscription with fresh keys. It answers 201 until
// Respond says otherwise.
func (s *Server) NewDevice(opts ...DeviceOption) *Device {
	return s.newDevice(s.URL, opts)
}

// NewDeviceAt is NewDevice with the endpoint on host (a loopback address
// such as 127.0.0.2), served by a listener of its own: many
// endpoint hosts, as a sender meets across push services and their
// subdomains. The listener is started on the host's first device.
func (s *Server) NewDeviceAt(host string, opts ...DeviceOption) (*Device, error) {
	s.mu.Lock()
	ts := s.hosts[host]
	s.mu.Unlock()
	if ts == nil {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("pushservice: listening on %s: %w", host, err)
		}
		started := &httptest.Server{Listener: l, Config: &http.Server{Handler: s.handler("http://" + l.Addr().String())}}
		started.Start()
		s.mu.Lock()
		if ts = s.hosts[host]; ts == nil { // another caller may have started one meanwhile
			ts, s.hosts[host] = started, started
		}
		s.mu.Unlock()
		if ts != started {
			started.Close()
		}
	}
	return s.newDevice(ts.URL, opts), nil
}

func (s *Server) newDevice(baseURL string, opts []DeviceOption) *Device {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	auth, id := make([]byte, 16), make([]byte, 12)
	rand.Read(auth)
	rand.Read(id)
	d := &Device{
		ID:     hex.EncodeToString(id),
		P256dh: base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()),
		Auth:   base64.RawURLEncoding.EncodeToString(auth),
		priv:   priv,
		auth:   auth,
	}
	d.Endpoint = baseURL + "/push/" + d.ID
	for _, o := range opts {
		o(d)
	}
	s.mu.Lock()
	s.devices[d.ID] = &device{Device: d, script: []Response{{Status: http.StatusCreated}}}
	s.mu.Unlock()
	return d
}

// Response is one scripted answer of a device.
type Response struct {
	Status int               // HTTP status; 0 means 201
	Header map[string]string // extra headers, e.g. Retry-After for a 429
	Body   string
	// Delay is how long to wait before answering. If the client gives up
	// first, nothing is answered and the Message records Status 0.
	Delay time.Duration
}

// Respond sets the answers d gives to accepted requests, in order; the last
// one repeats forever. Requests that fail verification (400, 403, 413) do not
// use up an answer. With no responses, d goes back to answering 201.
func (s *Server) Respond(d *Device, rs ...Response) {
	if len(rs) == 0 {
		rs = []Response{{Status: http.StatusCreated}}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dev := s.devices[d.ID]
	if dev == nil {
		panic("pushservice: Respond for a device of another server")
	}
	dev.script, dev.next = slices.Clone(rs), 0
}

// Message is one request the server received for a known device, whatever
// status it answered.
type Message struct {
	DeviceID string
	// Status is what the server answered; 0 if the client went away during a
	// scripted Delay.
	Status              int
	TTL, Urgency, Topic string // request headers as sent
	// Payload is the decrypted plaintext; nil if the request was not sampled
	// for decryption or failed verification.
	Payload []byte
	Claims  map[string]any // VAPID JWT claims, if the token could be parsed
	Err     string         // verification or decryption failure, "" if none
	// Received is when the request arrived.
	Received time.Time
	// Key is the VAPID public key (k=, raw base64url) the push was signed
	// with, if the Authorization header named one.
	Key string
}

// Messages returns a copy of the messages received for d, in arrival order.
func (s *Server) Messages(d *Device) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	if dev := s.devices[d.ID]; dev != nil {
		return slices.Clone(dev.msgs)
	}
	return nil
}

// Statuses lists what was answered to each of msgs, in order: a test's
// compact view of a device's history.
func Statuses(msgs []Message) []int {
	out := make([]int, len(msgs))
	for i, m := range msgs {
		out[i] = m.Status
	}
	return out
}

// All returns a copy of the messages of all devices, in the order they were
// recorded.
func (s *Server) All() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.all)
}

// Waiting returns how many requests for d are being held by a scripted Delay
// right now: they arrived, passed verification and took their answer. A test
// that must act while a sender's request is in flight (kill the sender, say)
// waits for this rather than for some earlier sign that a send has begun.
func (s *Server) Waiting(d *Device) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if dev := s.devices[d.ID]; dev != nil {
		return dev.waiting
	}
	return 0
}

// Count returns the number of push requests received, including those for
// unknown devices. It is one atomic load, cheap enough for benchmark loops.
func (s *Server) Count() int { return int(s.seq.Load()) }

// Errors returns every verification error seen, each prefixed with the
// device ID, so a test can assert that a sender produced none.
func (s *Server) Errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []string
	for _, m := range s.all {
		if m.Err != "" {
			errs = append(errs, m.DeviceID+": "+m.Err)
		}
	}
	return errs
}

// WaitFor polls until d has at least n messages and returns them. Senders
// often deliver asynchronously, so tests wait for the effect rather than
// sleep; on timeout it fails the test with tb.Fatalf.
func (s *Server) WaitFor(tb testing.TB, d *Device, n int, timeout time.Duration) []Message {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs := s.Messages(d)
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			tb.Fatalf("pushservice: device %s got %d messages in %v, want >= %d; errors: %q",
				d.ID, len(msgs), timeout, n, s.Errors())
			return nil
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (s *Server) handlePush(w http.ResponseWriter, r *http.Request, origin string) {
	seq := s.seq.Add(1)
	s.mu.Lock()
	dev := s.devices[r.PathValue("id")]
	s.mu.Unlock()
	if dev == nil {
		// RFC 8030 §7.3: expired or unknown subscriptions get 404.
		http.Error(w, "no such subscription", http.StatusNotFound)
		return
	}
	m := Message{
		DeviceID: dev.ID,
		TTL:      r.Header.Get("TTL"),
		Urgency:  r.Header.Get("Urgency"),
		Topic:    r.Header.Get("Topic"),
		Received: time.Now(),
	}
	var resp Response
	if status, err := s.verify(r, origin, dev.Device, (seq-1)%s.sample == 0, &m); err != nil {
		m.Err = err.Error()
		resp = Response{Status: status, Body: m.Err + "\n"}
	} else {
		// Take the scripted answer at arrival, so answers follow arrival
		// order even when delays overlap.
		s.mu.Lock()
		resp = dev.script[min(dev.next, len(dev.script)-1)]
		dev.next++
		s.mu.Unlock()
	}
	m.Status = cmp.Or(resp.Status, http.StatusCreated)
	if resp.Delay > 0 {
		s.mu.Lock()
		dev.waiting++
		s.mu.Unlock()
		select {
		case <-time.After(resp.Delay):
		case <-r.Context().Done():
			m.Status = 0
		}
		s.mu.Lock()
		dev.waiting--
		s.mu.Unlock()
	}
	s.mu.Lock()
	dev.msgs = append(dev.msgs, m)
	s.all = append(s.all, m)
	s.mu.Unlock()
	if m.Status == 0 {
		return
	}
	for k, v := range resp.Header {
		w.Header().Set(k, v)
	}
	// RFC 8030 §5: a 201 MUST name the push message resource in Location.
	if m.Status == http.StatusCreated && w.Header().Get("Location") == "" {
		w.Header().Set("Location", origin+"/message/"+strconv.FormatUint(seq, 10))
	}
	w.WriteHeader(m.Status)
	io.WriteString(w, resp.Body)
}

// verify runs a push service's checks in the order a real one rejects:
// request headers (400), body size (413), VAPID (403), then the encrypted
// body (400). full adds the expensive ECDSA verification and decryption.
// It returns the status to answer on failure.
func (s *Server) verify(r *http.Request, origin string, d *Device, full bool, m *Message) (int, error) {
	const digits = "0123456789"
	const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" + digits + "-_"
	h := r.Header
	if ce := h.Values("Content-Encoding"); len(ce) != 1 || !strings.EqualFold(strings.TrimSpace(ce[0]), "aes128gcm") {
		return 400, fmt.Errorf("Content-Encoding must be exactly aes128gcm, got %q", ce)
	}
	if ttl := h.Values("TTL"); len(ttl) != 1 || ttl[0] == "" || strings.Trim(ttl[0], digits) != "" {
		return 400, fmt.Errorf("TTL must be one non-negative integer, got %q", ttl)
	}
	if u := h.Values("Urgency"); len(u) > 1 || len(u) == 1 && !slices.Contains([]string{"very-low", "low", "normal", "high"}, u[0]) {
		return 400, fmt.Errorf("invalid Urgency %q", u)
	}
	if t := h.Values("Topic"); len(t) > 1 || len(t) == 1 && (t[0] == "" || len(t[0]) > 32 || strings.Trim(t[0], b64url) != "") {
		return 400, fmt.Errorf("invalid Topic %q: want at most 32 base64url characters", t)
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
		return 413, fmt.Errorf("body larger than %d bytes", maxBody)
	} else if err != nil {
		return 400, fmt.Errorf("reading body: %w", err)
	}

	claims, key, err := verifyVAPID(h.Get("Authorization"), origin, time.Now(), full)
	m.Claims, m.Key = claims, strings.TrimRight(key, "=")
	if err != nil {
		return 403, fmt.Errorf("vapid: %w", err)
	}
	// A subscription is bound to the key it was made with: its own, else
	// the one the whole server was told to expect.
	want := cmp.Or(d.Key, s.vapidKey)
	if key = strings.TrimRight(key, "="); want != "" && key != want {
		return 403, fmt.Errorf("vapid: k=%s is not the subscription's application server key", key)
	}

	hdr, err := parseHeader(body)
	if err != nil {
		return 400, fmt.Errorf("aes128gcm: %w", err)
	}
	// RFC 8292 §2: the signing key MUST differ from the message ECDH key.
	if base64.RawURLEncoding.EncodeToString(hdr.keyID) == key {
		return 400, errors.New("VAPID key reused as the message ECDH key")
	}
	if full {
		p, err := Decrypt(d.priv, d.auth, body)
		if err != nil {
			return 400, err
		}
		// Clone so a stored Message does not pin the whole padded record.
		m.Payload = bytes.Clone(p)
	}
	return 0, nil
}
