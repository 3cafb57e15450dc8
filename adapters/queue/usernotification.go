package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"github.com/evpower/evpush/domain"
)

// UserNotification is the job a backend inserts to tell one user anything
// ("payment received", "station offline", …). Kind "user_notification",
// queue evpush_events; its JSON is a stable contract (README, "General
// notifications").
type UserNotification struct {
	// UserID is whom it is for: a JSON string, or an integer for backends
	// with numeric ids (42 means "42").
	UserID string `json:"user_id"`
	// UserType says which of the user's subscriptions hear it: "client" or "owner".
	UserType string `json:"user_type"`
	// Title and Body map a language to its text: {"ru": "…", "en": "…"}.
	Title map[string]string `json:"title"`
	Body  map[string]string `json:"body"`
	// URL is the click target, a path on the PWA's origin.
	URL string `json:"url,omitempty"`
	Tag string `json:"tag,omitempty"`
	// TTLSeconds defaults to 86400 (one day), at most 2419200 (28 days).
	TTLSeconds *int `json:"ttl_seconds,omitempty"`
	// Urgency is very-low, low, normal (the default) or high.
	Urgency   string `json:"urgency,omitempty"`
	DedupeKey string `json:"dedupe_key,omitempty"`

	// decodeErr keeps why the job's JSON did not decode: River would
	// otherwise retry a malformed job for as long as its attempts last.
	decodeErr error
}

// Kind implements river.JobArgs.
func (UserNotification) Kind() string { return KindUserNotification }

// KindUserNotification is the job kind of UserNotification.
const KindUserNotification = "user_notification"

// InsertOpts puts the job in the events queue.
func (UserNotification) InsertOpts() river.InsertOpts { return eventInsertOpts }

// UnmarshalJSON never fails: a job with malformed args is worked anyway and
// cancelled at once with the reason (see message), instead of being retried.
func (a *UserNotification) UnmarshalJSON(b []byte) error {
	type plain UserNotification // no methods: no recursion
	var p struct {
		plain
		UserID json.RawMessage `json:"user_id"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		*a = UserNotification{decodeErr: fmt.Errorf("args are not a valid user_notification: %w", err)}
		return nil
	}
	*a = UserNotification(p.plain)
	a.UserID, a.decodeErr = userID(p.UserID)
	return nil
}

// MarshalJSON writes the contract's fields (decodeErr is never written).
func (a UserNotification) MarshalJSON() ([]byte, error) {
	type plain UserNotification
	return json.Marshal(plain(a))
}

// userID reads a string, or an integer written as a JSON number.
func userID(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil // missing: Validate names it
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return strconv.FormatInt(n, 10), nil
	}
	return "", errors.New("user_id: must be a string or an integer")
}

// message is the domain message the args describe, with the defaults
// applied; occurredAt is the job's creation time.
func (a UserNotification) message(occurredAt time.Time) (domain.UserMessage, error) {
	if a.decodeErr != nil {
		return domain.UserMessage{}, domain.Invalid("args", a.decodeErr.Error())
	}
	ttl := domain.DefaultUserMessageTTL
	if a.TTLSeconds != nil {
		ttl = time.Duration(*a.TTLSeconds) * time.Second
		if *a.TTLSeconds <= 0 {
			ttl = 0 // Validate refuses it; also guards the multiplication's overflow
		} else if *a.TTLSeconds > int(domain.MaxUserMessageTTL.Seconds()) {
			ttl = domain.MaxUserMessageTTL + time.Second
		}
	}
	urgency := domain.UrgencyNormal
	if a.Urgency != "" {
		urgency = domain.Urgency(a.Urgency)
	}
	m := domain.UserMessage{
		UserID: a.UserID, UserType: domain.UserType(a.UserType), Title: a.Title, Body: a.Body,
		URL: a.URL, Tag: a.Tag, TTL: ttl, Urgency: urgency, DedupeKey: a.DedupeKey, OccurredAt: occurredAt,
	}
	return m, m.Validate()
}

// key identifies the message for per-device deduplication: its dedupe_key,
// else the job itself (a job is one message, whatever its retries).
func (a UserNotification) key(jobID int64) string {
	if a.DedupeKey != "" {
		return KindUserNotification + ":key:" + a.DedupeKey
	}
	return KindUserNotification + ":job:" + strconv.FormatInt(jobID, 10)
}

type userNotificationWorker struct {
	river.WorkerDefaults[UserNotification]
	q *Queue
}

// Work validates the message and fans it out to the user's devices in the
// role: one delivery job each, unique per message and device.
func (w *userNotificationWorker) Work(ctx context.Context, job *river.Job[UserNotification]) error {
	m, err := job.Args.message(job.CreatedAt)
	if err != nil {
		return w.q.reject(job.JobRow, err)
	}
	subs, err := w.q.h.MessageRecipients(w.q.jobContext(ctx, job.JobRow), m)
	if err != nil {
		return w.q.reject(job.JobRow, err)
	}
	payload := messagePayload{UserNotification: job.Args, OccurredAt: m.OccurredAt}
	return w.q.insertDeliveries(ctx, job.JobRow, job.Args.key(job.ID), subs, func(d *Delivery) { d.Message = &payload })
}

// messagePayload is a user message inside a Delivery: the job's args as
// given, and when it was enqueued (its TTL counts from then).
type messagePayload struct {
	UserNotification
	OccurredAt time.Time `json:"occurred_at"`
}

// MarshalJSON keeps both parts: UserNotification's own MarshalJSON would
// otherwise be promoted and drop occurred_at.
func (p messagePayload) MarshalJSON() ([]byte, error) {
	type plain UserNotification
	return json.Marshal(struct {
		plain
		OccurredAt time.Time `json:"occurred_at"`
	}{plain(p.UserNotification), p.OccurredAt})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (p *messagePayload) UnmarshalJSON(b []byte) error {
	var at struct {
		OccurredAt time.Time `json:"occurred_at"`
	}
	if err := json.Unmarshal(b, &at); err != nil {
		return err
	}
	if err := p.UserNotification.UnmarshalJSON(b); err != nil {
		return err
	}
	p.OccurredAt = at.OccurredAt
	return nil
}
