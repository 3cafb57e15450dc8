package postgres_test

import (
	"testing"

	"github.com/evpower/evpush/ports"
	"github.com/evpower/evpush/test/storecontract"
)

// TestSubscriptionStoreContract runs the port's suite on PostgreSQL, the
// same suite the app's in-memory store passes.
func TestSubscriptionStoreContract(t *testing.T) {
	t.Parallel()
	storecontract.SubscriptionStore(t, func(t *testing.T) ports.SubscriptionStore {
		return setup(t).store // settled: its current key is storecontract.KeyID
	})
}
