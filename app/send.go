package app

import (
	"context"
	"sync"
	"time"

	"github.com/evpower/evpush/domain"
)

// Sent is one device's push within an event and what comes next for it.
// The queue turns the decision into jobs and bookkeeping; app writes nothing
// for it, so that all of it lands in the transaction completing the event.
type Sent struct {
	Sub      domain.Subscription
	Result   domain.PushResult
	Decision domain.Decision
}

// perEventSends bounds the concurrent pushes of one event: a user with many
// devices must not take every process-wide slot at once.
const perEventSends = 16

// DefaultMaxConcurrentSends is the process-wide bound on pushes in flight.
const DefaultMaxConcurrentSends = 100

// SendEvent validates ev, loads its recipients in one query and sends the
// notification to all of them concurrently, rendered per device for its
// role and language. The error is domain.ErrInvalid for a bad event, or the
// listing's (nothing was sent then); otherwise every device has its Sent.
func (s *Service) SendEvent(ctx context.Context, ev domain.ChargingEvent) ([]Sent, error) {
	subs, err := s.Recipients(ctx, ev)
	if err != nil {
		return nil, err
	}
	return s.sendAll(ctx, subs, ev.OccurredAt, func(sub domain.Subscription) domain.Notification {
		return s.messages.Event(ev, sub.UserType, s.locale(sub))
	}), nil
}

// SendMessage is SendEvent for a user message.
func (s *Service) SendMessage(ctx context.Context, m domain.UserMessage) ([]Sent, error) {
	subs, err := s.MessageRecipients(ctx, m)
	if err != nil {
		return nil, err
	}
	return s.sendAll(ctx, subs, m.OccurredAt, func(sub domain.Subscription) domain.Notification {
		return m.Notification(s.locale(sub), s.locale0)
	}), nil
}

// sendAll pushes to every subscription, at most perEventSends at once and
// within the process-wide slots. Each push is bounded by the sender's own
// timeout, so one slow push service holds up only its own device.
func (s *Service) sendAll(ctx context.Context, subs []domain.Subscription, occurredAt time.Time,
	render func(domain.Subscription) domain.Notification) []Sent {
	out := make([]Sent, len(subs))
	jobSlots := make(chan struct{}, perEventSends)
	var wg sync.WaitGroup
	for i, sub := range subs {
		jobSlots <- struct{}{}
		s.sendSlots <- struct{}{}
		wg.Go(func() {
			defer func() { <-s.sendSlots; <-jobSlots }()
			out[i] = s.sendOne(ctx, sub, occurredAt, render(sub))
		})
	}
	wg.Wait()
	return out
}

// sendOne drops what expired, else pushes with the TTL that is left.
func (s *Service) sendOne(ctx context.Context, sub domain.Subscription, occurredAt time.Time, n domain.Notification) Sent {
	if !occurredAt.IsZero() {
		left := occurredAt.Add(n.TTL).Sub(s.clock.Now())
		if left <= 0 {
			s.logger(ctx).Warn("notification expired before it could be delivered", "subscription_id", sub.ID)
			return Sent{Sub: sub, Decision: domain.Decision{Step: domain.StepDrop, Reason: ErrExpired.Error()}}
		}
		// The push service should keep it only as long as it stays relevant
		// (and never longer than the kind's TTL, even with clock skew).
		n.TTL = min(left, n.TTL)
	}
	res, d, _ := s.push(ctx, sub, n)
	if res.Outcome == domain.OutcomeDelivered && !occurredAt.IsZero() {
		s.metrics.ObserveCommitToDelivery(s.clock.Now().Sub(occurredAt))
	}
	return Sent{Sub: sub, Result: res, Decision: d}
}
