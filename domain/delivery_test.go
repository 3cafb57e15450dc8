package domain_test

import (
	"testing"

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
