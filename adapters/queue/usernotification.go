package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/evpower/evpush/app"
	"github.com/evpower/evpush/domain"
)

// UserNotification is the job a backend inserts to tell one user anything
// ("payment received", "station offline", …). Kind "user_notification",
// queue evpush_events; its JSON is a stable contract (README, "General
// notifications").
type UserNotification struct {
	// UserID is whom it is for: a JSON string, or an integer for backends
	// with numeric ids (42 means "42").
	UserID string `json:"user_id" river:"unique"`
	// UserType says which of the user's subscriptions hear it: "client" or "owner".
	UserType string `json:"user_type" river:"unique"`
	// Title and Body map a language to its text: {"ru": "…", "en": "…"}.
	Title map[string]string `json:"title"`
	Body  map[string]string `json:"body"`
	// URL is the click target, a path on the PWA's origin.
	URL string `json:"url,omitempty"`
	Tag string `json:"tag,omitempty"`
	// TTLSeconds defaults to 86400 (one day), at most 2419200 (28 days).
	TTLSeconds *int `json:"ttl_seconds,omitempty"`
	// Urgency is very-low, low, normal (the default) or high.
	Urgency string `json:"urgency,omitempty"`
	// DedupeKey makes the job unique per user, role and key (see
	// InsertOpts).
	DedupeKey string `json:"dedupe_key,omitempty" river:"unique"`
	// Category, when set, lets the user switch such messages off
	// ("marketing"; 1 to 64 of a-z 0-9 _ . -): a user who did hears nothing.
	// A category the user never switched is on.
	Category string `json:"category,omitempty"`

	// decodeErr keeps why the job's JSON did not decode: River would
	// otherwise retry a malformed job for as long as its attempts last.
	decodeErr error
}

// Kind implements river.JobArgs.
func (UserNotification) Kind() string { return KindUserNotification }

// KindUserNotification is the job kind of UserNotification.
const KindUserNotification = "user_notification"

// InsertOpts puts the job in the events queue. With a dedupe_key it is
// unique per user, role and key while River keeps the first job (as
// CompletedJobRetentionPeriod says): a second one is not inserted. River's
// unique args cannot leave out an empty key, so without one the job is not
// unique at all (every such job is a message of its own).
func (a UserNotification) InsertOpts() river.InsertOpts {
	if a.DedupeKey == "" {
		return river.InsertOpts{Queue: QueueEvents, MaxAttempts: eventMaxAttempts}
	}
	return eventInsertOpts
}

// UnmarshalJSON never fails: a job with malformed args is worked anyway and
// cancelled at once with the reason (see message), instead of being retried.
func (a *UserNotification) UnmarshalJSON(b []byte) error {
	type plain UserNotification // no methods: no recursion
	var p struct {
		plain
		UserID json.RawMessage `json:"user_id"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field == "":
			err = fmt.Errorf("must be a JSON object, not %s", typeErr.Value)
		case typeErr != nil:
			err = fmt.Errorf("%s: must be %s, not %s", strings.TrimPrefix(typeErr.Field, "plain."), jsonType(typeErr.Type.Kind()), typeErr.Value)
		}
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

// jsonType names a Go kind as JSON calls it, for decode errors.
func jsonType(k reflect.Kind) string {
	switch k {
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Pointer:
		return "an integer"
	}
	return k.String()
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
// applied (occurredAt: the job's creation time); an error only for args that
// did not decode. Validating it is the app's job (MessageSubscriptions).
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
	return domain.UserMessage{
		UserID: a.UserID, UserType: domain.UserType(a.UserType), Title: a.Title, Body: a.Body,
		URL: a.URL, Tag: a.Tag, TTL: ttl, Urgency: urgency, DedupeKey: a.DedupeKey, Category: a.Category,
		OccurredAt: occurredAt,
	}, nil
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

// Work validates the message and sends it to the user's devices in the
// role; a device that failed transiently gets a push_message_delivery retry
// job, unique per message and device.
func (w *userNotificationWorker) Work(ctx context.Context, job *river.Job[UserNotification]) error {
	m, err := job.Args.message(job.CreatedAt)
	if err != nil {
		return w.q.reject(job.JobRow, err)
	}
	key := job.Args.key(job.ID)
	var identity []string
	if job.Args.DedupeKey != "" {
		identity = []string{"user_id", "user_type", "dedupe_key"}
	}
	return workEvent(ctx, w.q, job, identity, func(ctx context.Context) ([]app.Sent, error) {
		return w.q.app.SendMessage(ctx, m)
	}, func(s app.Sent) river.JobArgs {
		return MessageDelivery{Key: key, SubscriptionID: s.Sub.ID, UserID: s.Sub.UserID, UserType: string(s.Sub.UserType),
			Message: job.Args, OccurredAt: m.OccurredAt}
	})
}

func (w *userNotificationWorker) Timeout(*river.Job[UserNotification]) time.Duration {
	return w.q.eventTimeout
}

// MessageDelivery is one user message to one subscription: a job kind of
// its own, so an older evpush worker (which knows only push_delivery) never
// takes one for a charging event during a rolling deploy.
type MessageDelivery struct {
	// Key and SubscriptionID make the job unique: a duplicate dedupe_key
	// or a re-run fan-out sends nothing twice to a device.
	Key            string `json:"key" river:"unique"`
	SubscriptionID string `json:"subscription_id" river:"unique"`
	// UserID and UserType are whom the subscription belonged to at fan-out.
	UserID   string `json:"user_id"`
	UserType string `json:"user_type"`
	// Message is the user_notification's args as given; its TTL counts
	// from OccurredAt, when that job was enqueued.
	Message    UserNotification `json:"message"`
	OccurredAt time.Time        `json:"occurred_at"`
}

// KindMessageDelivery is the job kind of MessageDelivery.
const KindMessageDelivery = "push_message_delivery"

// Kind implements river.JobArgs.
func (MessageDelivery) Kind() string { return KindMessageDelivery }

// InsertOpts: the deliveries queue and policy, unique as Delivery is.
func (MessageDelivery) InsertOpts() river.InsertOpts { return Delivery{}.InsertOpts() }

type messageDeliveryWorker struct {
	river.WorkerDefaults[MessageDelivery]
	q *Queue
}

// Work sends the message to one subscription.
func (w *messageDeliveryWorker) Work(ctx context.Context, job *river.Job[MessageDelivery]) error {
	log := w.q.deliveryLog(job.JobRow, job.Args.SubscriptionID, job.Args.Key)
	m, err := job.Args.Message.message(job.Args.OccurredAt)
	if err != nil {
		return w.q.reject(job.JobRow, err)
	}
	to := domain.Recipient{UserID: job.Args.UserID, UserType: domain.UserType(job.Args.UserType)}
	res, err := w.q.app.DeliverMessage(app.WithLogger(ctx, log), job.Args.SubscriptionID, to, m)
	return w.q.next(job.JobRow, log, res, err)
}
