package app_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/app"
	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/ports"
)

var _ ports.VAPIDKeyStore = (*fakeKeyStore)(nil)

// fakeKeyStore is a VAPIDKeyStore in memory: keys by ID and the
// subscriptions each holds. It is safe for concurrent use.
type fakeKeyStore struct {
	mu      sync.Mutex
	keys    []domain.VAPIDKey
	holds   map[int]int
	loads   int
	loadErr error

	retireBefore []time.Time
}

// newFakeKeyStore holds one current key, ID 1.
func newFakeKeyStore(tb testing.TB) *fakeKeyStore {
	tb.Helper()
	return &fakeKeyStore{keys: []domain.VAPIDKey{{ID: 1, VAPIDKeys: newPair(tb), State: domain.VAPIDKeyCurrent}}, holds: map[int]int{}}
}

func newPair(tb testing.TB) domain.VAPIDKeys {
	tb.Helper()
	k, err := domain.GenerateVAPIDKeys()
	require.NoError(tb, err)
	return k
}

// add stores a key and returns it.
func (s *fakeKeyStore) add(k domain.VAPIDKey) domain.VAPIDKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	k.ID = s.keys[len(s.keys)-1].ID + 1
	if k.State == domain.VAPIDKeyCurrent {
		for i := range s.keys {
			if s.keys[i].State == domain.VAPIDKeyCurrent {
				s.keys[i].State, s.keys[i].RetiringSince = domain.VAPIDKeyRetiring, testNow
			}
		}
	}
	s.keys = append(s.keys, k)
	return k
}

// has reports whether key id is stored, for the subscription store's
// binding.
func (s *fakeKeyStore) has(id int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.keys, func(k domain.VAPIDKey) bool { return k.ID == id })
}

func (s *fakeKeyStore) Settle(context.Context, domain.VAPIDKeys, domain.VAPIDKeys) error { return nil }

func (s *fakeKeyStore) Keys(context.Context) ([]domain.VAPIDKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	return slices.Clone(s.keys), s.loadErr
}

func (s *fakeKeyStore) Rotate(_ context.Context, next domain.VAPIDKeys, revoke bool) (domain.Rotation, error) {
	var old domain.VAPIDKey
	for _, k := range s.keys {
		if k.State == domain.VAPIDKeyCurrent {
			old = k
		}
	}
	cur := s.add(domain.VAPIDKey{VAPIDKeys: next, State: domain.VAPIDKeyCurrent})
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.keys {
		if s.keys[i].ID == old.ID {
			if revoke {
				s.keys[i].RevokedAt = testNow
			}
			old = s.keys[i]
		}
	}
	return domain.Rotation{Retired: old, Current: cur}, nil
}

func (s *fakeKeyStore) KeyUsage(context.Context) ([]domain.KeyUsage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]domain.KeyUsage, len(s.keys))
	for i, k := range s.keys {
		k.PrivateKey = ""
		out[i] = domain.KeyUsage{Key: k, Subscriptions: s.holds[k.ID]}
	}
	return out, nil
}

func (s *fakeKeyStore) DeleteRetired(_ context.Context, before time.Time) ([]domain.RetiredKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retireBefore = append(s.retireBefore, before)
	var out []domain.RetiredKey
	s.keys = slices.DeleteFunc(s.keys, func(k domain.VAPIDKey) bool {
		if k.State != domain.VAPIDKeyRetiring || (s.holds[k.ID] > 0 && !k.RetiringSince.Before(before)) {
			return false
		}
		out = append(out, domain.RetiredKey{Key: k, Subscriptions: s.holds[k.ID]})
		return true
	})
	return out, nil
}

// loadedKeys is an app keyring over store, loaded.
func loadedKeys(tb testing.TB, store *fakeKeyStore, configured domain.VAPIDKeys) *app.Keys {
	tb.Helper()
	k := app.NewKeys(store, configured, fakeClock{now: testNow}, nil)
	require.NoError(tb, k.Load(context.Background()))
	return k
}
