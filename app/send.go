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
	subs, err := s.EventSubscriptions(ctx, ev)
	if err != nil {
		return nil, err
	}
	return s.sendAll(ctx, subs, ev.OccurredAt, s.renderEvent(ev)), nil
}

// SendMessage is SendEvent for a user message.
func (s *Service) SendMessage(ctx context.Context, m domain.UserMessage) ([]Sent, error) {
	subs, err := s.MessageSubscriptions(ctx, m)
	if err != nil {
		return nil, err
	}
	return s.sendAll(ctx, subs, m.OccurredAt, s.renderMessage(m)), nil
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
	n, ok := s.ttlLeft(n, occurredAt)
	if !ok {
		s.logger(ctx).Warn("notification expired before it could be delivered", "subscription_id", sub.ID)
		return Sent{Sub: sub, Decision: domain.Decision{Step: domain.StepDrop, Reason: domain.ErrExpired.Error()}}
	}
	res, d, _ := s.push(ctx, sub, n)
	s.observeDelivered(res, occurredAt)
	return Sent{Sub: sub, Result: res, Decision: d}
}

// ttlLeft gives n the part of its TTL left since occurredAt: the push
// service should keep it only as long as it stays relevant (and never
// longer than the kind's TTL, even with clock skew). ok is false when
// nothing is left. A zero occurredAt keeps n as it is.
func (s *Service) ttlLeft(n domain.Notification, occurredAt time.Time) (_ domain.Notification, ok bool) {
	if occurredAt.IsZero() {
		return n, true
	}
	left := occurredAt.Add(n.TTL).Sub(s.clock.Now())
	if left <= 0 {
		return n, false
	}
	n.TTL = min(left, n.TTL)
	return n, true
}

// observeDelivered records commit → device for a delivered push.
func (s *Service) observeDelivered(res domain.PushResult, occurredAt time.Time) {
	if res.Outcome == domain.OutcomeDelivered && !occurredAt.IsZero() {
		s.metrics.ObserveCommitToDelivery(s.clock.Now().Sub(occurredAt))
	}
}

// renderEvent and renderMessage render for one subscription, in its
// language: the first send and a retry render alike.
func (s *Service) renderEvent(ev domain.ChargingEvent) func(domain.Subscription) domain.Notification {
	return func(sub domain.Subscription) domain.Notification {
		return s.messages.Event(ev, sub.UserType, s.locale(sub))
	}
}

func (s *Service) renderMessage(m domain.UserMessage) func(domain.Subscription) domain.Notification {
	return func(sub domain.Subscription) domain.Notification {
		return m.Notification(s.locale(sub), s.defaultLocale)
	}
}
