package e2e

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

// notExercised are documented answers the suite cannot provoke on purpose
// (none today; 500s are exempt below).
var notExercised = map[string]bool{}

// TestMain runs the suite, then (on a full run) fails if some documented
// route and status was never seen and validated against the OpenAPI document.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && contractV != nil && flag.Lookup("test.run").Value.String() == "" && !testing.Short() {
		covered := contractV.Covered()
		var missing []string
		for _, k := range contractV.Documented() {
			if !covered[k] && !notExercised[k] && !strings.HasSuffix(k, " 500") {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "OpenAPI: documented but never exercised by the e2e suite:\n  %s\n", strings.Join(missing, "\n  "))
			code = 1
		}
	}
	os.Exit(code)
}
