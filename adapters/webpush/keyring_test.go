package webpush_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/domain"
)

// oneKey is a keyring holding keys as key 0, the key ID of the tests'
// subscriptions.
func oneKey(tb testing.TB, keys domain.VAPIDKeys) *domain.Keyring {
	tb.Helper()
	ring, err := domain.NewKeyring([]domain.VAPIDKey{{VAPIDKeys: keys, State: domain.VAPIDKeyCurrent}}, domain.VAPIDKeys{})
	require.NoError(tb, err)
	return ring
}
