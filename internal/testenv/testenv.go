// Package testenv is for tests that need something from outside the test
// process (a PostgreSQL server, the offline test bed), named by environment
// variables. Without it a test skips on a developer's machine, and fails
// under CI=true, where a skip would hide that nothing was tested.
package testenv

import (
	"os"
	"strings"
	"testing"
)

// Require returns the values of vars, in order. When any is unset or empty
// it skips the test, or fails it under CI=true, with a message naming the
// missing variables followed by hint (what to do to provide them).
func Require(t testing.TB, hint string, vars ...string) []string {
	t.Helper()
	vals := make([]string, len(vars))
	var missing []string
	for i, v := range vars {
		vals[i] = os.Getenv(v)
		if vals[i] == "" {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		verb := " is not set"
		if len(missing) > 1 {
			verb = " are not set"
		}
		Unavailable(t, strings.Join(missing, ", ")+verb+"; "+hint)
	}
	return vals
}

// Unavailable skips the test with reason, or fails it under CI=true.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(reason + " (required when CI=true)")
	}
	t.Skip(reason)
}
