package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/evpower/evpush/domain"
)

// TestReport is what POST /test answers.
type TestReport struct {
	Found   int // subscriptions the caller had
	SentTo  int // accepted by their push service (2xx)
	Failed  int // not accepted, including Removed
	Removed int // answered 404/410 and deleted
}

// testParallelism bounds concurrent sends for one /test call: a user has a
// handful of devices, and one slow push service must not hold up the others.
const testParallelism = 8

// SendTest sends a test notification to every subscription of the caller now
// and reports what the push services answered. Subscriptions answered 404/410
// are deleted on the spot.
func (s *Service) SendTest(ctx context.Context, caller domain.Principal) (TestReport, error) {
	subs, err := s.subs.ListByUser(ctx, caller.UserID)
	if err != nil {
		return TestReport{}, fmt.Errorf("error listing subscriptions: %w", err)
	}
	report := TestReport{Found: len(subs)}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, testParallelism)
	)
	for _, sub := range subs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			res, _ := s.deliverNow(ctx, sub, domain.TestNotification(s.locale(sub)))
			mu.Lock()
			defer mu.Unlock()
			switch res.Outcome {
			case domain.OutcomeDelivered:
				report.SentTo++
			case domain.OutcomeGone:
				report.Removed++
				report.Failed++
			default:
				report.Failed++
			}
		}()
	}
	wg.Wait()
	return report, nil
}

// deliverNow sends one notification and applies its outcome to the stored
// subscription. Bookkeeping errors are logged, not returned: the push itself
// has happened and the caller must act on what the push service said. err is
// the sender's error (no usable answer), for the caller's logs.
func (s *Service) deliverNow(ctx context.Context, sub domain.Subscription, n domain.Notification) (domain.PushResult, error) {
	start := s.clock.Now()
	res, err := s.sender.Send(ctx, sub, n)
	s.metrics.ObservePush(domain.EndpointHost(sub.Endpoint), res.Outcome, s.clock.Now().Sub(start))
	log := s.logger(ctx).With("subscription_id", sub.ID, "endpoint", domain.EndpointLabel(sub.Endpoint),
		"outcome", res.Outcome.String(), "status", res.StatusCode)
	var storeErr error
	switch res.Outcome {
	case domain.OutcomeDelivered:
		// A write per message would make bookkeeping the most expensive part
		// of a delivery: record a success only when it changes something an
		// operator or the cleanup looks at.
		if sub.NeedsSuccessRecorded(s.clock.Now()) {
			storeErr = s.subs.RecordResult(ctx, sub.ID, true, s.clock.Now())
		}
	case domain.OutcomeGone:
		log.Info("push subscription gone, deleting it")
		storeErr = s.subs.Delete(ctx, sub.ID, sub.Endpoint)
	default:
		log.Warn("push failed", slog.String("reason", res.Reason), slog.Any("error", err))
		storeErr = s.subs.RecordResult(ctx, sub.ID, false, s.clock.Now())
	}
	if storeErr != nil {
		log.Error("error recording push outcome", slog.Any("error", storeErr))
	}
	return res, err
}
