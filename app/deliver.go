package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/evpower/evpush/domain"
)

// EventSubscriptions fans an event out: the subscriptions of the driver (as client)
// and of the station's owner (as owner). The owner comes from the event
// itself (owner_id in the job): evpush reads no table of the charging
// service. An event without one only loses the owner's copy, logged and
// counted, since a producer that forgets owner_id should be noticed.
func (s *Service) EventSubscriptions(ctx context.Context, ev domain.ChargingEvent) ([]domain.Subscription, error) {
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	subs, err := s.recipients(ctx, ev.Recipients())
	if err != nil {
		return nil, err
	}
	// After the listing: a fan-out retried for a database error counts once.
	if ev.OwnerID == "" {
		s.logger(ctx).Warn("charging event without owner_id; the station's owner is not notified",
			"session_id", ev.SessionID, "station_id", ev.StationID)
		s.metrics.CountEventWithoutOwner(ev.Kind)
	}
	return subs, nil
}

// Deliver sends the event's notification to one subscription, rendered for
// its role and language, and applies the outcome to the subscription (gone:
// deleted; delivered or failed: recorded). to is whom the subscription
// belonged to when the event was fanned out. It returns domain.ErrNotFound
// when the subscription no longer exists or now belongs to someone else (a
// device moves to whoever subscribes on it last: they must not get this
// event), and domain.ErrExpired when the message's TTL has passed since the event;
// the caller decides about retries from the result.
func (s *Service) Deliver(ctx context.Context, subscriptionID string, to domain.Recipient, ev domain.ChargingEvent) (domain.PushResult, error) {
	return s.deliver(ctx, subscriptionID, to, ev.OccurredAt, s.renderEvent(ev))
}

// MessageSubscriptions validates a user message and lists the subscriptions
// that hear it: the user's devices in the message's role.
func (s *Service) MessageSubscriptions(ctx context.Context, m domain.UserMessage) ([]domain.Subscription, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return s.recipients(ctx, []domain.Recipient{m.Recipient()})
}

// recipients lists the devices that hear a notification: the recipients'
// own, less those whose user switched it off, which the same query leaves
// out and which are counted here (once per device, as each would have been
// a push).
func (s *Service) recipients(ctx context.Context, rs []domain.Recipient) ([]domain.Subscription, error) {
	subs, skipped, err := s.subs.ListForRecipients(ctx, rs)
	if err != nil {
		return nil, fmt.Errorf("error listing recipients: %w", err)
	}
	for _, r := range skipped {
		s.metrics.CountSkippedByPreference(r.Pref)
	}
	return subs, nil
}

// DeliverMessage sends a user message to one subscription, in its language;
// results and errors as for Deliver.
func (s *Service) DeliverMessage(ctx context.Context, subscriptionID string, to domain.Recipient, m domain.UserMessage) (domain.PushResult, error) {
	return s.deliver(ctx, subscriptionID, to, m.OccurredAt, s.renderMessage(m))
}

// deliver is Deliver and DeliverMessage: render for the subscription as it
// is now, drop what expired, send, record.
func (s *Service) deliver(ctx context.Context, subscriptionID string, to domain.Recipient, occurredAt time.Time,
	render func(domain.Subscription) domain.Notification) (domain.PushResult, error) {
	sub, err := s.subs.Get(ctx, subscriptionID)
	if err != nil {
		return domain.PushResult{}, err
	}
	if to.UserID != "" && (sub.UserID != to.UserID || sub.UserType != to.UserType) {
		return domain.PushResult{}, domain.Errorf(domain.ErrNotFound, "subscription %s changed hands since the event", sub.ID)
	}
	n, ok := s.ttlLeft(render(sub), occurredAt)
	if !ok {
		return domain.PushResult{}, domain.ErrExpired
	}
	res, err := s.deliverNow(ctx, sub, n)
	s.observeDelivered(res, occurredAt)
	return res, err
}

// deliverNow sends one notification and applies its outcome to the stored
// subscription (the retry path: one device per job). Bookkeeping errors are
// logged, not returned: the push itself has happened and the caller must act
// on what the push service said. err is the sender's error (no usable
// answer), for the caller's logs.
func (s *Service) deliverNow(ctx context.Context, sub domain.Subscription, n domain.Notification) (domain.PushResult, error) {
	res, d, err := s.push(ctx, sub, n)
	var storeErr error
	switch {
	case d.Step == domain.StepGone:
		storeErr = s.subs.Delete(ctx, sub.ID, sub.Endpoint)
	case d.Record == domain.RecordSuccess:
		storeErr = s.subs.RecordResult(ctx, sub.ID, true, s.clock.Now())
	case d.Record == domain.RecordFailure:
		storeErr = s.subs.RecordResult(ctx, sub.ID, false, s.clock.Now())
	}
	if storeErr != nil {
		s.logger(ctx).Error("error recording push outcome", "subscription_id", sub.ID, slog.Any("error", storeErr))
	}
	return res, err
}

// push sends one notification, records its metrics and logs, and decides
// what comes next for the device; it writes nothing.
func (s *Service) push(ctx context.Context, sub domain.Subscription, n domain.Notification) (domain.PushResult, domain.Decision, error) {
	if _, err := s.policy.Normalize(sub.Endpoint); err != nil {
		// Stored under an older, wider policy (another host or port): the
		// policy holds for every send, not only at subscribe time.
		s.logger(ctx).Warn("stored endpoint no longer allowed by the endpoint policy; deleting it",
			"subscription_id", sub.ID, "endpoint", domain.EndpointLabel(sub.Endpoint), "error", err)
		return domain.PushResult{Outcome: domain.OutcomeGone, Reason: "endpoint not allowed"}, domain.Decision{Step: domain.StepGone}, err
	}
	start := s.clock.Now()
	res, err := s.sender.Send(ctx, sub, n)
	now := s.clock.Now()
	s.metrics.ObservePush(domain.ClassifyPushHost(domain.EndpointHost(sub.Endpoint)), res.Outcome, now.Sub(start))
	d := domain.Decide(res, err, sub.NeedsSuccessRecorded(now))
	log := s.logger(ctx).With("subscription_id", sub.ID, "endpoint", domain.EndpointLabel(sub.Endpoint),
		"outcome", res.Outcome.String(), "status", res.StatusCode)
	switch {
	case d.Step == domain.StepDone:
	case d.Step == domain.StepGone:
		log.Info("push subscription gone, deleting it")
	case res.Outcome == domain.OutcomeWithheld:
		// Any other key would be refused; the device comes back when the
		// client script moves it to the current key.
		log.Warn("push withheld: the subscription's VAPID key does not sign; nothing sent until the device moves to the current key",
			"vapid_key_id", sub.VAPIDKeyID, "reason", res.Reason)
	default:
		log.Warn("push failed", slog.String("reason", res.Reason), slog.Any("error", err))
	}
	return res, d, err
}
