// Package webpush is the PushSender adapter on webpush-go v1.4.0. It works
// around that version's traps: it always sets TTL (the library's zero value
// sends "TTL: 0", which push services drop for an offline device), never
// passes a "mailto:" subject through (the library adds its own), copies the
// payload per send (the library appends into the caller's slice), shares one
// HTTP client with timeouts, and keeps records small for Firefox on Android.
package webpush

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	webpushgo "github.com/SherClockHolmes/webpush-go"

	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/ports"
)

// Record sizes. webpush-go pads every body to exactly RecordSize; the
// encrypted overhead is 103 bytes (86 header + 16 tag + 1 delimiter).
// Firefox for Android answers 413 above about 3 KB, so that is the ceiling;
// smaller buckets keep the common message small on the wire while still
// hiding its exact length.
const (
	recordOverhead = 103
	MaxRecordSize  = 3000
)

var recordBuckets = []int{1024, 2048, MaxRecordSize}

// DefaultTimeout bounds one request to a push service.
const DefaultTimeout = 10 * time.Second

// Keyring is where the sender finds the key pair a subscription was made
// with, by the key ID the subscription records: a push service refuses a
// push signed with any other.
type Keyring interface {
	Key(id int) (domain.VAPIDKey, bool)
}

// Config configures the Sender.
type Config struct {
	Keys Keyring
	// Subject is the VAPID contact: "mailto:ops@example.com" or an https URL.
	Subject string
	// Timeout bounds one request (connect to last byte); 0 means DefaultTimeout.
	Timeout time.Duration
	// AllowLoopback lets connections to loopback addresses through
	// (PUSH_ALLOW_LOOPBACK); every other non-public address is refused.
	AllowLoopback bool
	// Concurrency is how many sends may be in flight at once (WORKERS):
	// that many connections to one push service are kept open between
	// sends. Fewer would close and redial connections under load (a TCP
	// and TLS handshake each); 0 means DefaultConcurrency.
	Concurrency int
}

// DefaultConcurrency is Config.Concurrency's default.
const DefaultConcurrency = 64

// Sender implements ports.PushSender.
type Sender struct {
	keys       Keyring
	subscriber string
	client     *http.Client
}

var _ ports.PushSender = (*Sender)(nil)

// NewSender returns a Sender with one shared HTTP client: connections to a
// push service are reused across sends instead of one handshake per message.
func NewSender(cfg Config) *Sender {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = cmp.Or(cfg.Concurrency, DefaultConcurrency)
	t.MaxIdleConns = 0 // no limit across push services: each host has its own
	t.ResponseHeaderTimeout = cfg.Timeout
	// The address is checked again at connect time, after DNS; no proxy,
	// which would make the dialled address the proxy's.
	t.DialContext = AddressGuard{AllowLoopback: cfg.AllowLoopback}.DialContext
	t.Proxy = nil
	return &Sender{
		keys: cfg.Keys,
		// webpush-go prefixes "mailto:" unless the subject starts with
		// "https:", so a configured "mailto:x" would become "mailto:mailto:x".
		subscriber: strings.TrimPrefix(cfg.Subject, "mailto:"),
		client: &http.Client{
			Timeout:   cfg.Timeout,
			Transport: t,
			// A push service answers; it never redirects. Following one
			// would let an endpoint bounce us to an arbitrary URL.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// Send implements ports.PushSender. It signs with the subscription's own
// key; when that key may not sign (revoked, its private half not here, or
// unknown), nothing is sent and the outcome is OutcomeWithheld.
func (s *Sender) Send(ctx context.Context, sub domain.Subscription, n domain.Notification) (domain.PushResult, error) {
	key, ok := s.keys.Key(sub.VAPIDKeyID)
	if !ok {
		return domain.PushResult{Outcome: domain.OutcomeWithheld, Reason: domain.WithheldUnknownKey}, nil
	}
	if !key.CanSign() {
		return domain.PushResult{Outcome: domain.OutcomeWithheld, Reason: key.WhyNotSigning()}, nil
	}
	payload, err := Payload(n)
	if err != nil {
		return domain.PushResult{Outcome: domain.OutcomeRejected, Reason: "payload"}, err
	}
	rs, ok := recordSize(len(payload))
	if !ok {
		err := fmt.Errorf("payload of %d bytes exceeds the %d-byte record limit", len(payload), MaxRecordSize-recordOverhead)
		return domain.PushResult{Outcome: domain.OutcomeRejected, Reason: "payload too large"}, err
	}
	resp, err := webpushgo.SendNotificationWithContext(ctx, payload, &webpushgo.Subscription{
		Endpoint: sub.Endpoint,
		Keys: webpushgo.Keys{
			P256dh: domain.EncodeBase64URL(sub.P256dh),
			Auth:   domain.EncodeBase64URL(sub.Auth),
		},
	}, &webpushgo.Options{
		HTTPClient:      s.client,
		Subscriber:      s.subscriber,
		VAPIDPublicKey:  key.PublicKey,
		VAPIDPrivateKey: key.PrivateKey,
		TTL:             ttlSeconds(n.TTL),
		Urgency:         webpushgo.Urgency(n.Urgency),
		Topic:           n.Topic,
		RecordSize:      uint32(rs),
	})
	if err != nil {
		return failure(err)
	}
	defer drain(resp.Body)
	return Classify(resp.StatusCode, resp.Header, readReason(resp.Body), time.Now()), nil
}

// failure classifies an error that left no HTTP response.
func failure(err error) (domain.PushResult, error) {
	var refused *ErrAddressRefused
	if errors.As(err, &refused) {
		// Permanent: the endpoint points somewhere no push service is.
		return domain.PushResult{Outcome: domain.OutcomeRejected, Reason: "address refused"}, refused
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		// *url.Error's message contains the full endpoint: keep only the cause.
		cause := uerr.Err
		reason := "network error"
		if uerr.Timeout() {
			reason = "timeout"
		}
		return domain.PushResult{Outcome: domain.OutcomeTransient, Reason: reason}, fmt.Errorf("%s: %w", reason, cause)
	}
	// Anything else failed before the request was built: bad keys, encryption.
	return domain.PushResult{Outcome: domain.OutcomeRejected, Reason: "encryption"}, err
}

// Classify maps a push service's answer to an outcome (API.md, "Delivery rules").
func Classify(status int, h http.Header, reason string, now time.Time) domain.PushResult {
	r := domain.PushResult{StatusCode: status, Reason: reason}
	retryAfter, hasRetryAfter := ParseRetryAfter(h.Get("Retry-After"), now)
	switch {
	case status >= 200 && status < 300:
		r.Outcome, r.Reason = domain.OutcomeDelivered, ""
	case status == http.StatusNotFound || status == http.StatusGone:
		r.Outcome = domain.OutcomeGone
	case status == http.StatusTooManyRequests,
		// Legacy Edge (WNS) throttles with 406 and x-wns-status: appthrottled.
		status == http.StatusNotAcceptable && strings.EqualFold(h.Get("X-WNS-Status"), "appthrottled"):
		r.Outcome = domain.OutcomeRateLimited
	case status >= 500, status == http.StatusRequestTimeout:
		r.Outcome = domain.OutcomeTransient
	default:
		// 400 (bad TTL/Topic/encryption), 401/403 (VAPID key mismatch), 413,
		// and redirects, which are not followed.
		r.Outcome = domain.OutcomeRejected
	}
	if hasRetryAfter && r.Outcome != domain.OutcomeDelivered {
		r.RetryAfter = retryAfter
	}
	return r
}

// ParseRetryAfter reads a Retry-After value: delta-seconds or an HTTP date.
// A date in the past gives 0. ok is false for an absent or unreadable value.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	// Cap before multiplying so a huge value cannot overflow.
	const maxSecs = int64(365 * 24 * time.Hour / time.Second)
	secs, err := strconv.ParseInt(v, 10, 64)
	if errors.Is(err, strconv.ErrRange) && v[0] != '-' {
		secs, err = maxSecs, nil
	}
	if err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, maxSecs)) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// recordSize picks the smallest bucket that holds the payload.
func recordSize(payloadLen int) (int, bool) {
	for _, b := range recordBuckets {
		if payloadLen+recordOverhead <= b {
			return b, true
		}
	}
	return 0, false
}

// ttlSeconds always yields a TTL: webpush-go sends "TTL: 0" for zero, which
// means "drop unless the device is online right now".
func ttlSeconds(d time.Duration) int {
	if d <= 0 {
		return 60 // unset: a minute, never "now or never"
	}
	// Round up: a message with half a second left still gets TTL 1.
	return int((d + time.Second - 1) / time.Second)
}

// readReason keeps the start of an error body on one line, for logs.
func readReason(body io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(body, 512))
	return strings.Join(strings.Fields(string(bytes.ToValidUTF8(b, nil))), " ")
}

// drain lets the connection be reused: an unread body closes it.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}

// payload is the JSON the service worker reads (the seed's service-worker.js).
// Field names are the Notifications API's options; optional ones are omitted
// when unset, to keep the record small.
type payload struct {
	Title              string         `json:"title"`
	Body               string         `json:"body"`
	Icon               string         `json:"icon,omitempty"`
	Badge              string         `json:"badge,omitempty"`
	Tag                string         `json:"tag,omitempty"`
	RequireInteraction bool           `json:"requireInteraction"`
	Renotify           bool           `json:"renotify,omitempty"`
	Timestamp          int64          `json:"timestamp,omitempty"` // ms since the Unix epoch
	Data               map[string]any `json:"data"`
}

// Payload renders n as the push message body. It returns a fresh slice each
// call, which also sidesteps webpush-go v1.4.0's write into the caller's slice.
func Payload(n domain.Notification) ([]byte, error) {
	data := make(map[string]any, len(n.Data)+2)
	for k, v := range n.Data {
		data[k] = v
	}
	data["type"] = n.Type
	data["url"] = n.URL
	p := payload{
		Title: n.Title, Body: n.Body, Icon: n.Icon, Badge: n.Badge, Tag: n.Tag,
		RequireInteraction: n.RequireInteraction, Data: data,
		// Without a tag there is nothing to replace, and Chrome throws a
		// TypeError for renotify with an empty tag.
		Renotify: n.Renotify && n.Tag != "",
	}
	// The zero time (year 1) means "not sent"; so does anything else not
	// after the epoch: the browser reads the value as unsigned and a negative
	// one would wrap.
	if ms := n.Timestamp.UnixMilli(); ms > 0 {
		p.Timestamp = ms
	}
	// No HTML escaping: the worker hands the texts to showNotification, never
	// to HTML, and "<" as six bytes would break domain.MaxTextBytes' budget.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
