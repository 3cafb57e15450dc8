package app

import (
	"context"
	"fmt"
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
			res, _ := s.deliverNow(ctx, sub, s.messages.Test(s.locale(sub)))
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
