package domain

import "time"

// Outcome classifies what a push service answered, so the caller knows what
// to do next without looking at HTTP status codes.
type Outcome int

// The outcomes and what the service does with each.
const (
	// OutcomeDelivered: 2xx, the push service accepted the message.
	OutcomeDelivered Outcome = iota + 1
	// OutcomeGone: 404/410, the subscription no longer exists; delete it.
	OutcomeGone
	// OutcomeRateLimited: 429 (or WNS 406); wait RetryAfter, then try again.
	OutcomeRateLimited
	// OutcomeTransient: 5xx, timeout or network error; retry with backoff.
	OutcomeTransient
	// OutcomeRejected: 400/401/403/413 or a payload that cannot be encrypted;
	// permanent for this message, retrying would fail the same way.
	OutcomeRejected
	// OutcomeWithheld: nothing was sent, because the subscription's VAPID
	// key may not sign (revoked, or its private key is not here): any other
	// key would be refused. The device hears nothing until it moves to the
	// current key. Reason is one of the Withheld* values.
	OutcomeWithheld
)

var outcomeNames = map[Outcome]string{
	OutcomeDelivered:   "delivered",
	OutcomeGone:        "gone",
	OutcomeRateLimited: "rate_limited",
	OutcomeTransient:   "retry",
	OutcomeRejected:    "rejected",
	OutcomeWithheld:    "withheld",
}

// String is the outcome's label in logs and metrics.
func (o Outcome) String() string {
	if n, ok := outcomeNames[o]; ok {
		return n
	}
	return "unknown"
}

// PushResult is one push service's answer to one message.
type PushResult struct {
	Outcome    Outcome
	StatusCode int           // 0 when no HTTP response came back
	RetryAfter time.Duration // from Retry-After, when the service sent one
	Reason     string        // the service's explanation, shortened; never the endpoint
}

// Step is what happens next for one device after a push: the app decides
// it, the queue only translates it (a retry job, nothing, …).
type Step int

// The steps.
const (
	// StepDone: delivered; nothing more to do for this device.
	StepDone Step = iota + 1
	// StepRetry: try this device again after Decision.After (zero: the
	// retry policy's first delay).
	StepRetry
	// StepDrop: not retried (rejected, expired); Decision.Reason says why.
	StepDrop
	// StepGone: the subscription no longer exists at the push service;
	// delete it.
	StepGone
)

// Record is the bookkeeping a push leaves on its subscription's row.
type Record int

// The records; RecordNone writes nothing, since a write per message would
// make bookkeeping the most expensive part of a delivery.
const (
	RecordNone Record = iota
	// RecordSuccess resets failure_count and sets last_success_at.
	RecordSuccess
	// RecordFailure increments failure_count.
	RecordFailure
)

// Decision is the next step for one device and what to write about it.
type Decision struct {
	Step   Step
	After  time.Duration // StepRetry only
	Reason string        // why a retry or a drop: the push service's reason, never the endpoint
	Record Record
}

// Retry-After bounds: a push service asking for a day would park the retry
// past its relevance, and one asking for nothing gets a sensible pause.
const (
	DefaultRetryAfter = 30 * time.Second
	MaxRetryAfter     = time.Hour
)

// Decide maps a push's result to the device's next step. successDue says
// whether a success should be written (Subscription.NeedsSuccessRecorded);
// err is the sender's error, if any, for the reason.
func Decide(res PushResult, err error, successDue bool) Decision {
	reason := res.Reason
	if err != nil {
		reason = err.Error()
	}
	switch res.Outcome {
	case OutcomeDelivered:
		if successDue {
			return Decision{Step: StepDone, Record: RecordSuccess}
		}
		return Decision{Step: StepDone}
	case OutcomeGone:
		return Decision{Step: StepGone, Reason: reason}
	case OutcomeRateLimited:
		after := DefaultRetryAfter
		if res.RetryAfter > 0 {
			after = min(max(res.RetryAfter, time.Second), MaxRetryAfter)
		}
		return Decision{Step: StepRetry, After: after, Reason: reason, Record: RecordFailure}
	case OutcomeRejected:
		d := Decision{Step: StepDrop, Reason: reason}
		// Only the push service's answer says something about the device;
		// a message refused here (too large to encrypt) does not.
		if res.StatusCode != 0 {
			d.Record = RecordFailure
		}
		return d
	case OutcomeWithheld:
		// Neither retried nor counted against the device: it is not at
		// fault, and it comes back by moving to the current key.
		return Decision{Step: StepDrop, Reason: "vapid key " + reason}
	default:
		return Decision{Step: StepRetry, Reason: reason, Record: RecordFailure}
	}
}

// Bookkeeping is what a batch of pushes leaves on its subscriptions' rows
// (each Decision's Record, and StepGone), gathered so that it is written in
// one round trip together with what else the batch stores.
type Bookkeeping struct {
	// Gone are deleted if they still have this endpoint (a re-subscribe in
	// the meantime keeps its row).
	Gone []Subscription
	// Succeeded get failure_count 0 and last_success_at At; Failed get
	// failure_count + 1. Both are subscription IDs.
	Succeeded, Failed []string
	At                time.Time
}

// Empty reports whether there is nothing to write.
func (b Bookkeeping) Empty() bool {
	return len(b.Gone) == 0 && len(b.Succeeded) == 0 && len(b.Failed) == 0
}
