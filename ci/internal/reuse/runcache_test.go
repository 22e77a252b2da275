package reuse

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/ci/internal/options"
	"github.com/gantry-ci/gantry/ci/internal/runcache"
	"github.com/gantry-ci/gantry/ci/internal/runplan"
	"github.com/gantry-ci/gantry/ci/internal/summary"
)

// Issue 21: an entry that published nothing (a dry run's, or one written
// for the purpose) is never a publishing run's hit; a dry run may take it.
func TestPublishingRunNeedsRecordedRefs(t *testing.T) {
	c, err := runcache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const key = "k1"
	if err := c.Store(runcache.Entry{Key: key, Finished: time.Now(),
		Summary: summary.Summary{Image: "ghcr.io/acme/app"}}, nil); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		dryRun bool
		hit    bool
	}{
		{name: "a dry run", dryRun: true, hit: true},
		{name: "a publishing run", dryRun: false, hit: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := &options.Options{Registry: "ghcr.io", Image: "acme/app", Event: "push", Ref: "refs/heads/main", DryRun: tt.dryRun,
				ReportDir: t.TempDir()}
			var out strings.Builder
			_, hit := CachedRun(context.Background(), c, key, &runplan.Run{Opts: o}, &out)
			if hit != tt.hit {
				t.Errorf("hit = %v, want %v (%s)", hit, tt.hit, out.String())
			}
			if !tt.hit && !strings.Contains(out.String(), "published nothing") {
				t.Errorf("the miss is not explained: %q", out.String())
			}
		})
	}
}
