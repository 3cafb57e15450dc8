package app_test

// The fakes of the ports the app's unit tests run on. The subscription
// store is memStore (memstore_test.go), held to the real store's rules by
// the contract suite; fakeStore only records calls and scripts errors.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/ports"
	"github.com/evpower/evpush/test/storecontract"
)

var (
	_ ports.SubscriptionStore = (*fakeStore)(nil)
	_ ports.PushSender        = (*fakeSender)(nil)
	_ ports.Clock             = fakeClock{}
	_ ports.ChargingStore     = (*fakeCharging)(nil)
	_ ports.ChargingTx        = (*fakeChargingTx)(nil)
)

var testNow = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

type fakeClock struct{ now time.Time }

func (c fakeClock) Now() time.Time { return c.now }

type deleteForUserCall struct{ UserID, Endpoint string }

type deleteCall struct{ ID, Endpoint string }

type deleteFailingCall struct {
	Before      time.Time
	MinFailures int
}

type recordCall struct {
	ID      string
	Success bool
	At      time.Time
}

// fakeStore is the honest memStore with every call recorded and, where a
// test sets one, an error instead of the store's answer (a database that
// cannot be reached). It is safe for concurrent use.
type fakeStore struct {
	*memStore
	mu sync.Mutex

	upsertErr     error
	deleteUserErr error
	listErr       error
	deleteErr     error // Delete and DeleteFailing
	recordErr     error

	upserts        []domain.Subscription
	deleteForUsers []deleteForUserCall
	lists          []string
	deletes        []deleteCall
	deleteFailing  []deleteFailingCall
	records        []recordCall
	recipients     [][]domain.Recipient
}

// newFakeStore binds subscriptions to the keys of keyStore.
func newFakeStore(keyStore *fakeKeyStore) *fakeStore {
	return &fakeStore{memStore: newMemStore(keyStore.has)}
}

// note records a call under the lock and returns the scripted error.
func (s *fakeStore) note(record func(), err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	record()
	return err
}

func (s *fakeStore) Upsert(ctx context.Context, sub domain.Subscription, maxPerUser int) (domain.Subscription, bool, error) {
	if err := s.note(func() { s.upserts = append(s.upserts, sub) }, s.upsertErr); err != nil {
		return domain.Subscription{}, false, err
	}
	return s.memStore.Upsert(ctx, sub, maxPerUser)
}

func (s *fakeStore) DeleteForUser(ctx context.Context, userID, endpoint string) error {
	call := deleteForUserCall{UserID: userID, Endpoint: endpoint}
	if err := s.note(func() { s.deleteForUsers = append(s.deleteForUsers, call) }, s.deleteUserErr); err != nil {
		return err
	}
	return s.memStore.DeleteForUser(ctx, userID, endpoint)
}

func (s *fakeStore) ListByUser(ctx context.Context, userID string) ([]domain.Subscription, error) {
	if err := s.note(func() { s.lists = append(s.lists, userID) }, s.listErr); err != nil {
		return nil, err
	}
	return s.memStore.ListByUser(ctx, userID)
}

func (s *fakeStore) ListForRecipients(ctx context.Context, rs []domain.Recipient) ([]domain.Subscription, []domain.Recipient, error) {
	if err := s.note(func() { s.recipients = append(s.recipients, slices.Clone(rs)) }, s.listErr); err != nil {
		return nil, nil, err
	}
	return s.memStore.ListForRecipients(ctx, rs)
}

func (s *fakeStore) DeleteFailing(ctx context.Context, before time.Time, minFailures int) (int, error) {
	call := deleteFailingCall{Before: before, MinFailures: minFailures}
	if err := s.note(func() { s.deleteFailing = append(s.deleteFailing, call) }, s.deleteErr); err != nil {
		return 0, err
	}
	return s.memStore.DeleteFailing(ctx, before, minFailures)
}

func (s *fakeStore) Delete(ctx context.Context, id, endpoint string) error {
	call := deleteCall{ID: id, Endpoint: endpoint}
	if err := s.note(func() { s.deletes = append(s.deletes, call) }, s.deleteErr); err != nil {
		return err
	}
	return s.memStore.Delete(ctx, id, endpoint)
}

func (s *fakeStore) RecordResult(ctx context.Context, id string, success bool, at time.Time) error {
	call := recordCall{ID: id, Success: success, At: at}
	if err := s.note(func() { s.records = append(s.records, call) }, s.recordErr); err != nil {
		return err
	}
	return s.memStore.RecordResult(ctx, id, success, at)
}

func (s *fakeStore) calls() (upserts int, deleteForUsers int, deletes int, records int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.upserts), len(s.deleteForUsers), len(s.deletes), len(s.records)
}

type sendCall struct {
	Sub          domain.Subscription
	Notification domain.Notification
}

type sendAnswer struct {
	result domain.PushResult
	err    error
}

// fakeSender is a PushSender that answers per endpoint and records every
// call. It is safe for concurrent use. When barrier is > 0, each Send waits
// until that many sends are in flight at once (or the wait times out), which
// proves the caller sends concurrently.
type fakeSender struct {
	mu      sync.Mutex
	answers map[string]sendAnswer // by endpoint; missing means delivered
	sent    []sendCall

	barrier  int
	inFlight int
	reached  chan struct{}
	timedOut bool
}

func (f *fakeSender) Send(ctx context.Context, sub domain.Subscription, n domain.Notification) (domain.PushResult, error) {
	f.mu.Lock()
	f.sent = append(f.sent, sendCall{Sub: sub, Notification: n})
	a, ok := f.answers[sub.Endpoint]
	if !ok {
		a = sendAnswer{result: domain.PushResult{Outcome: domain.OutcomeDelivered, StatusCode: 201}}
	}
	var reached chan struct{}
	if f.barrier > 0 {
		f.inFlight++
		if f.inFlight == f.barrier {
			close(f.reached)
		}
		reached = f.reached
	}
	f.mu.Unlock()

	if reached != nil {
		select {
		case <-reached:
		case <-time.After(30 * time.Second):
			f.mu.Lock()
			f.timedOut = true
			f.mu.Unlock()
		case <-ctx.Done():
		}
	}
	return a.result, a.err
}

func (f *fakeSender) calls() []sendCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

// fakeCharging is a ChargingStore with an in-memory "database" of stations,
// sessions and enqueued events. InTx hands fn a fakeChargingTx whose writes
// are buffered and applied only when fn returns nil, so a failing fn rolls
// back everything it wrote. Every call is recorded with the number of the
// transaction it ran in (0: outside any transaction).
type fakeCharging struct {
	mu sync.Mutex

	// The committed state.
	stations map[string]domain.Station
	sessions map[string]domain.ChargingSession
	events   []domain.ChargingEvent

	// startedAt is the StartedAt CreateSession assigns.
	startedAt time.Time
	// Errors to fail each step with; nil means the step works.
	stationErr  error // Station, inside and outside transactions
	createErr   error
	lockErr     error
	completeErr error
	enqueueErr  error

	txs       int // transactions begun
	rollbacks int
	nextID    int
	calls     []chargingCall
}

type chargingCall struct {
	Tx  int // 0: outside InTx
	Op  string
	Arg any
}

func newFakeCharging() *fakeCharging {
	return &fakeCharging{
		stations:  map[string]domain.Station{},
		sessions:  map[string]domain.ChargingSession{},
		startedAt: testNow.Add(-30 * time.Minute),
	}
}

func (f *fakeCharging) record(tx int, op string, arg any) {
	f.calls = append(f.calls, chargingCall{Tx: tx, Op: op, Arg: arg})
}

func (f *fakeCharging) station(tx int, id string) (domain.Station, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(tx, "Station", id)
	if f.stationErr != nil {
		return domain.Station{}, f.stationErr
	}
	st, ok := f.stations[id]
	if !ok {
		return domain.Station{}, domain.ErrNotFound
	}
	return st, nil
}

func (f *fakeCharging) InTx(_ context.Context, fn func(tx ports.ChargingTx) error) error {
	f.mu.Lock()
	f.txs++
	tx := &fakeChargingTx{f: f, n: f.txs, sessions: maps.Clone(f.sessions)}
	f.mu.Unlock()

	err := fn(tx)

	f.mu.Lock()
	defer f.mu.Unlock()
	tx.done = true
	if err != nil {
		f.rollbacks++
		return err
	}
	f.sessions = tx.sessions
	f.events = append(f.events, tx.events...)
	return nil
}

// TestFakeChargingContract: the app's charging tests run on a fake that
// behaves like the postgres store.
func TestFakeChargingContract(t *testing.T) {
	t.Parallel()
	storecontract.ChargingStore(t, func(*testing.T) storecontract.Charging {
		f := newFakeCharging()
		return storecontract.Charging{
			Store: f,
			AddStation: func(_ *testing.T, st domain.Station) {
				f.mu.Lock()
				defer f.mu.Unlock()
				f.stations[st.ID] = st
			},
			Enqueued: func(*testing.T) []domain.ChargingEvent {
				_, events := f.committed()
				return events
			},
		}
	})
}

// committed returns the committed sessions and events.
func (f *fakeCharging) committed() (map[string]domain.ChargingSession, []domain.ChargingEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.sessions), slices.Clone(f.events)
}

// ops returns the recorded calls.
func (f *fakeCharging) ops() []chargingCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// fakeChargingTx is one transaction of fakeCharging: it works on a copy of
// the sessions and buffers events until the transaction commits.
type fakeChargingTx struct {
	f        *fakeCharging
	n        int
	sessions map[string]domain.ChargingSession
	events   []domain.ChargingEvent
	done     bool
}

var errTxDone = errors.New("fake: transaction already finished")

func (t *fakeChargingTx) Station(_ context.Context, id string) (domain.Station, error) {
	if t.finished() {
		return domain.Station{}, errTxDone
	}
	return t.f.station(t.n, id)
}

func (t *fakeChargingTx) finished() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	return t.done
}

func (t *fakeChargingTx) CreateSession(_ context.Context, s domain.ChargingSession) (domain.ChargingSession, error) {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	if t.done {
		return domain.ChargingSession{}, errTxDone
	}
	t.f.record(t.n, "CreateSession", s)
	if t.f.createErr != nil {
		return domain.ChargingSession{}, t.f.createErr
	}
	for _, o := range t.sessions {
		if o.StationID == s.StationID && o.ConnectorID == s.ConnectorID && o.Status == domain.SessionActive {
			return domain.ChargingSession{}, domain.ErrConflict
		}
	}
	t.f.nextID++
	s.ID = fmt.Sprintf("sess-%d", t.f.nextID)
	s.StartedAt = t.f.startedAt
	t.sessions[s.ID] = s
	return s, nil
}

func (t *fakeChargingTx) LockSession(_ context.Context, id string) (domain.ChargingSession, error) {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	if t.done {
		return domain.ChargingSession{}, errTxDone
	}
	t.f.record(t.n, "LockSession", id)
	if t.f.lockErr != nil {
		return domain.ChargingSession{}, t.f.lockErr
	}
	s, ok := t.sessions[id]
	if !ok {
		return domain.ChargingSession{}, domain.ErrNotFound
	}
	return s, nil
}

func (t *fakeChargingTx) CompleteSession(_ context.Context, s domain.ChargingSession) error {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	if t.done {
		return errTxDone
	}
	t.f.record(t.n, "CompleteSession", s)
	if t.f.completeErr != nil {
		return t.f.completeErr
	}
	if _, ok := t.sessions[s.ID]; !ok {
		return domain.ErrNotFound
	}
	t.sessions[s.ID] = s
	return nil
}

func (t *fakeChargingTx) Enqueue(_ context.Context, ev domain.ChargingEvent) error {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	if t.done {
		return errTxDone
	}
	t.f.record(t.n, "Enqueue", ev)
	if t.f.enqueueErr != nil {
		return t.f.enqueueErr
	}
	t.events = append(t.events, ev)
	return nil
}

// fakeMetrics records the events counted for a missing owner and the pushes
// observed.
type fakeMetrics struct {
	ports.NopMetrics
	mu      sync.Mutex
	kinds   []domain.EventKind
	skipped []domain.Pref
	pushes  []pushObservation
}

// pushObservation is one ObservePush call, without its round trip.
type pushObservation struct {
	Service domain.PushService
	Outcome domain.Outcome
}

var _ ports.Metrics = (*fakeMetrics)(nil)

func (m *fakeMetrics) ObservePush(service domain.PushService, outcome domain.Outcome, _ time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pushes = append(m.pushes, pushObservation{Service: service, Outcome: outcome})
}

func (m *fakeMetrics) observedPushes() []pushObservation {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pushes
}

func (m *fakeMetrics) CountEventWithoutOwner(kind domain.EventKind) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.kinds = append(m.kinds, kind)
}

func (m *fakeMetrics) CountSkippedByPreference(pref domain.Pref) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.skipped = append(m.skipped, pref)
}

func (m *fakeMetrics) skippedByPreference() []domain.Pref {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.skipped
}

func (m *fakeMetrics) noOwner() []domain.EventKind {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.kinds
}
