// Package test holds the tests that span the whole tree; end-to-end tests
// live in test/e2e, their loopback push service in test/pushservice.
package test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCoreImportsNoFramework keeps the hexagon honest: the core (domain,
// ports, app) must not depend, even indirectly, on an adapter's library.
func TestCoreImportsNoFramework(t *testing.T) {
	t.Parallel()
	forbidden := []string{
		"github.com/gin-gonic/", "gorm.io/", "github.com/riverqueue/", "riverqueue.com/",
		"github.com/SherClockHolmes/webpush-go", "github.com/golang-jwt/", "github.com/jackc/",
		"github.com/evpower/evpush/adapters", "github.com/evpower/evpush/cmd",
	}
	for _, layer := range []string{"domain", "ports", "app"} {
		out, err := exec.Command("go", "list", "-deps", "github.com/evpower/evpush/"+layer+"/...").CombinedOutput()
		require.NoError(t, err, "%s", out)
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				require.False(t, strings.HasPrefix(dep, f), "%s depends on %s", layer, dep)
			}
		}
	}
	// domain is the innermost ring: standard library only.
	out, err := exec.Command("go", "list", "-deps", "github.com/evpower/evpush/domain").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, dep := range strings.Fields(string(out)) {
		first := strings.SplitN(dep, "/", 2)[0]
		require.True(t, dep == "github.com/evpower/evpush/domain" || !strings.Contains(first, "."),
			"domain depends on non-stdlib %s", dep)
	}
}
