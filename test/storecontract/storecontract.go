// Package storecontract holds the behavioural suites of the
// ports.SubscriptionStore and ports.ChargingStore ports. Each runs against
// every implementation: the postgres adapter on a real database, and the
// in-memory fake the app's unit tests use, so the fake cannot allow what
// the real store refuses (a takeover, a user past the cap, a subscription
// bound to no key, a second session on a busy connector) and the app's
// tests cannot pass on behaviour production does not have.
package storecontract

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/ports"
)

// KeyID is the VAPID key a store given to SubscriptionStore must know:
// subscriptions of the suite bind to it. No store knows key ID 999.
const KeyID = 1

// unknownKeyID is a VAPID key ID no store under test knows.
const unknownKeyID = 999

// SubscriptionStore runs the suite; newStore returns an empty store, of
// its own, that knows VAPID key KeyID. Each subtest runs in parallel on
// its own store.
func SubscriptionStore(t *testing.T, newStore func(t *testing.T) ports.SubscriptionStore) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, s ports.SubscriptionStore)
	}{
		{"UpsertCreatesThenUpdates", upsertCreatesThenUpdates},
		{"UpsertOwnership", upsertOwnership},
		{"UpsertCap", upsertCap},
		{"UpsertUnknownKey", upsertUnknownKey},
		{"ListByUser", listByUser},
		{"ListForRecipients", listForRecipients},
		{"ListForRecipientsHonoursPreferences", listForRecipientsHonoursPreferences},
		{"Preferences", preferences},
		{"GetUnknown", getUnknown},
		{"DeleteForUser", deleteForUser},
		{"DeleteByIDForUser", deleteByIDForUser},
		{"DeleteByIDAndEndpoint", deleteByIDAndEndpoint},
		{"RecordResult", recordResult},
		{"DeleteFailing", deleteFailing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newStore(t))
		})
	}
}

var endpointN atomic.Int64

// NewEndpoint is an endpoint no other test uses.
func NewEndpoint() string {
	return fmt.Sprintf("https://fcm.googleapis.com/fcm/send/dev-%d-%d", time.Now().UnixNano(), endpointN.Add(1))
}

// NewSub is a subscription of user on endpoint with fresh random keys,
// bound to KeyID.
func NewSub(tb testing.TB, user string, t domain.UserType, endpoint string) domain.Subscription {
	tb.Helper()
	return domain.Subscription{
		UserID:     user,
		UserType:   t,
		Endpoint:   endpoint,
		P256dh:     randomBytes(tb, 65),
		Auth:       randomBytes(tb, 16),
		Locale:     "ru",
		UserAgent:  "Mozilla/5.0 test",
		VAPIDKeyID: KeyID,
	}
}

func randomBytes(tb testing.TB, n int) []byte {
	tb.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(tb, err)
	return b
}

// upsert stores sub without a cap and returns it stored.
func upsert(tb testing.TB, s ports.SubscriptionStore, sub domain.Subscription) domain.Subscription {
	tb.Helper()
	stored, _, err := s.Upsert(context.Background(), sub, 0)
	require.NoError(tb, err)
	return stored
}

func get(tb testing.TB, s ports.SubscriptionStore, id string) domain.Subscription {
	tb.Helper()
	got, err := s.Get(context.Background(), id)
	require.NoError(tb, err)
	return got
}

func requireGone(tb testing.TB, s ports.SubscriptionStore, id string) {
	tb.Helper()
	_, err := s.Get(context.Background(), id)
	require.ErrorIs(tb, err, domain.ErrNotFound)
}

// endpoints are the user's endpoints, oldest first.
func endpoints(tb testing.TB, s ports.SubscriptionStore, user string) []string {
	tb.Helper()
	subs, err := s.ListByUser(context.Background(), user)
	require.NoError(tb, err)
	return pluck(subs, func(s domain.Subscription) string { return s.Endpoint })
}

// pluck is one field of each subscription, in order.
func pluck(subs []domain.Subscription, field func(domain.Subscription) string) []string {
	out := make([]string, len(subs))
	for i, sub := range subs {
		out[i] = field(sub)
	}
	return out
}

func upsertCreatesThenUpdates(t *testing.T, s ports.SubscriptionStore) {
	ctx := context.Background()
	endpoint := NewEndpoint()
	first := NewSub(t, "user-a", domain.UserTypeClient, endpoint)
	stored, created, err := s.Upsert(ctx, first, 0)
	require.NoError(t, err)
	require.True(t, created)
	require.NotEmpty(t, stored.ID)
	require.Equal(t, "user-a", stored.UserID)
	require.Equal(t, KeyID, stored.VAPIDKeyID)
	require.False(t, stored.CreatedAt.IsZero())
	require.Zero(t, stored.FailureCount)
	require.Nil(t, stored.LastSuccessAt)

	// Some failed deliveries before the device changes hands.
	require.NoError(t, s.RecordResult(ctx, stored.ID, false, time.Now()))
	require.NoError(t, s.RecordResult(ctx, stored.ID, false, time.Now()))

	// The same browser profile (same keys) signed in as user-b, as an owner:
	// the device moves to user-b, its failures forgotten.
	second := NewSub(t, "user-b", domain.UserTypeOwner, endpoint)
	second.P256dh, second.Auth = first.P256dh, first.Auth
	second.Locale, second.UserAgent = "en", "Safari"
	again, created, err := s.Upsert(ctx, second, 0)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, stored.ID, again.ID)
	require.Zero(t, again.FailureCount)
	require.True(t, stored.CreatedAt.Equal(again.CreatedAt))
	require.False(t, again.UpdatedAt.Before(stored.UpdatedAt))

	got := get(t, s, stored.ID)
	require.Equal(t, "user-b", got.UserID)
	require.Equal(t, domain.UserTypeOwner, got.UserType)
	require.Equal(t, second.P256dh, got.P256dh)
	require.Equal(t, second.Auth, got.Auth)
	require.Equal(t, "en", got.Locale)
	require.Equal(t, "Safari", got.UserAgent)
	require.Zero(t, got.FailureCount)
	require.Empty(t, endpoints(t, s, "user-a"))
	require.Equal(t, []string{endpoint}, endpoints(t, s, "user-b"))
}

func upsertOwnership(t *testing.T, s ports.SubscriptionStore) {
	ctx := context.Background()
	t.Run("same user, new keys: updated in place", func(t *testing.T) {
		endpoint := NewEndpoint()
		first := upsert(t, s, NewSub(t, "user-a", domain.UserTypeClient, endpoint))
		rotated := NewSub(t, "user-a", domain.UserTypeClient, endpoint)
		again, created, err := s.Upsert(ctx, rotated, 0)
		require.NoError(t, err)
		require.False(t, created)
		require.Equal(t, first.ID, again.ID)
		got := get(t, s, first.ID)
		require.Equal(t, rotated.P256dh, got.P256dh)
		require.Equal(t, rotated.Auth, got.Auth)
	})
	t.Run("another user with other keys: refused, row untouched", func(t *testing.T) {
		endpoint := NewEndpoint()
		first := upsert(t, s, NewSub(t, "user-a", domain.UserTypeClient, endpoint))
		require.NoError(t, s.RecordResult(ctx, first.ID, false, time.Now()))
		intruder := NewSub(t, "user-b", domain.UserTypeClient, endpoint)
		intruder.Locale, intruder.UserAgent = "en", "curl"
		stored, created, err := s.Upsert(ctx, intruder, 0)
		require.ErrorIs(t, err, domain.ErrEndpointTaken)
		require.False(t, created)
		require.Zero(t, stored)

		got := get(t, s, first.ID)
		require.Equal(t, "user-a", got.UserID)
		require.Equal(t, first.P256dh, got.P256dh)
		require.Equal(t, first.Auth, got.Auth)
		require.Equal(t, "ru", got.Locale)
		require.Equal(t, "Mozilla/5.0 test", got.UserAgent)
		require.Equal(t, 1, got.FailureCount, "not even the failure count is reset")
		require.True(t, first.UpdatedAt.Equal(got.UpdatedAt))
		require.Empty(t, endpoints(t, s, "user-b"))
	})
	t.Run("same user in the other role with other keys: refused", func(t *testing.T) {
		endpoint := NewEndpoint()
		first := upsert(t, s, NewSub(t, "user-a", domain.UserTypeClient, endpoint))
		_, _, err := s.Upsert(ctx, NewSub(t, "user-a", domain.UserTypeOwner, endpoint), 0)
		require.ErrorIs(t, err, domain.ErrEndpointTaken)
		require.Equal(t, domain.UserTypeClient, get(t, s, first.ID).UserType)
	})
	t.Run("only one key matching is not enough", func(t *testing.T) {
		endpoint := NewEndpoint()
		first := upsert(t, s, NewSub(t, "user-a", domain.UserTypeClient, endpoint))
		samePoint := NewSub(t, "user-b", domain.UserTypeClient, endpoint)
		samePoint.P256dh = first.P256dh // the public key is no secret
		_, _, err := s.Upsert(ctx, samePoint, 0)
		require.ErrorIs(t, err, domain.ErrEndpointTaken)
		sameAuth := NewSub(t, "user-b", domain.UserTypeClient, endpoint)
		sameAuth.Auth = first.Auth
		_, _, err = s.Upsert(ctx, sameAuth, 0)
		require.ErrorIs(t, err, domain.ErrEndpointTaken)
		require.Equal(t, "user-a", get(t, s, first.ID).UserID)
	})
	t.Run("a refused takeover does not trim the caller's devices", func(t *testing.T) {
		endpoint := NewEndpoint()
		upsert(t, s, NewSub(t, "owner-1", domain.UserTypeClient, endpoint))
		for range 3 {
			upsert(t, s, NewSub(t, "capped", domain.UserTypeClient, NewEndpoint()))
		}
		_, _, err := s.Upsert(ctx, NewSub(t, "capped", domain.UserTypeClient, endpoint), 3)
		require.ErrorIs(t, err, domain.ErrEndpointTaken)
		require.Len(t, endpoints(t, s, "capped"), 3, "nothing stored, so nothing replaced")
	})
}

// upsertCap: with a cap a stored subscription leaves the user at most that
// many devices, the least recently updated replaced first; an update in
// place counts as recent; another user's devices and cap 0 trim nothing.
func upsertCap(t *testing.T, s ports.SubscriptionStore) {
	ctx := context.Background()
	others := NewEndpoint()
	upsert(t, s, NewSub(t, "other", domain.UserTypeClient, others))
	subs := make([]domain.Subscription, 4)
	for i := range subs {
		subs[i] = NewSub(t, "capped", domain.UserTypeClient, NewEndpoint())
		if i == 3 {
			subs[i].UserType = domain.UserTypeOwner // the cap counts every role
		}
		_, created, err := s.Upsert(ctx, subs[i], 3)
		require.NoError(t, err)
		require.True(t, created)
	}
	require.Equal(t, []string{subs[1].Endpoint, subs[2].Endpoint, subs[3].Endpoint}, endpoints(t, s, "capped"))

	// Re-subscribing the oldest one refreshes it, so the next new device
	// replaces the next oldest.
	_, created, err := s.Upsert(ctx, subs[1], 3)
	require.NoError(t, err)
	require.False(t, created)
	require.Len(t, endpoints(t, s, "capped"), 3, "an update in place replaces nothing")
	next := NewSub(t, "capped", domain.UserTypeClient, NewEndpoint())
	_, _, err = s.Upsert(ctx, next, 3)
	require.NoError(t, err)
	require.Equal(t, []string{subs[1].Endpoint, subs[3].Endpoint, next.Endpoint}, endpoints(t, s, "capped"))

	// Cap 0: no cap.
	for range 3 {
		_, _, err = s.Upsert(ctx, NewSub(t, "capped", domain.UserTypeClient, NewEndpoint()), 0)
		require.NoError(t, err)
	}
	require.Len(t, endpoints(t, s, "capped"), 6)
	require.Equal(t, []string{others}, endpoints(t, s, "other"), "another user's devices are untouched")
}

// upsertUnknownKey: a subscription bound to a key the store does not have
// (deleted meanwhile) is a validation error naming the field; nothing is
// stored.
func upsertUnknownKey(t *testing.T, s ports.SubscriptionStore) {
	gone := NewSub(t, "u", domain.UserTypeClient, NewEndpoint())
	gone.VAPIDKeyID = unknownKeyID
	_, _, err := s.Upsert(context.Background(), gone, 0)
	var verr *domain.ValidationError
	require.ErrorAs(t, err, &verr)
	require.Equal(t, domain.FieldApplicationServerKey, verr.Fields[0].Field)
	require.Empty(t, endpoints(t, s, "u"))
}

func listByUser(t *testing.T, s ports.SubscriptionStore) {
	var want []domain.Subscription
	for i := range 3 {
		sub := NewSub(t, "user-a", domain.UserTypeClient, NewEndpoint())
		if i == 1 {
			sub.UserType = domain.UserTypeOwner
		}
		want = append(want, upsert(t, s, sub))
		upsert(t, s, NewSub(t, "user-b", domain.UserTypeClient, NewEndpoint()))
	}

	got, err := s.ListByUser(context.Background(), "user-a")
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i].ID, got[i].ID, "oldest first")
		require.Equal(t, "user-a", got[i].UserID)
		require.Equal(t, want[i].UserType, got[i].UserType)
		require.Equal(t, want[i].Endpoint, got[i].Endpoint)
		require.Equal(t, want[i].P256dh, got[i].P256dh, "p256dh round-trips")
		require.Equal(t, want[i].Auth, got[i].Auth, "auth round-trips")
		require.Equal(t, "ru", got[i].Locale)
		require.Equal(t, "Mozilla/5.0 test", got[i].UserAgent)
		require.Equal(t, KeyID, got[i].VAPIDKeyID)
	}
	require.Empty(t, endpoints(t, s, "nobody"))
}

// listForRecipients: each recipient's devices in its role only, each
// device once, oldest first.
func listForRecipients(t *testing.T, s ports.SubscriptionStore) {
	ctx := context.Background()
	driver := upsert(t, s, NewSub(t, "user-a", domain.UserTypeClient, NewEndpoint()))
	driver2 := upsert(t, s, NewSub(t, "user-a", domain.UserTypeClient, NewEndpoint()))
	upsert(t, s, NewSub(t, "user-a", domain.UserTypeOwner, NewEndpoint())) // another role
	owner := upsert(t, s, NewSub(t, "user-b", domain.UserTypeOwner, NewEndpoint()))
	upsert(t, s, NewSub(t, "user-c", domain.UserTypeClient, NewEndpoint())) // not a recipient

	got, skipped, err := s.ListForRecipients(ctx, []domain.Recipient{
		{UserID: "user-a", UserType: domain.UserTypeClient},
		{UserID: "user-b", UserType: domain.UserTypeOwner},
		{UserID: "user-a", UserType: domain.UserTypeClient}, // named twice
	})
	require.NoError(t, err)
	require.Empty(t, skipped)
	require.Equal(t, []string{driver.ID, driver2.ID, owner.ID}, ids(got))
	require.Equal(t, driver.Endpoint, got[0].Endpoint)
	require.Equal(t, driver.P256dh, got[0].P256dh)
	require.Equal(t, driver.Auth, got[0].Auth)
	require.Equal(t, "ru", got[0].Locale)
	require.Equal(t, KeyID, got[0].VAPIDKeyID)

	got, skipped, err = s.ListForRecipients(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, got)
	require.Empty(t, skipped)
}

// ids are the subscriptions' IDs, in order.
func ids(subs []domain.Subscription) []string {
	return pluck(subs, func(s domain.Subscription) string { return s.ID })
}

// listForRecipientsHonoursPreferences: a recipient whose user switched its
// Pref off in that role hears nothing, and is reported once per device
// left out; the same user in the other role, another kind, an unknown
// category and a recipient without Pref still hear it.
func listForRecipientsHonoursPreferences(t *testing.T, s ports.SubscriptionStore) {
	ctx := context.Background()
	newSession := domain.Pref{Class: domain.PrefKind, Name: "new_session"}
	started := domain.Pref{Class: domain.PrefKind, Name: "charging_started"}
	marketing := domain.Pref{Class: domain.PrefCategory, Name: "marketing"}
	owner1 := upsert(t, s, NewSub(t, "user-a", domain.UserTypeOwner, NewEndpoint()))
	upsert(t, s, NewSub(t, "user-a", domain.UserTypeOwner, NewEndpoint()))
	driver := upsert(t, s, NewSub(t, "user-a", domain.UserTypeClient, NewEndpoint()))
	require.NoError(t, s.SetPreferences(ctx, "user-a", domain.UserTypeOwner, []domain.PrefSetting{
		{Pref: newSession, Enabled: false}, {Pref: marketing, Enabled: false}}))
	require.NoError(t, s.SetPreferences(ctx, "user-a", domain.UserTypeClient, []domain.PrefSetting{
		{Pref: started, Enabled: true}}))

	asOwner := domain.Recipient{UserID: "user-a", UserType: domain.UserTypeOwner, Pref: newSession}
	got, skipped, err := s.ListForRecipients(ctx, []domain.Recipient{
		{UserID: "user-a", UserType: domain.UserTypeClient, Pref: started}, asOwner})
	require.NoError(t, err)
	require.Equal(t, []string{driver.ID}, ids(got), "the owner's new_session is off, the driver's kind on")
	require.Equal(t, []domain.Recipient{asOwner, asOwner}, skipped, "once per device")

	for name, pref := range map[string]domain.Pref{
		"another kind":                   {Class: domain.PrefKind, Name: "session_completed"},
		"unknown category":               {Class: domain.PrefCategory, Name: "news"},
		"no pref":                        {},
		"a kind named like the category": {Class: domain.PrefKind, Name: "marketing"},
	} {
		got, skipped, err = s.ListForRecipients(ctx, []domain.Recipient{{UserID: "user-a", UserType: domain.UserTypeOwner, Pref: pref}})
		require.NoError(t, err)
		require.Len(t, got, 2, name)
		require.Equal(t, owner1.ID, got[0].ID, name)
		require.Empty(t, skipped, name)
	}
	got, _, err = s.ListForRecipients(ctx, []domain.Recipient{{UserID: "user-a", UserType: domain.UserTypeOwner, Pref: marketing}})
	require.NoError(t, err)
	require.Empty(t, got, "a category switched off")

	// Switched on again: heard again.
	require.NoError(t, s.SetPreferences(ctx, "user-a", domain.UserTypeOwner, []domain.PrefSetting{{Pref: newSession, Enabled: true}}))
	got, skipped, err = s.ListForRecipients(ctx, []domain.Recipient{asOwner})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Empty(t, skipped)
}

// preferences: what was set reads back per user and role, a later setting
// replaces an earlier one of the same Pref, and the others stay.
func preferences(t *testing.T, s ports.SubscriptionStore) {
	ctx := context.Background()
	got, err := s.Preferences(ctx, "user-a", domain.UserTypeOwner)
	require.NoError(t, err)
	require.Empty(t, got, "nothing set")

	newSession := domain.Pref{Class: domain.PrefKind, Name: "new_session"}
	marketing := domain.Pref{Class: domain.PrefCategory, Name: "marketing"}
	require.NoError(t, s.SetPreferences(ctx, "user-a", domain.UserTypeOwner, []domain.PrefSetting{
		{Pref: newSession, Enabled: false}, {Pref: marketing, Enabled: false}}))
	require.NoError(t, s.SetPreferences(ctx, "user-a", domain.UserTypeOwner, []domain.PrefSetting{{Pref: marketing, Enabled: true}}))
	require.NoError(t, s.SetPreferences(ctx, "user-a", domain.UserTypeOwner, nil), "nothing to set")

	got, err = s.Preferences(ctx, "user-a", domain.UserTypeOwner)
	require.NoError(t, err)
	require.ElementsMatch(t, []domain.PrefSetting{{Pref: newSession, Enabled: false}, {Pref: marketing, Enabled: true}}, got)
	for _, other := range []struct {
		user string
		role domain.UserType
	}{{"user-a", domain.UserTypeClient}, {"user-b", domain.UserTypeOwner}} {
		got, err = s.Preferences(ctx, other.user, other.role)
		require.NoError(t, err)
		require.Empty(t, got, "another role or user")
	}
}

func getUnknown(t *testing.T, s ports.SubscriptionStore) {
	requireGone(t, s, "00000000-0000-0000-0000-000000000000")
	requireGone(t, s, "not-an-id") // ids come from job args and URLs
}

func deleteForUser(t *testing.T, s ports.SubscriptionStore) {
	ctx := context.Background()
	mine := upsert(t, s, NewSub(t, "user-a", domain.UserTypeClient, NewEndpoint()))
	foreign := upsert(t, s, NewSub(t, "user-b", domain.UserTypeClient, NewEndpoint()))

	tests := []struct {
		name     string
		user     string
		endpoint string
	}{
		{"foreign endpoint", "user-a", foreign.Endpoint},
		{"unknown endpoint", "user-a", "https://fcm.googleapis.com/fcm/send/unknown"},
		{"unknown user", "nobody", mine.Endpoint},
	}
	for _, tt := range tests {
		require.ErrorIs(t, s.DeleteForUser(ctx, tt.user, tt.endpoint), domain.ErrNotFound, tt.name)
	}
	get(t, s, foreign.ID)
	get(t, s, mine.ID)

	require.NoError(t, s.DeleteForUser(ctx, "user-a", mine.Endpoint))
	requireGone(t, s, mine.ID)
	require.ErrorIs(t, s.DeleteForUser(ctx, "user-a", mine.Endpoint), domain.ErrNotFound, "already gone")
}

// deleteByIDForUser: the owner removes a device by its id; another user's,
// an unknown and a malformed id are all ErrNotFound and delete nothing.
func deleteByIDForUser(t *testing.T, s ports.SubscriptionStore) {
	ctx := context.Background()
	mine := upsert(t, s, NewSub(t, "user-a", domain.UserTypeOwner, NewEndpoint()))
	foreign := upsert(t, s, NewSub(t, "user-b", domain.UserTypeClient, NewEndpoint()))

	for name, id := range map[string]string{
		"foreign id":   foreign.ID,
		"unknown id":   "00000000-0000-4000-8000-000000000000",
		"malformed id": "not-an-id",
	} {
		require.ErrorIs(t, s.DeleteByIDForUser(ctx, "user-a", id), domain.ErrNotFound, name)
	}
	get(t, s, foreign.ID)
	get(t, s, mine.ID)

	require.NoError(t, s.DeleteByIDForUser(ctx, "user-a", mine.ID), "any role of the owner")
	requireGone(t, s, mine.ID)
	require.ErrorIs(t, s.DeleteByIDForUser(ctx, "user-a", mine.ID), domain.ErrNotFound, "already gone")
}

func deleteByIDAndEndpoint(t *testing.T, s ports.SubscriptionStore) {
	ctx := context.Background()
	t.Run("matching pair deletes", func(t *testing.T) {
		sub := upsert(t, s, NewSub(t, "user-a", domain.UserTypeClient, NewEndpoint()))
		require.NoError(t, s.Delete(ctx, sub.ID, sub.Endpoint))
		requireGone(t, s, sub.ID)
		require.NoError(t, s.Delete(ctx, sub.ID, sub.Endpoint), "missing is not an error")
	})
	t.Run("stale endpoint keeps the row", func(t *testing.T) {
		sub := upsert(t, s, NewSub(t, "user-a", domain.UserTypeClient, NewEndpoint()))
		require.NoError(t, s.Delete(ctx, sub.ID, "https://fcm.googleapis.com/fcm/send/old"))
		get(t, s, sub.ID)
	})
	t.Run("re-subscribed meanwhile keeps the new row", func(t *testing.T) {
		endpoint := NewEndpoint()
		old := upsert(t, s, NewSub(t, "user-a", domain.UserTypeClient, endpoint))
		require.NoError(t, s.DeleteForUser(ctx, "user-a", endpoint))
		fresh := upsert(t, s, NewSub(t, "user-a", domain.UserTypeClient, endpoint))
		require.NotEqual(t, old.ID, fresh.ID)
		// A delivery job that still holds the old id answers 410 late.
		require.NoError(t, s.Delete(ctx, old.ID, endpoint))
		get(t, s, fresh.ID)
	})
	t.Run("re-subscribed by another user on the same row", func(t *testing.T) {
		endpoint := NewEndpoint()
		sub := upsert(t, s, NewSub(t, "user-a", domain.UserTypeClient, endpoint))
		moved := NewSub(t, "user-b", domain.UserTypeClient, endpoint)
		moved.P256dh, moved.Auth = sub.P256dh, sub.Auth
		require.Equal(t, sub.ID, upsert(t, s, moved).ID)
		require.NoError(t, s.Delete(ctx, sub.ID, "https://fcm.googleapis.com/fcm/send/other"))
		get(t, s, sub.ID)
	})
}

func recordResult(t *testing.T, s ports.SubscriptionStore) {
	ctx := context.Background()
	sub := upsert(t, s, NewSub(t, "user-a", domain.UserTypeClient, NewEndpoint()))

	require.NoError(t, s.RecordResult(ctx, sub.ID, false, time.Now()))
	require.NoError(t, s.RecordResult(ctx, sub.ID, false, time.Now()))
	got := get(t, s, sub.ID)
	require.Equal(t, 2, got.FailureCount)
	require.Nil(t, got.LastSuccessAt)

	at := time.Now().Add(-time.Minute).Truncate(time.Microsecond) // PostgreSQL's precision
	require.NoError(t, s.RecordResult(ctx, sub.ID, true, at))
	got = get(t, s, sub.ID)
	require.Zero(t, got.FailureCount)
	require.NotNil(t, got.LastSuccessAt)
	require.True(t, at.Equal(*got.LastSuccessAt), "last success %v, want %v", got.LastSuccessAt, at)

	// Another failure counts from zero and keeps the last success.
	require.NoError(t, s.RecordResult(ctx, sub.ID, false, time.Now()))
	got = get(t, s, sub.ID)
	require.Equal(t, 1, got.FailureCount)
	require.NotNil(t, got.LastSuccessAt)
	require.True(t, at.Equal(*got.LastSuccessAt))

	// An unknown id is not an error (the row may have been deleted meanwhile).
	require.NoError(t, s.RecordResult(ctx, "00000000-0000-0000-0000-000000000000", true, time.Now()))
}

// deleteFailing removes only subscriptions that failed often enough and
// have not succeeded (or been created) since the cut-off.
func deleteFailing(t *testing.T, s ports.SubscriptionStore) {
	ctx := context.Background()
	fail := func(sub domain.Subscription, n int) {
		for range n {
			require.NoError(t, s.RecordResult(ctx, sub.ID, false, time.Now()))
		}
	}
	now := time.Now()
	stale := upsert(t, s, NewSub(t, "user-a", domain.UserTypeClient, NewEndpoint()))
	fail(stale, 5)
	succeededLongAgo := upsert(t, s, NewSub(t, "user-a", domain.UserTypeClient, NewEndpoint()))
	require.NoError(t, s.RecordResult(ctx, succeededLongAgo.ID, true, now.Add(-48*time.Hour)))
	fail(succeededLongAgo, 3)
	fewFailures := upsert(t, s, NewSub(t, "user-a", domain.UserTypeClient, NewEndpoint()))
	fail(fewFailures, 2)
	recentSuccess := upsert(t, s, NewSub(t, "user-b", domain.UserTypeClient, NewEndpoint()))
	require.NoError(t, s.RecordResult(ctx, recentSuccess.ID, true, now.Add(2*time.Hour)))
	fail(recentSuccess, 5)
	healthy := upsert(t, s, NewSub(t, "user-b", domain.UserTypeClient, NewEndpoint()))

	// Created after this cut-off, so only a last success before it counts.
	n, err := s.DeleteFailing(ctx, now.Add(-time.Hour), 3)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	requireGone(t, s, succeededLongAgo.ID)
	get(t, s, stale.ID)

	n, err = s.DeleteFailing(ctx, now.Add(time.Hour), 3)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	requireGone(t, s, stale.ID)
	for _, kept := range []domain.Subscription{fewFailures, recentSuccess, healthy} {
		get(t, s, kept.ID)
	}
}
