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
)

var outcomeNames = map[Outcome]string{
	OutcomeDelivered:   "delivered",
	OutcomeGone:        "gone",
	OutcomeRateLimited: "rate_limited",
	OutcomeTransient:   "retry",
	OutcomeRejected:    "rejected",
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
