package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/domain"
)

func TestOutcomeString(t *testing.T) {
	t.Parallel()

	tests := []struct {
		outcome domain.Outcome
		want    string
	}{
		{outcome: domain.OutcomeDelivered, want: "delivered"},
		{outcome: domain.OutcomeGone, want: "gone"},
		{outcome: domain.OutcomeRateLimited, want: "rate_limited"},
		{outcome: domain.OutcomeTransient, want: "retry"},
		{outcome: domain.OutcomeRejected, want: "rejected"},
		{outcome: 0, want: "unknown"},
		{outcome: 99, want: "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.outcome.String())
		})
	}
}

func TestOutcomeZeroIsNotDelivered(t *testing.T) {
	t.Parallel()

	// A zero PushResult (e.g. from a sender that returned only an error) must
	// never count as a delivery.
	var r domain.PushResult
	require.NotEqual(t, domain.OutcomeDelivered, r.Outcome)
}

func TestDecide(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		res        domain.PushResult
		err        error
		successDue bool
		want       domain.Decision
	}{
		{name: "201, success already recorded lately", res: domain.PushResult{Outcome: domain.OutcomeDelivered, StatusCode: 201},
			want: domain.Decision{Step: domain.StepDone}},
		{name: "201, success due", res: domain.PushResult{Outcome: domain.OutcomeDelivered, StatusCode: 201}, successDue: true,
			want: domain.Decision{Step: domain.StepDone, Record: domain.RecordSuccess}},
		{name: "410", res: domain.PushResult{Outcome: domain.OutcomeGone, StatusCode: 410, Reason: "expired"},
			want: domain.Decision{Step: domain.StepGone, Reason: "expired"}},
		{name: "429 with Retry-After", res: domain.PushResult{Outcome: domain.OutcomeRateLimited, StatusCode: 429, RetryAfter: 7 * time.Second},
			want: domain.Decision{Step: domain.StepRetry, After: 7 * time.Second, Record: domain.RecordFailure}},
		{name: "429 without Retry-After", res: domain.PushResult{Outcome: domain.OutcomeRateLimited, StatusCode: 429},
			want: domain.Decision{Step: domain.StepRetry, After: domain.DefaultRetryAfter, Record: domain.RecordFailure}},
		{name: "429 asking for a day", res: domain.PushResult{Outcome: domain.OutcomeRateLimited, StatusCode: 429, RetryAfter: 24 * time.Hour},
			want: domain.Decision{Step: domain.StepRetry, After: domain.MaxRetryAfter, Record: domain.RecordFailure}},
		{name: "429 asking for a millisecond", res: domain.PushResult{Outcome: domain.OutcomeRateLimited, StatusCode: 429, RetryAfter: time.Millisecond},
			want: domain.Decision{Step: domain.StepRetry, After: time.Second, Record: domain.RecordFailure}},
		{name: "500: backoff policy", res: domain.PushResult{Outcome: domain.OutcomeTransient, StatusCode: 500, Reason: "boom"},
			want: domain.Decision{Step: domain.StepRetry, Reason: "boom", Record: domain.RecordFailure}},
		{name: "timeout: the error is the reason", res: domain.PushResult{Outcome: domain.OutcomeTransient, Reason: "timeout"}, err: errors.New("push timeout"),
			want: domain.Decision{Step: domain.StepRetry, Reason: "push timeout", Record: domain.RecordFailure}},
		{name: "413 from the push service", res: domain.PushResult{Outcome: domain.OutcomeRejected, StatusCode: 413, Reason: "too big"},
			want: domain.Decision{Step: domain.StepDrop, Reason: "too big", Record: domain.RecordFailure}},
		{name: "withheld: the key does not sign, nothing sent", res: domain.PushResult{Outcome: domain.OutcomeWithheld, Reason: domain.WithheldRevoked},
			want: domain.Decision{Step: domain.StepDrop, Reason: "vapid key revoked"}},
		{name: "refused before sending: the device is fine", res: domain.PushResult{Outcome: domain.OutcomeRejected, Reason: "cannot encrypt"},
			want: domain.Decision{Step: domain.StepDrop, Reason: "cannot encrypt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, domain.Decide(tt.res, tt.err, tt.successDue))
		})
	}
}
