package app_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/ports"
	"github.com/evpower/evpush/test/storecontract"
)

var _ ports.SubscriptionStore = (*memStore)(nil)

// memStore is a SubscriptionStore in memory that keeps the rules of the
// postgres store (TestMemStoreContract runs the same suite on both): the
// endpoint takeover rule, the per-user cap, the binding to a known VAPID
// key. It is safe for concurrent use.
type memStore struct {
	mu   sync.Mutex
	rows []memRow // in insertion order
	seq  int      // the last ID and write order handed out
	// hasKey says whether a VAPID key exists: the foreign key of
	// push_subscriptions.vapid_key_id.
	hasKey func(id int) bool
	// prefs are notification_preferences: what each user set per role.
	prefs map[memPrefKey]bool
}

// memPrefKey is notification_preferences' primary key.
type memPrefKey struct {
	userID string
	role   domain.UserType
	pref   domain.Pref
}

// memRow is one subscription and when it was last written by Upsert, the
// order the cap replaces devices in (updated_at in PostgreSQL, whose clock
// may not tick between two statements).
type memRow struct {
	sub     domain.Subscription
	written int
}

func newMemStore(hasKey func(id int) bool) *memStore {
	return &memStore{hasKey: hasKey, prefs: map[memPrefKey]bool{}}
}

// TestMemStoreContract: the app's tests run on a store that behaves like the
// real one.
func TestMemStoreContract(t *testing.T) {
	t.Parallel()
	storecontract.SubscriptionStore(t, func(*testing.T) ports.SubscriptionStore {
		return newMemStore(func(id int) bool { return id == storecontract.KeyID })
	})
}

// seed stores subs as they are, IDs included, the way a test inserts rows.
func (m *memStore) seed(subs []domain.Subscription) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range subs {
		m.seq++
		m.rows = append(m.rows, memRow{sub: s, written: m.seq})
	}
}

// clone is s with byte slices of its own, as a database hands out.
func clone(s domain.Subscription) domain.Subscription {
	s.P256dh, s.Auth = bytes.Clone(s.P256dh), bytes.Clone(s.Auth)
	if s.LastSuccessAt != nil {
		at := *s.LastSuccessAt
		s.LastSuccessAt = &at
	}
	return s
}

func (m *memStore) index(match func(domain.Subscription) bool) int {
	return slices.IndexFunc(m.rows, func(r memRow) bool { return match(r.sub) })
}

func (m *memStore) Upsert(_ context.Context, s domain.Subscription, maxPerUser int) (domain.Subscription, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	i := m.index(func(o domain.Subscription) bool { return o.Endpoint == s.Endpoint })
	if i >= 0 {
		o := m.rows[i].sub
		sameHolder := o.UserID == s.UserID && o.UserType == s.UserType
		sameKeys := bytes.Equal(o.P256dh, s.P256dh) && bytes.Equal(o.Auth, s.Auth)
		if !sameHolder && !sameKeys {
			return domain.Subscription{}, false, domain.ErrEndpointTaken
		}
	}
	if !m.hasKey(s.VAPIDKeyID) {
		return domain.Subscription{}, false, domain.Invalid(domain.FieldApplicationServerKey, "is no longer a key of this service")
	}
	m.trim(s.UserID, s.Endpoint, maxPerUser)
	m.seq++
	s.UpdatedAt, s.FailureCount = now, 0
	created := i < 0
	if created {
		s.ID = fmt.Sprintf("00000000-0000-0000-0000-%012d", m.seq)
		s.CreatedAt, s.LastSuccessAt = now, nil
		m.rows = append(m.rows, memRow{sub: clone(s), written: m.seq})
		return s, true, nil
	}
	i = m.index(func(o domain.Subscription) bool { return o.Endpoint == s.Endpoint }) // trim may have moved it
	o := m.rows[i].sub
	s.ID, s.CreatedAt, s.LastSuccessAt = o.ID, o.CreatedAt, o.LastSuccessAt
	m.rows[i] = memRow{sub: clone(s), written: m.seq}
	return clone(s), false, nil
}

// trim deletes the user's devices other than endpoint past maxPerUser-1,
// least recently written first.
func (m *memStore) trim(userID, endpoint string, maxPerUser int) {
	if maxPerUser <= 0 {
		return
	}
	var others []memRow
	for _, r := range m.rows {
		if r.sub.UserID == userID && r.sub.Endpoint != endpoint {
			others = append(others, r)
		}
	}
	slices.SortFunc(others, func(a, b memRow) int { return cmp.Compare(b.written, a.written) })
	for _, r := range others[min(maxPerUser-1, len(others)):] {
		m.rows = slices.DeleteFunc(m.rows, func(o memRow) bool { return o.sub.ID == r.sub.ID })
	}
}

func (m *memStore) DeleteForUser(_ context.Context, userID, endpoint string) error {
	return m.deleteOne(func(s domain.Subscription) bool { return s.UserID == userID && s.Endpoint == endpoint })
}

func (m *memStore) DeleteByIDForUser(_ context.Context, userID, id string) error {
	return m.deleteOne(func(s domain.Subscription) bool { return s.UserID == userID && s.ID == id })
}

// deleteOne deletes the subscription match picks, or answers ErrNotFound.
func (m *memStore) deleteOne(match func(domain.Subscription) bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := m.index(match)
	if i < 0 {
		return domain.ErrNotFound
	}
	m.rows = slices.Delete(m.rows, i, i+1)
	return nil
}

// list returns the subscriptions match keeps, oldest first.
func (m *memStore) list(match func(domain.Subscription) bool) []domain.Subscription {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []domain.Subscription
	for _, r := range m.rows {
		if match(r.sub) {
			out = append(out, clone(r.sub))
		}
	}
	slices.SortStableFunc(out, func(a, b domain.Subscription) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out
}

func (m *memStore) ListByUser(_ context.Context, userID string) ([]domain.Subscription, error) {
	return m.list(func(s domain.Subscription) bool { return s.UserID == userID }), nil
}

func (m *memStore) ListForRecipients(_ context.Context, rs []domain.Recipient) ([]domain.Subscription, []domain.Recipient, error) {
	all := m.list(func(s domain.Subscription) bool {
		return slices.ContainsFunc(rs, func(r domain.Recipient) bool { return r.UserID == s.UserID && r.UserType == s.UserType })
	})
	m.mu.Lock()
	defer m.mu.Unlock()
	var subs []domain.Subscription
	var skipped []domain.Recipient
	for _, s := range all {
		i := slices.IndexFunc(rs, func(r domain.Recipient) bool {
			on, set := m.prefs[memPrefKey{s.UserID, s.UserType, r.Pref}]
			return r.UserID == s.UserID && r.UserType == s.UserType && set && !on
		})
		if i >= 0 {
			skipped = append(skipped, rs[i])
			continue
		}
		subs = append(subs, s)
	}
	return subs, skipped, nil
}

func (m *memStore) Preferences(_ context.Context, userID string, role domain.UserType) ([]domain.PrefSetting, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []domain.PrefSetting
	for k, on := range m.prefs {
		if k.userID == userID && k.role == role {
			out = append(out, domain.PrefSetting{Pref: k.pref, Enabled: on})
		}
	}
	return out, nil
}

func (m *memStore) SetPreferences(_ context.Context, userID string, role domain.UserType, set []domain.PrefSetting) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, st := range set {
		m.prefs[memPrefKey{userID, role, st.Pref}] = st.Enabled
	}
	return nil
}

func (m *memStore) Get(_ context.Context, id string) (domain.Subscription, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := m.index(func(s domain.Subscription) bool { return s.ID == id })
	if i < 0 {
		return domain.Subscription{}, domain.ErrNotFound
	}
	return clone(m.rows[i].sub), nil
}

func (m *memStore) Delete(_ context.Context, id, endpoint string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows = slices.DeleteFunc(m.rows, func(r memRow) bool { return r.sub.ID == id && r.sub.Endpoint == endpoint })
	return nil
}

func (m *memStore) RecordResult(_ context.Context, id string, success bool, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := m.index(func(s domain.Subscription) bool { return s.ID == id })
	if i < 0 {
		return nil // deleted meanwhile
	}
	s := &m.rows[i].sub
	if success {
		s.FailureCount, s.LastSuccessAt = 0, &at
	} else {
		s.FailureCount++
	}
	return nil
}

func (m *memStore) DeleteFailing(_ context.Context, before time.Time, minFailures int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.rows)
	m.rows = slices.DeleteFunc(m.rows, func(r memRow) bool {
		since := r.sub.CreatedAt
		if r.sub.LastSuccessAt != nil {
			since = *r.sub.LastSuccessAt
		}
		return r.sub.FailureCount >= minFailures && since.Before(before)
	})
	return n - len(m.rows), nil
}
