package app_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/adapters/messages"
	"github.com/evpower/evpush/app"
	"github.com/evpower/evpush/domain"
)

// deps are the fakes behind one Service under test.
type deps struct {
	store         *fakeStore
	keyStore      *fakeKeyStore
	keys          *app.Keys
	sender        *fakeSender
	charging      *fakeCharging
	metrics       *fakeMetrics
	policy        domain.EndpointPolicy
	defaultLocale string // the catalogue's fallback language; "" leaves the domain default
}

func newDeps(tb testing.TB) *deps {
	tb.Helper()
	keyStore := newFakeKeyStore(tb)
	return &deps{
		store:    newFakeStore(keyStore),
		keyStore: keyStore,
		keys:     loadedKeys(tb, keyStore, domain.VAPIDKeys{}),
		sender:   &fakeSender{answers: map[string]sendAnswer{}},
		charging: newFakeCharging(),
		metrics:  &fakeMetrics{},
		policy:   domain.EndpointPolicy{AllowedHosts: domain.DefaultPushHosts},
	}
}

func (d *deps) service(tb testing.TB) *app.Service {
	tb.Helper()
	return app.New(app.Deps{
		Subscriptions: d.store,
		Charging:      d.charging,
		Sender:        d.sender,
		Clock:         fakeClock{now: testNow},
		Policy:        d.policy,
		Keys:          d.keys,
		Messages:      messagesIn(tb, d.defaultLocale),
		Metrics:       d.metrics,
		Logger:        slog.New(slog.DiscardHandler),
	})
}

// messagesIn renders with the embedded catalogue, falling back to locale
// ("" keeps Russian).
func messagesIn(tb testing.TB, locale string) domain.Messages {
	tb.Helper()
	m := messages.Default()
	if locale != "" {
		cat, err := m.Catalog.WithFallback(locale)
		require.NoError(tb, err)
		m.Catalog = cat
	}
	return m
}

func validSubscriptionInput(tb testing.TB) domain.SubscriptionInput {
	tb.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	require.NoError(tb, err)
	auth := make([]byte, 16)
	_, err = rand.Read(auth)
	require.NoError(tb, err)
	return domain.SubscriptionInput{
		UserType:  "client",
		Endpoint:  "https://fcm.googleapis.com/fcm/send/device-1",
		P256dh:    domain.EncodeBase64URL(k.PublicKey().Bytes()),
		Auth:      domain.EncodeBase64URL(auth),
		Locale:    "en-US",
		UserAgent: "Mozilla/5.0",
	}
}

func TestNew_Defaults(t *testing.T) {
	t.Parallel()

	d := newDeps(t)
	// No clock and no logger: New must fill them in rather than panic later.
	svc := app.New(app.Deps{Subscriptions: d.store, Sender: d.sender, Policy: d.policy, Keys: d.keys,
		Messages: messages.Default()})
	require.Equal(t, d.keyStore.keys[0].PublicKey, svc.PublicKey())

	d.store.seed([]domain.Subscription{{ID: "s1", UserID: "u1", Endpoint: "https://fcm.googleapis.com/fcm/send/1"}})
	report, err := svc.SendTest(t.Context(), domain.Principal{UserID: "u1"})
	require.NoError(t, err)
	require.Equal(t, 1, report.SentTo)
	require.Len(t, d.store.records, 1)
	require.WithinDuration(t, time.Now(), d.store.records[0].At, time.Minute)
}

func TestPublicKey(t *testing.T) {
	t.Parallel()

	d := newDeps(t)
	require.Equal(t, d.keyStore.keys[0].PublicKey, d.service(t).PublicKey())
}

func TestSubscribe(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		caller  domain.Principal
		again   bool // subscribed before: updated in place
		created bool
	}{
		{name: "created", caller: domain.Principal{UserID: "user-42"}, created: true},
		{name: "updated", caller: domain.Principal{UserID: "user-42"}, again: true, created: false},
		{name: "token role matches", caller: domain.Principal{UserID: "user-42", UserType: domain.UserTypeClient}, created: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			d := newDeps(t)
			in := validSubscriptionInput(t)
			in.UserID = "someone-else" // must be overridden by the caller's id
			svc := d.service(t)
			if tt.again {
				_, err := svc.Subscribe(t.Context(), tt.caller, in)
				require.NoError(t, err)
			}

			res, err := svc.Subscribe(t.Context(), tt.caller, in)
			require.NoError(t, err)
			require.Equal(t, tt.created, res.Created)
			stored, err := d.store.ListByUser(t.Context(), "user-42")
			require.NoError(t, err)
			require.Len(t, stored, 1)
			require.Equal(t, stored[0].ID, res.SubscriptionID)

			got := d.store.upserts[len(d.store.upserts)-1]
			require.Equal(t, "user-42", got.UserID)
			require.Equal(t, domain.UserTypeClient, got.UserType)
			require.Equal(t, in.Endpoint, got.Endpoint)
			require.Len(t, got.P256dh, 65)
			require.Len(t, got.Auth, 16)
			require.Equal(t, "en-us", got.Locale)
			require.Equal(t, "Mozilla/5.0", got.UserAgent)
		})
	}
}

func TestSubscribe_EndpointTakenAnswersLikeANewSubscription(t *testing.T) {
	t.Parallel()

	d := newDeps(t)
	svc := d.service(t)
	_, err := svc.Subscribe(t.Context(), domain.Principal{UserID: "holder"}, validSubscriptionInput(t))
	require.NoError(t, err)
	in := validSubscriptionInput(t) // other keys
	in.Endpoint = "HTTPS://FCM.googleapis.com:443/fcm/send/device-1"
	caller := domain.Principal{UserID: "intruder"}

	res, err := svc.Subscribe(t.Context(), caller, in)
	require.NoError(t, err, "no hint that the endpoint exists")
	require.Equal(t, app.SubscribeResult{
		SubscriptionID: domain.DecoySubscriptionID(d.keys.Ring().DecoySecret(), "https://fcm.googleapis.com/fcm/send/device-1", "intruder", domain.UserTypeClient),
		Created:        true,
	}, res)
	held, err := d.store.ListByUser(t.Context(), "holder")
	require.NoError(t, err)
	require.Len(t, held, 1, "the device stays with its holder")
	require.NotEqual(t, held[0].ID, res.SubscriptionID)
	require.Len(t, d.store.upserts, 2)
}

func TestSubscribe_StoresTheCanonicalEndpoint(t *testing.T) {
	t.Parallel()

	d := newDeps(t)
	in := validSubscriptionInput(t)
	in.Endpoint = "HTTPS://FCM.GOOGLEAPIS.COM.:443/fcm/send/Device-1"
	_, err := d.service(t).Subscribe(t.Context(), domain.Principal{UserID: "u1"}, in)
	require.NoError(t, err)
	require.Len(t, d.store.upserts, 1)
	require.Equal(t, "https://fcm.googleapis.com/fcm/send/Device-1", d.store.upserts[0].Endpoint)
}

func TestSubscribe_Invalid(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		caller domain.Principal
		modify func(in *domain.SubscriptionInput)
		fields []string
	}{
		{
			name:   "bad p256dh",
			caller: domain.Principal{UserID: "u1"},
			modify: func(in *domain.SubscriptionInput) { in.P256dh = "short" },
			fields: []string{domain.FieldP256dh},
		},
		{
			name:   "endpoint not allowed",
			caller: domain.Principal{UserID: "u1"},
			modify: func(in *domain.SubscriptionInput) { in.Endpoint = "https://evil.example.com/x" },
			fields: []string{domain.FieldEndpoint},
		},
		{
			name:   "user type and auth",
			caller: domain.Principal{UserID: "u1"},
			modify: func(in *domain.SubscriptionInput) { in.UserType = "admin"; in.Auth = "" },
			fields: []string{domain.FieldUserType, domain.FieldAuth},
		},
		{
			// Validation comes before the role check: an invalid body is a
			// 422 even from a caller whose role would not match.
			name:   "invalid beats forbidden",
			caller: domain.Principal{UserID: "u1", UserType: domain.UserTypeClient},
			modify: func(in *domain.SubscriptionInput) { in.UserType = "owner"; in.Locale = "123" },
			fields: []string{domain.FieldLocale},
		},
		{
			name:   "caller without user id",
			caller: domain.Principal{},
			modify: func(*domain.SubscriptionInput) {},
			fields: []string{"sub"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			d := newDeps(t)
			in := validSubscriptionInput(t)
			tt.modify(&in)

			res, err := d.service(t).Subscribe(t.Context(), tt.caller, in)
			require.Zero(t, res)
			require.ErrorIs(t, err, domain.ErrInvalid)
			var verr *domain.ValidationError
			require.ErrorAs(t, err, &verr)
			fields := make([]string, 0, len(verr.Fields))
			for _, f := range verr.Fields {
				fields = append(fields, f.Field)
			}
			require.ElementsMatch(t, tt.fields, fields)
			require.Empty(t, d.store.upserts, "store must not be called")
		})
	}
}

func TestSubscribe_Forbidden(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		token    domain.UserType
		userType string
	}{
		{name: "client as owner", token: domain.UserTypeClient, userType: "owner"},
		{name: "owner as client", token: domain.UserTypeOwner, userType: "client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			d := newDeps(t)
			in := validSubscriptionInput(t)
			in.UserType = tt.userType

			res, err := d.service(t).Subscribe(t.Context(), domain.Principal{UserID: "u1", UserType: tt.token}, in)
			require.Zero(t, res)
			require.ErrorIs(t, err, domain.ErrForbidden)
			require.NotErrorIs(t, err, domain.ErrInvalid)
			require.Contains(t, err.Error(), tt.userType)
			require.Empty(t, d.store.upserts, "store must not be called")
		})
	}
}

func TestSubscribe_NoRoleClaimMayBeOwner(t *testing.T) {
	t.Parallel()

	d := newDeps(t)
	in := validSubscriptionInput(t)
	in.UserType = "owner"

	_, err := d.service(t).Subscribe(t.Context(), domain.Principal{UserID: "u1"}, in)
	require.NoError(t, err)
	require.Len(t, d.store.upserts, 1)
	require.Equal(t, domain.UserTypeOwner, d.store.upserts[0].UserType)
}

func TestSubscribe_StoreError(t *testing.T) {
	t.Parallel()

	d := newDeps(t)
	d.store.upsertErr = fmt.Errorf("dial tcp: connection refused: %w", domain.ErrUnavailable)

	res, err := d.service(t).Subscribe(t.Context(), domain.Principal{UserID: "u1"}, validSubscriptionInput(t))
	require.Zero(t, res)
	require.ErrorIs(t, err, domain.ErrUnavailable)
	require.ErrorIs(t, err, d.store.upsertErr)
	require.Contains(t, err.Error(), "error storing subscription")
	require.Len(t, d.store.upserts, 1)
}

func TestUnsubscribe(t *testing.T) {
	t.Parallel()

	const endpoint = "https://fcm.googleapis.com/fcm/send/device-1"
	tests := []struct {
		name        string
		storeErr    error
		wantRemoved bool
		wantErrIs   error
	}{
		{name: "removed", wantRemoved: true},
		{name: "not found", storeErr: domain.ErrNotFound, wantRemoved: false},
		{name: "wrapped not found", storeErr: fmt.Errorf("no row: %w", domain.ErrNotFound), wantRemoved: false},
		{name: "unavailable", storeErr: fmt.Errorf("db down: %w", domain.ErrUnavailable), wantErrIs: domain.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			d := newDeps(t)
			d.store.seed([]domain.Subscription{{ID: "s1", UserID: "user-7", Endpoint: endpoint}})
			d.store.deleteUserErr = tt.storeErr

			removed, err := d.service(t).Unsubscribe(t.Context(), domain.Principal{UserID: "user-7"}, endpoint)
			if tt.wantErrIs != nil {
				require.ErrorIs(t, err, tt.wantErrIs)
				require.Contains(t, err.Error(), "error deleting subscription")
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tt.wantRemoved, removed)
			require.Equal(t, []deleteForUserCall{{UserID: "user-7", Endpoint: endpoint}}, d.store.deleteForUsers)
		})
	}
}

func TestUnsubscribe_Canonical(t *testing.T) {
	t.Parallel()

	const (
		raw       = "HTTPS://FCM.GOOGLEAPIS.COM.:443/fcm/send/Device-1"
		canonical = "https://fcm.googleapis.com/fcm/send/Device-1"
	)
	t.Run("canonical form found", func(t *testing.T) {
		t.Parallel()
		d := newDeps(t)
		d.store.seed([]domain.Subscription{{ID: "s1", UserID: "user-7", Endpoint: canonical}})
		removed, err := d.service(t).Unsubscribe(t.Context(), domain.Principal{UserID: "user-7"}, raw)
		require.NoError(t, err)
		require.True(t, removed)
		require.Equal(t, []deleteForUserCall{{UserID: "user-7", Endpoint: canonical}}, d.store.deleteForUsers)
	})
	t.Run("raw form tried second, for rows stored before normalising", func(t *testing.T) {
		t.Parallel()
		d := newDeps(t) // holds neither form
		removed, err := d.service(t).Unsubscribe(t.Context(), domain.Principal{UserID: "user-7"}, raw)
		require.NoError(t, err)
		require.False(t, removed)
		require.Equal(t, []deleteForUserCall{{UserID: "user-7", Endpoint: canonical}, {UserID: "user-7", Endpoint: raw}}, d.store.deleteForUsers)
	})
}

func TestUnsubscribe_Invalid(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		endpoint string
	}{
		{name: "empty", endpoint: ""},
		{name: "too long", endpoint: "https://fcm.googleapis.com/" + strings.Repeat("a", domain.MaxEndpointLength)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			d := newDeps(t)
			removed, err := d.service(t).Unsubscribe(t.Context(), domain.Principal{UserID: "u1"}, tt.endpoint)
			require.False(t, removed)
			require.ErrorIs(t, err, domain.ErrInvalid)
			var verr *domain.ValidationError
			require.ErrorAs(t, err, &verr)
			require.Len(t, verr.Fields, 1)
			require.Equal(t, "endpoint", verr.Fields[0].Field)
			require.Empty(t, d.store.deleteForUsers, "store must not be called")
		})
	}
}

func TestSendTest_NoSubscriptions(t *testing.T) {
	t.Parallel()

	d := newDeps(t)
	report, err := d.service(t).SendTest(t.Context(), domain.Principal{UserID: "u1"})
	require.NoError(t, err)
	require.Equal(t, app.TestReport{}, report)
	require.Equal(t, []string{"u1"}, d.store.lists)
	require.Empty(t, d.sender.calls())
}

func TestSendTest_Outcomes(t *testing.T) {
	t.Parallel()

	const (
		okEP   = "https://fcm.googleapis.com/fcm/send/ok"
		goneEP = "https://updates.push.services.mozilla.com/wpush/v2/gone"
		tempEP = "https://web.push.apple.com/temp"
	)
	d := newDeps(t)
	d.store.seed([]domain.Subscription{
		{ID: "s-ok", UserID: "u1", Endpoint: okEP, Locale: "en"},
		{ID: "s-gone", UserID: "u1", Endpoint: goneEP, Locale: "ru"},
		{ID: "s-temp", UserID: "u1", Endpoint: tempEP},
	})
	d.sender.answers[goneEP] = sendAnswer{result: domain.PushResult{Outcome: domain.OutcomeGone, StatusCode: 410}}
	d.sender.answers[tempEP] = sendAnswer{
		result: domain.PushResult{Outcome: domain.OutcomeTransient, StatusCode: 503},
		err:    errors.New("push service unavailable"),
	}

	report, err := d.service(t).SendTest(t.Context(), domain.Principal{UserID: "u1"})
	require.NoError(t, err)
	require.Equal(t, app.TestReport{Found: 3, SentTo: 1, Failed: 2, Removed: 1}, report)
	require.Equal(t, []string{"u1"}, d.store.lists)

	require.Equal(t, []deleteCall{{ID: "s-gone", Endpoint: goneEP}}, d.store.deletes)
	require.ElementsMatch(t, []recordCall{
		{ID: "s-ok", Success: true, At: testNow},
		{ID: "s-temp", Success: false, At: testNow},
	}, d.store.records)

	calls := d.sender.calls()
	require.Len(t, calls, 3)
	byID := map[string]domain.Notification{}
	for _, c := range calls {
		byID[c.Sub.ID] = c.Notification
	}
	require.Equal(t, messages.Default().Test("en"), byID["s-ok"])
	require.Equal(t, messages.Default().Test("ru"), byID["s-gone"])
	require.Equal(t, messages.Default().Test(""), byID["s-temp"])
	require.Equal(t, "EvPower: test notification", byID["s-ok"].Title)
	require.Equal(t, "EvPower: тестовое уведомление", byID["s-gone"].Title)
	require.Equal(t, "EvPower: тестовое уведомление", byID["s-temp"].Title)
}

func TestSendTest_OtherOutcomes(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		answer  sendAnswer
		success bool
		sentTo  int
	}{
		{name: "rate limited", answer: sendAnswer{result: domain.PushResult{Outcome: domain.OutcomeRateLimited, StatusCode: 429, RetryAfter: time.Minute}}},
		{name: "rejected", answer: sendAnswer{result: domain.PushResult{Outcome: domain.OutcomeRejected, StatusCode: 400, Reason: "bad payload"}}},
		{name: "error only", answer: sendAnswer{err: errors.New("boom")}},
		{name: "delivered", answer: sendAnswer{result: domain.PushResult{Outcome: domain.OutcomeDelivered, StatusCode: 201}}, success: true, sentTo: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			const ep = "https://fcm.googleapis.com/fcm/send/x"
			d := newDeps(t)
			d.store.seed([]domain.Subscription{{ID: "s1", UserID: "u1", Endpoint: ep}})
			d.sender.answers[ep] = tt.answer

			report, err := d.service(t).SendTest(t.Context(), domain.Principal{UserID: "u1"})
			require.NoError(t, err)
			require.Equal(t, app.TestReport{Found: 1, SentTo: tt.sentTo, Failed: 1 - tt.sentTo}, report)
			require.Empty(t, d.store.deletes, "only 404/410 may delete a subscription")
			require.Equal(t, []recordCall{{ID: "s1", Success: tt.success, At: testNow}}, d.store.records)
		})
	}
}

func TestSendTest_BookkeepingErrorsDoNotChangeReport(t *testing.T) {
	t.Parallel()

	const goneEP = "https://fcm.googleapis.com/fcm/send/gone"
	d := newDeps(t)
	d.store.seed([]domain.Subscription{
		{ID: "s-ok", UserID: "u1", Endpoint: "https://fcm.googleapis.com/fcm/send/ok"},
		{ID: "s-gone", UserID: "u1", Endpoint: goneEP},
	})
	d.store.recordErr = errors.New("db down")
	d.store.deleteErr = errors.New("db down")
	d.sender.answers[goneEP] = sendAnswer{result: domain.PushResult{Outcome: domain.OutcomeGone, StatusCode: 404}}

	report, err := d.service(t).SendTest(t.Context(), domain.Principal{UserID: "u1"})
	require.NoError(t, err)
	require.Equal(t, app.TestReport{Found: 2, SentTo: 1, Failed: 1, Removed: 1}, report)
}

func TestSendTest_ListError(t *testing.T) {
	t.Parallel()

	d := newDeps(t)
	d.store.listErr = fmt.Errorf("db: %w", domain.ErrUnavailable)

	report, err := d.service(t).SendTest(t.Context(), domain.Principal{UserID: "u1"})
	require.Zero(t, report)
	require.ErrorIs(t, err, domain.ErrUnavailable)
	require.Contains(t, err.Error(), "error listing subscriptions")
	require.Empty(t, d.sender.calls())
	_, _, deletes, records := d.store.calls()
	require.Zero(t, deletes)
	require.Zero(t, records)
}

func TestSendTest_Concurrent(t *testing.T) {
	t.Parallel()

	const n = 5 // below the service's parallelism bound
	d := newDeps(t)
	for i := range n {
		d.store.seed([]domain.Subscription{{
			ID:       fmt.Sprintf("s%d", i),
			UserID:   "u1",
			Endpoint: fmt.Sprintf("https://fcm.googleapis.com/fcm/send/%d", i),
		}})
	}
	d.sender.barrier = n
	d.sender.reached = make(chan struct{})

	report, err := d.service(t).SendTest(t.Context(), domain.Principal{UserID: "u1"})
	require.NoError(t, err)
	require.False(t, d.sender.timedOut, "sends did not run concurrently")
	require.Equal(t, app.TestReport{Found: n, SentTo: n}, report)
	require.Len(t, d.sender.calls(), n)
	_, _, _, records := d.store.calls()
	require.Equal(t, n, records)
}

func TestSendTest_ManySubscriptions(t *testing.T) {
	t.Parallel()

	// More devices than the parallelism bound: every one is still sent to
	// exactly once and counted.
	const n = 50
	d := newDeps(t)
	for i := range n {
		ep := fmt.Sprintf("https://fcm.googleapis.com/fcm/send/%d", i)
		d.store.seed([]domain.Subscription{{ID: fmt.Sprintf("s%d", i), UserID: "u1", Endpoint: ep}})
		if i%2 == 1 {
			d.sender.answers[ep] = sendAnswer{result: domain.PushResult{Outcome: domain.OutcomeGone, StatusCode: 410}}
		}
	}

	report, err := d.service(t).SendTest(t.Context(), domain.Principal{UserID: "u1"})
	require.NoError(t, err)
	require.Equal(t, app.TestReport{Found: n, SentTo: n / 2, Failed: n / 2, Removed: n / 2}, report)

	seen := map[string]int{}
	for _, c := range d.sender.calls() {
		seen[c.Sub.ID]++
	}
	require.Len(t, seen, n)
	for id, count := range seen {
		require.Equal(t, 1, count, id)
	}
	_, _, deletes, records := d.store.calls()
	require.Equal(t, n/2, deletes)
	require.Equal(t, n/2, records)
}
