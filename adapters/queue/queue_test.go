package queue

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestClientIDIsPerProcess: River's id for this process's client names the
// host and the process, and a random part keeps two ids apart even where
// both of those agree (replicas with one host name, each its own pid 1).
func TestClientIDIsPerProcess(t *testing.T) {
	t.Parallel()
	a, b := clientID(), clientID()
	require.NotEqual(t, a, b)
	for _, id := range []string{a, b} {
		require.Contains(t, id, "_"+strconv.Itoa(os.Getpid())+"_")
		require.NotContains(t, id, ".", "underscores only, as River's own ids")
		require.LessOrEqual(t, len(id), 100, "River's limit")
	}
	host, err := os.Hostname()
	require.NoError(t, err)
	host = strings.ReplaceAll(host, ".", "_")
	require.True(t, strings.HasPrefix(a, host[:min(len(host), 60)]), a)
}
