package e2e

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The e2e package's wall time is most of a fresh machine's test run
// (docs/testbed.md), and `go test` prints no test's duration for a package
// that passed. So each test that uses the bed records how long it took,
// and TestMain writes the list, slowest first, to $GANTRY_E2E_TIMINGS if
// set (ci/test.sh prints it).
var timings struct {
	sync.Mutex
	began time.Time // when TestMain started
	took  map[string]span
}

// span is when a test started, after TestMain began, and how long it took.
type span struct{ at, took time.Duration }

// timed records when t started (call it after t.Parallel, which waits for
// a slot) and how long it took.
func timed(t *testing.T) {
	start := time.Now()
	t.Cleanup(func() {
		timings.Lock()
		defer timings.Unlock()
		if timings.took == nil {
			timings.took = map[string]span{}
		}
		timings.took[t.Name()] = span{at: start.Sub(timings.began), took: time.Since(start)}
	})
}

func TestMain(m *testing.M) {
	timings.began = time.Now()
	code := m.Run()
	if path := os.Getenv("GANTRY_E2E_TIMINGS"); path != "" {
		if err := os.WriteFile(path, []byte(timingTable(timings.took)), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "writing the e2e timings: %v\n", err)
		}
	}
	os.Exit(code)
}

// timingTable lists the tests slowest first, one per line: how long each
// took and when it started.
func timingTable(took map[string]span) string {
	names := make([]string, 0, len(took))
	for n := range took {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		if c := cmp.Compare(took[b].took, took[a].took); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%8.1fs  started at %7.1fs  %s\n", took[n].took.Seconds(), took[n].at.Seconds(), n)
	}
	return b.String()
}

func TestTimingTable(t *testing.T) {
	got := timingTable(map[string]span{"TestB": {3 * time.Second, 2 * time.Second}, "TestA": {0, 90 * time.Second},
		"TestC": {95 * time.Second, 2 * time.Second}})
	want := "    90.0s  started at     0.0s  TestA\n     2.0s  started at     3.0s  TestB\n     2.0s  started at    95.0s  TestC\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
