package queue

import (
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/app"
	"github.com/evpower/evpush/domain"
)

// TestPlan pins how the app's per-device decisions become River jobs and
// rows: the adapter translates, it decides nothing.
func TestPlan(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	sent := func(id string, d domain.Decision, status int) app.Sent {
		return app.Sent{Sub: domain.Subscription{ID: id, UserID: "u", UserType: domain.UserTypeClient, Endpoint: "https://push.example/" + id},
			Result: domain.PushResult{StatusCode: status}, Decision: d}
	}
	all := []app.Sent{
		sent("ok", domain.Decision{Step: domain.StepDone}, 201),
		sent("ok-first", domain.Decision{Step: domain.StepDone, Record: domain.RecordSuccess}, 201),
		sent("gone", domain.Decision{Step: domain.StepGone}, 410),
		sent("limited", domain.Decision{Step: domain.StepRetry, After: 3 * time.Second, Record: domain.RecordFailure}, 429),
		sent("broken", domain.Decision{Step: domain.StepRetry, Reason: "boom", Record: domain.RecordFailure}, 500),
		sent("too-big", domain.Decision{Step: domain.StepDrop, Reason: "too big", Record: domain.RecordFailure}, 413),
	}
	retry := func(s app.Sent) river.JobArgs { return Delivery{EventKey: "k", SubscriptionID: s.Sub.ID} }
	job := &rivertype.JobRow{ID: 77, Kind: "charging_started"}

	q := &Queue{maxAttempts: 4, retry: backoff{base: 10 * time.Second}}
	a := q.plan(job, all, retry, now)
	require.Equal(t, []domain.Subscription{all[2].Sub}, a.book.Gone)
	require.Equal(t, []string{"ok-first"}, a.book.Succeeded, "a success is written only when it changes something")
	require.Equal(t, []string{"limited", "broken", "too-big"}, a.book.Failed)
	require.Equal(t, now, a.book.At)
	require.Equal(t, 1, a.dropped)
	require.Len(t, a.retries, 2, "only the 429 and the 500 are retried")

	limited, broken := a.retries[0], a.retries[1]
	require.Equal(t, Delivery{EventKey: "k", SubscriptionID: "limited"}, limited.Args)
	require.Equal(t, now.Add(3*time.Second), limited.InsertOpts.ScheduledAt, "after Retry-After")
	require.Equal(t, 3, limited.InsertOpts.MaxAttempts, "the event job made the first of 4 attempts")
	require.Equal(t, Delivery{EventKey: "k", SubscriptionID: "broken"}, broken.Args)
	wait := broken.InsertOpts.ScheduledAt.Sub(now)
	require.GreaterOrEqual(t, wait, 8*time.Second, "the first backoff delay, base ±20%%")
	require.LessOrEqual(t, wait, 12*time.Second)
	var meta retryMeta
	require.NoError(t, json.Unmarshal(broken.InsertOpts.Metadata, &meta))
	require.Equal(t, retryMeta{EventJobID: 77, Status: 500, Error: "boom"}, meta)

	// With one attempt allowed there is nothing left to retry with.
	a = (&Queue{maxAttempts: 1, retry: backoff{base: time.Second}}).plan(job, all, retry, now)
	require.Empty(t, a.retries)
	require.Equal(t, 3, a.dropped)

	// Everything delivered and already recorded: nothing to store, so the
	// job completes the cheap way.
	require.True(t, q.plan(job, all[:1], retry, now).empty())
	require.False(t, q.plan(job, all[1:2], retry, now).empty())
}

// TestBackoffCountsTheEventJobsAttempt: a retry job's first error is the
// device's second failure, so it waits twice the base, as before.
func TestBackoffCountsTheEventJobsAttempt(t *testing.T) {
	t.Parallel()
	b := backoff{base: 10 * time.Second}
	within := func(got time.Time, d time.Duration) {
		t.Helper()
		wait := time.Until(got)
		require.Greater(t, wait, time.Duration(float64(d)*0.79), wait)
		require.Less(t, wait, time.Duration(float64(d)*1.21), wait)
	}
	// River asks before it appends the error being handled: a job's first
	// failure comes with no errors.
	within(b.NextRetry(&rivertype.JobRow{Kind: KindDelivery}), 20*time.Second)
	within(b.NextRetry(&rivertype.JobRow{Kind: KindMessageDelivery}), 20*time.Second)
	within(b.NextRetry(&rivertype.JobRow{Kind: "charging_started"}), 10*time.Second)
	within(b.NextRetry(&rivertype.JobRow{Kind: KindDelivery, Errors: []rivertype.AttemptError{{}}}), 40*time.Second)
}

// TestNextForRetryJobs pins what a retry job does with a push's result.
func TestNextForRetryJobs(t *testing.T) {
	t.Parallel()
	q := &Queue{log: discardLogger()}
	job := &rivertype.JobRow{ID: 1, Kind: KindDelivery, Metadata: []byte(`{}`)}
	var cancel *river.JobCancelError
	var snooze *river.JobSnoozeError

	require.NoError(t, q.next(job, q.log, domain.PushResult{Outcome: domain.OutcomeDelivered}, nil))
	require.ErrorAs(t, q.next(job, q.log, domain.PushResult{Outcome: domain.OutcomeGone, StatusCode: 410}, nil), &cancel)
	require.ErrorAs(t, q.next(job, q.log, domain.PushResult{Outcome: domain.OutcomeRejected, StatusCode: 413}, nil), &cancel)
	require.ErrorAs(t, q.next(job, q.log, domain.PushResult{Outcome: domain.OutcomeRateLimited, RetryAfter: 2 * time.Second}, nil), &snooze)
	require.Equal(t, 2*time.Second, snooze.Duration)
	err := q.next(job, q.log, domain.PushResult{Outcome: domain.OutcomeTransient, StatusCode: 503, Reason: "busy"}, nil)
	require.ErrorContains(t, err, "HTTP 503")
	require.False(t, errorsAsAny(err, &cancel, &snooze), "a 5xx is an ordinary error: River retries it")
	require.NoError(t, q.next(job, q.log, domain.PushResult{}, domain.ErrNotFound), "the device is gone: nothing to send")
	require.ErrorAs(t, q.next(job, q.log, domain.PushResult{}, domain.ErrInvalid), &cancel)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// errorsAsAny reports whether err is any of the targets' types.
func errorsAsAny(err error, targets ...any) bool {
	for _, tg := range targets {
		if errors.As(err, tg) {
			return true
		}
	}
	return false
}
